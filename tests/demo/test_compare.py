"""Pooling demo runs over seeds (app.demo.compare, ``prefmarket demo-compare``)."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from app.cli import app
from app.demo import compare


def _campaign(spent, win=None, half=0.1, n=64, labels=20, gold=0):
    final = None if win is None else {"win_rate": win, "ci_low": win - half, "ci_high": win + half, "n": n}
    return {"spent_cents": spent, "final": final, "training_labels": labels, "gold_labels": gold}


def _run(tmp_path, seed, campaigns, preset="cpu"):
    folder = tmp_path / f"seed{seed}"
    folder.mkdir()
    (folder / "summary.json").write_text(json.dumps({"settings": {"seed": seed, "preset": preset},
                                                     "campaigns": campaigns}))
    return folder


def test_pooling_weighs_runs_by_prompts_and_narrows_the_interval():
    se = 0.1 / compare.Z95
    a = compare.Final(0, 3000, 0.60, se, 64, 20, 50)
    b = compare.Final(1, 1000, 0.50, se, 64, 20, 50)
    p = compare.pool([a, b])
    assert p.win_rate == pytest.approx(0.55) and p.mean_spend_cents == 2000
    assert p.ci_high - p.win_rate == pytest.approx(0.1 / math.sqrt(2))  # two runs: sqrt(2) narrower
    assert p.cents_per_point == pytest.approx(2000 / 5)  # $20 mean spend over 5 points
    assert compare.pool([compare.Final(0, 1000, 0.7, se, 192, 1, 0), b]).win_rate == pytest.approx(0.65)  # 3:1


def test_a_run_that_never_evaluated_adds_spend_and_no_gain():
    never = compare.Final(2, 4000, None, 0.0, 0, 0, 80)
    p = compare.pool([compare.Final(0, 2000, 0.6, 0.05, 64, 20, 0), never])
    assert p.win_rate == pytest.approx(0.6) and p.mean_spend_cents == 3000
    assert compare.pool([never]).win_rate is None and compare.pool([never]).cents_per_point is None


@given(st.lists(st.tuples(st.floats(0.0, 1.0), st.floats(0.0, 0.2), st.integers(1, 600)), min_size=1, max_size=8))
def test_the_pooled_rate_lies_among_the_runs_and_inside_its_interval(runs):
    finals = [compare.Final(k, 1000, w, s, n, 1, 0) for k, (w, s, n) in enumerate(runs)]
    p = compare.pool(finals)
    assert min(w for w, _, _ in runs) - 1e-9 <= p.win_rate <= max(w for w, _, _ in runs) + 1e-9
    assert p.ci_low <= p.win_rate <= p.ci_high
    assert p.ci_high - p.win_rate <= compare.Z95 * max(s for _, s, _ in runs) + 1e-9  # never wider than the widest


def test_against_counts_seeds_where_gold_was_cheaper_per_point():
    gold = [compare.Final(0, 3000, 0.60, 0.05, 64, 10, 50), compare.Final(1, 3000, 0.55, 0.05, 64, 10, 50),
            compare.Final(2, 3000, 0.45, 0.05, 64, 10, 50)]
    none = [compare.Final(0, 1000, 0.49, 0.05, 64, 70, 0),  # no gain: any gain beats it
            compare.Final(1, 1000, 0.55, 0.05, 64, 70, 0),  # $2/pt against gold's $6/pt
            compare.Final(2, 1000, 0.45, 0.05, 64, 70, 0)]  # neither gained: no win for gold
    a = compare.against(gold, none)
    assert (a.seeds, a.cheaper_per_point) == (3, 1)
    assert a.mean_difference == pytest.approx((0.11 + 0 + 0) / 3)
    assert a.ci_low < a.mean_difference < a.ci_high
    with pytest.raises(compare.CompareError, match="no seed"):
        compare.against(gold, [compare.Final(9, 1000, 0.5, 0.05, 64, 70, 0)])


def test_the_command_writes_the_report_table_and_plot(tmp_path):
    runs = [_run(tmp_path, s, {"auction": _campaign(3500, 0.55 + 0.05 * s, gold=50),
                               "no_qc": _campaign(900, 0.50), "baseline": _campaign(900, None)}) for s in (0, 1)]
    out = tmp_path / "cmp"
    result = CliRunner().invoke(app, ["demo-compare", *map(str, runs), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "cheaper per point than without gold checks on 2 of 2 seeds" in " ".join(result.output.split())
    md = (out / "compare.md").read_text()
    assert "| auction with gold checks | 55.0%, $7.00/pt" in md and "**57.5%**" in md
    assert (out / "compare.png").stat().st_size > 10_000
    saved = json.loads((out / "compare.json").read_text())
    assert saved["pooled"]["auction"]["win_rate"] == pytest.approx(0.575)
    assert saved["pooled"]["baseline"]["win_rate"] is None


@pytest.mark.parametrize("case, message", [
    ("missing", "no summary.json"),
    ("twice", "seed 0 appears twice"),
    ("presets", "different sizes"),
    ("broken", "not a readable demo summary"),
])
def test_the_command_says_what_to_fix_and_writes_nothing(tmp_path, case, message):
    one = _run(tmp_path, 0, {"auction": _campaign(100, 0.6)})
    other = {"missing": tmp_path / "not-a-run",
             "twice": one,
             "presets": _run(tmp_path, 1, {"auction": _campaign(100, 0.6)}, preset="quick"),
             "broken": tmp_path / "broken"}[case]
    if case == "broken":
        other.mkdir()
        (other / "summary.json").write_text("{not json")
    out = tmp_path / "cmp"
    result = CliRunner().invoke(app, ["demo-compare", str(one), str(other), "--out", str(out)])
    assert result.exit_code == 1
    assert message in " ".join(result.output.split()) and "Traceback" not in result.output
    assert not out.exists()

"""``prefmarket demo --quick --model tiny`` end to end: server, workers and bots as real processes.

One test runs the demo straight through with ``--twin`` (the vetting phase, the auction
carrying its records, the auction without gold checks, the posted-price baseline at the
bots' median cost, then the coin-flip control and the paired evaluation) and audits the run
folder; the other runs it without quality control (two campaigns) and with a given posted
price, interrupts it after the auction's first evaluated round and resumes it. Both run the
real commands in subprocesses, the way ``make demo`` does.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

from app.demo.settings import posted_price_cents

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PREFMARKET_TORCH_THREADS": "1", "COLUMNS": "120",  # other test runs share the cores
       "PYTHONUNBUFFERED": "1"}  # lines reach the test as they are printed: it interrupts on one
FILES = ("report.md", "summary.json", "ledger.csv", "rounds.csv", "evaluations.csv", "dataset.jsonl",
         "baseline_dataset.jsonl", "pool.jsonl", "held_out.jsonl", "paired.json", "paired_completions.jsonl",
         "plots/final_win_rates.png", "plots/heldout_vs_spend.png", "plots/clearing_price.png",
         "plots/spend_by_kind.png", "plots/spammer_share.png")


def demo(out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "app.cli", "demo", "--quick", "--model", "tiny", "--out", str(out), *extra]


def audit(out: Path) -> dict:
    """Check the run folder's files and that every campaign's books balance to the cent."""
    for name in FILES:
        assert (out / name).stat().st_size > 0, name
    for secret in ("state.json", "bots.json"):  # they hold API tokens
        assert stat.S_IMODE((out / secret).stat().st_mode) == 0o600, secret
    for png in (out / "plots").glob("*.png"):
        assert png.stat().st_size > 10_000, png  # a drawn figure, not an empty canvas
    summary = json.loads((out / "summary.json").read_text())

    # Re-derive the books from ledger.csv: every cent funded is still available, in escrow, or paid.
    balance: dict[str, int] = defaultdict(int)
    paid: dict[str, int] = defaultdict(int)
    keys = set()
    with open(out / "ledger.csv") as f:
        for row in csv.DictReader(f):
            cents = int(row["cents"])
            balance[row["from_account"]] -= cents
            balance[row["to_account"]] += cents
            assert row["key"] not in keys  # nothing posted twice
            keys.add(row["key"])
            if row["reason"] == "pay":
                paid[row["campaign"]] += cents
                assert row["annotator_kind"] in {"diligent", "noisy", "spammer", "adversarial"}
    for name, c in summary["campaigns"].items():
        cid = c["campaign_id"]
        assert c["books_balanced"], name
        assert paid[name] == c["spent_cents"] > 0, name
        held = balance[f"campaign:{cid}"] + sum(v for k, v in balance.items() if k.startswith("escrow:round:")
                                                 and _round_campaign(out, k) == cid)
        assert held + c["spent_cents"] == c["budget_cents"], name
        assert sum(c["spend_by_kind_cents"].values()) == c["spent_cents"]
        if name != "vetting":  # every trained policy was evaluated at the end
            assert c["final"] is not None and c["final"]["ci_low"] <= c["final"]["win_rate"] <= c["final"]["ci_high"]
    assert -balance["external"] == sum(c["budget_cents"] for c in summary["campaigns"].values())

    camps = summary["campaigns"]
    auction, baseline = camps["auction"], camps["baseline"]
    terms_from = auction  # equal spend: the baseline's budget is what the auction spent
    rows = [json.loads(line) for line in (out / "dataset.jsonl").read_text().splitlines()]
    assert len(rows) == auction["training_labels"] > 0 and all(r["prompt"] and r["chosen"] and r["rejected"] for r in rows)
    assert auction["labels"] == auction["training_labels"] + auction["gold_labels"]  # accepted = data + gold
    # the baseline: a price set in advance (the bots' median cost, or the one given), never the
    # auction's own average; the budget the auction spent; as many labels as annotators accept
    terms, settings = summary["baseline_terms"], summary["settings"]
    if settings["posted_price_cents"] is None:
        costs = [b["cost"] for b in json.loads((out / "bots.json").read_text())["bots"]]
        assert terms["price_source"] == "median cost"
        assert terms["price_cents"] == posted_price_cents(costs, settings["max_price_cents"])
    else:
        assert (terms["price_source"], terms["price_cents"]) == ("given", settings["posted_price_cents"])
    assert terms["budget_cents"] == terms_from["spent_cents"] == baseline["budget_cents"]
    assert terms["labels"] == terms["budget_cents"] // terms["price_cents"]
    assert 0 < baseline["spent_cents"] <= terms_from["spent_cents"]  # never more than the auction spent
    assert baseline["spent_cents"] == terms["price_cents"] * baseline["labels"]  # every label at the posted price
    assert 0 < baseline["training_labels"] <= baseline["labels"] == terms["labels_bought"] <= terms["labels"]
    assert terms["spent_cents"] == baseline["spent_cents"] and terms["fill"] == terms["labels_bought"] / terms["labels"]
    with open(out / "evaluations.csv") as f:
        evals = list(csv.DictReader(f))
    assert {e["campaign"] for e in evals} == set(camps) - {"vetting"}
    assert all(0 <= float(e["heldout_ci_low"]) <= float(e["heldout_accuracy"]) <= float(e["heldout_ci_high"]) <= 1
               for e in evals)  # the per-round metric: held-out accuracy on the judge-labelled pairs
    audit_choice_and_evaluation(out, summary)
    with open(out / "rounds.csv") as f:
        for r in csv.DictReader(f):  # training labels and gold checks add up to what the round paid for
            assert int(r["labels"]) + int(r["gold_labels"]) <= int(r["n_assignments"])
    for c in camps.values():  # measured against the judge the bots answer to
        assert 0.0 <= c["labels_right"] <= 1.0
        assert sum(k["labels"] for k in c["labels_right_by_kind"].values()) == c["training_labels"]
    report = (out / "report.md").read_text()
    # the report leads with the claim: auction + acquisition against posted price + random at equal spend
    sections = [line for line in report.splitlines() if line.startswith("## ")]
    assert sections[:3] == ["## The claim: an auction with random acquisition against a posted price with random "
                            "items, at equal spend", "## Quality control", "## Caveats"], sections
    claim = report[report.index("## The claim"):report.index("## Quality control")]
    assert summary["comparison"]["verdict"] in claim
    for needle in ("**price per label** (the mechanism's part)", "**points per training label** (the acquisition's part)",
                   "**$ per win-rate point**", "**Head to head:**", "**Coin-flip control**", "Equal spend",
                   "the median private cost" if terms["price_source"] == "median cost" else "--posted-price-cents",
                   "plots/final_win_rates.png"):
        assert needle in claim, needle
    for needle in ("that the judge agrees with", "paid to spammers", "spammers' share of paid training labels",
                   "posted-price fill", f"{terms['labels_bought']} of {terms['labels']}", "prefmarket experiment",
                   "plots/heldout_vs_spend.png", "plots/spammer_share.png", "plots/labels_right.png"):
        assert needle in report, needle
    return summary


def audit_choice_and_evaluation(out: Path, summary: dict) -> None:
    """A pool bigger than what is bought, and the paired evaluation with its coin-flip control."""
    s, camps = summary["settings"], summary["campaigns"]
    pool = (out / "pool.jsonl").read_text().splitlines()
    assert len(pool) >= 4 * s["rounds"] * s["round_size"] > camps["auction"]["training_labels"]
    held = [json.loads(line) for line in (out / "held_out.jsonl").read_text().splitlines()]
    assert held and all(h["chosen"] != h["rejected"] for h in held)
    assert not {h["prompt"] for h in held} & {json.loads(line)["prompt"] for line in pool}  # held out: never in the pool
    final = json.loads((out / "paired.json").read_text())
    assert final["prompts"] == s["eval_prompts"] and final["samples"] == s["eval_samples"]
    arms = final["arms"]
    assert set(arms) == (set(camps) - {"vetting"}) | {"coin_flip"}
    # the control: the auction's pairs, as many labels, the same trainings, coin-flip answers
    assert arms["coin_flip"]["labels"] == arms["auction"]["labels"] == camps["auction"]["training_labels"]
    assert arms["coin_flip"]["trainings"] == arms["auction"]["trainings"] > 0
    for a in arms.values():
        assert a["n"] == s["eval_prompts"] and 0 <= a["ci_low"] <= a["win_rate"] <= a["ci_high"] <= 1
    h2h = final["differences"]["auction-baseline"]
    assert h2h["ci_low"] <= h2h["mean"] <= h2h["ci_high"] and h2h["n"] == s["eval_prompts"]
    assert abs(h2h["mean"] - (arms["auction"]["win_rate"] - arms["baseline"]["win_rate"])) < 1e-9  # same prompts
    rows = [json.loads(line) for line in (out / "paired_completions.jsonl").read_text().splitlines()]
    assert len(rows) == s["eval_prompts"] and set(rows[0]) == {"prompt", "reference", *arms}


def _round_campaign(out: Path, escrow_account: str) -> int:
    round_id = escrow_account.rsplit(":", 1)[1]
    with open(out / "rounds.csv") as f:
        for row in csv.DictReader(f):
            if row["round_id"] == round_id:
                names = json.loads((out / "state.json").read_text())["campaigns"]
                return names[row["campaign"]]
    raise AssertionError(f"no round {round_id}")


def test_the_quick_demo_runs_end_to_end_and_its_books_balance(tmp_path):
    out = tmp_path / "run"
    start = time.monotonic()
    done = subprocess.run(demo(out, "--twin"), cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert time.monotonic() - start < 600  # minutes on two shared cores, not the CPU preset's quarter hour
    summary = audit(out)
    camps = summary["campaigns"]
    assert summary["settings"]["preset"] == "quick" and list(camps) == ["vetting", "auction", "no_qc", "baseline"]
    assert camps["auction"]["rounds"] == camps["no_qc"]["rounds"] == summary["settings"]["rounds"]
    assert camps["vetting"]["rounds"] == summary["settings"]["vet_rounds"] and camps["vetting"]["gold_labels"] > 0
    # gold checks are drawn by a secret key at the campaign's rate, so a quick run's 15 units may
    # hold none: assert the terms the auction ran under, and that the twin without them drew none
    qc = camps["auction"]["quality_terms"]
    assert qc["gold_rate"] > 0 and qc["gold_carry"] == 1 and camps["baseline"]["quality_terms"] == qc
    assert camps["no_qc"]["quality_terms"]["gold_rate"] == 0 and camps["no_qc"]["gold_labels"] == 0
    # the auction carries the vetting phase's records: annotators it qualified sell training
    # labels from the auction's first round on (without them, round 1 would be all gold)
    with open(out / "rounds.csv") as f:
        auction = [r for r in csv.DictReader(f) if r["campaign"] == "auction"]
    assert int(auction[0]["labels"]) > 0
    low, high = map(int, summary["settings"]["bot_capacity"].split("-"))
    capacities = [b["capacity"] for b in json.loads((out / "bots.json").read_text())["bots"]]
    assert all(low <= c <= high for c in capacities) and len(set(capacities)) > 1  # the population's range, drawn
    text = " ".join(done.stdout.split())
    rounds = summary["settings"]["rounds"]
    for needle in ("vetting round 1 of 2: spent $", f"auction round 1 of {rounds}: spent $", "training labels +",
                   "held-out accuracy", "ETA", f"no_qc round {rounds} of {rounds}", "baseline round 1 of",
                   "Gold checks against none (the twin)", "report:",
                   "prefmarket portal --api-url http://127.0.0.1:8000", "http://127.0.0.1:8501"):
        assert needle in text, needle
    assert {p.name for p in (out / "logs").iterdir()} >= {"server.log", "bots.log", "worker-auction.log",
                                                          "worker-no_qc.log", "worker-baseline.log",
                                                          "prepare-1.log", "prepare-2.log", "draw-reference.log",
                                                          "draw-auction.log", "draw-last-1.log", "draw-last-2.log",
                                                          "judge.log"}


def test_an_interrupted_demo_resumes_where_it_stopped(tmp_path):
    out = tmp_path / "run"
    log = tmp_path / "first.log"
    with open(log, "w") as sink:
        # SIG_DFL first: a test run started in the background inherits an ignored SIGINT,
        # and Python only turns SIGINT into KeyboardInterrupt when it is not ignored.
        proc = subprocess.Popen(demo(out, "--no-quality", "--posted-price-cents", "40"), cwd=ROOT, env=ENV, stdout=sink, stderr=subprocess.STDOUT,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        try:  # stop it once the market holds the auction's first evaluation (its output may lag behind)
            deadline = time.monotonic() + 400  # the pairs are sampled first
            while not _evaluations(out) and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    output = log.read_text()
    assert proc.returncode == 1 and "resume with: prefmarket demo --out" in " ".join(output.split()), output[-2000:]
    assert not (out / "report.md").exists()
    state = json.loads((out / "state.json").read_text())
    assert set(state["campaigns"]) == {"auction"}
    bots = json.loads((out / "bots.json").read_text())["bots"]

    done = subprocess.run(demo(out, "--rounds", "9"), cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "resuming" in done.stdout
    summary = audit(out)
    rounds = summary["settings"]["rounds"]
    assert summary["resumed"] and rounds != 9 and not summary["settings"]["quality"]  # the settings it started with
    assert summary["settings"]["posted_price_cents"] == 40 and summary["baseline_terms"]["price_source"] == "given"
    assert list(summary["campaigns"]) == ["auction", "baseline"] and summary["campaigns"]["auction"]["rounds"] == rounds
    assert json.loads((out / "bots.json").read_text())["bots"] == bots  # the same annotators came back
    with open(out / "evaluations.csv") as f:
        rounds_evaluated = [r["round_id"] for r in csv.DictReader(f) if r["campaign"] == "auction"]
    assert len(rounds_evaluated) == len(set(rounds_evaluated)) == rounds  # one evaluation per round, none twice


def _evaluations(out: Path) -> int:
    """Evaluations the market holds for the run's auction campaign (0 while it has none)."""
    import sqlite3

    try:
        cid = json.loads((out / "state.json").read_text())["campaigns"]["auction"]
        with sqlite3.connect(f"file:{out / 'market.db'}?mode=ro", uri=True, timeout=1) as conn:
            return conn.execute("SELECT count(*) FROM evaluation WHERE campaign_id = ?", (cid,)).fetchone()[0]
    except (OSError, KeyError, ValueError, sqlite3.Error):  # not there yet, or busy: look again
        return 0


@pytest.fixture(autouse=True)
def _no_leftover_processes(tmp_path):
    """Every process the demo started has stopped when it returns."""
    yield
    leftovers = subprocess.run(["pgrep", "-f", str(tmp_path / "run")], capture_output=True, text=True).stdout.split()
    assert not leftovers, f"processes still running: {leftovers}"

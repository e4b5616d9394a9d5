import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from bidders.cli import app
from bidders.config import SimulationConfig, parse_config, read_config_file

EXAMPLE = Path(__file__).parents[2] / "bidders" / "configs" / "compare_rules.toml"
TINY = """
[population]
size = 30
[market]
rules = ["first_price", "budget_feasible"]
rounds = 30
round_size = 10
[run]
seeds = [0, 1]
"""


def test_the_example_config_shows_the_defaults():
    assert parse_config(read_config_file(EXAMPLE)) == SimulationConfig()


def test_simulate_writes_tables_and_plots(tmp_path):
    (tmp_path / "tiny.toml").write_text(TINY)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["simulate", str(tmp_path / "tiny.toml"), "--out", str(out), "-w", "1"])
    assert result.exit_code == 0, result.output
    summary = pd.read_parquet(out / "summary.parquet")
    assert len(summary) == 4 and set(summary["rule"]) == {"first_price", "budget_feasible"}
    assert pd.read_csv(out / "summary.csv").shape == summary.shape
    assert len(pd.read_parquet(out / "rounds.parquet")) == 4 * 30
    for plot in ("cost_vs_labels", "surplus_split", "regret_by_rule", "price_over_rounds"):
        assert (out / "plots" / f"{plot}.png").stat().st_size > 10_000


def test_a_sweep_adds_a_column_and_a_plot_set_per_point(tmp_path):
    (tmp_path / "tiny.yaml").write_text("market:\n  rules: [second_price]\n  rounds: 20\nrun:\n  seeds: [0]\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["simulate", str(tmp_path / "tiny.yaml"), "-o", str(out), "-w", "1",
                                      "--sweep", "market.round_budget=5,20"])
    assert result.exit_code == 0, result.output
    summary = pd.read_csv(out / "summary.csv")
    assert summary["market.round_budget"].tolist() == [5, 20]
    assert summary.set_index("market.round_budget").loc[20, "labels"] > summary.set_index("market.round_budget").loc[5, "labels"]
    assert (out / "plots" / "point-1" / "surplus_split.png").exists()


def test_a_bad_config_fails_before_any_work_naming_the_key(tmp_path):
    (tmp_path / "bad.toml").write_text(TINY.replace("size = 30", "size = 0"))
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["simulate", str(tmp_path / "bad.toml"), "-o", str(out)])
    assert result.exit_code == 2
    assert "population.size" in result.output
    assert not out.exists()
    result = CliRunner().invoke(app, ["simulate", str(tmp_path / "bad.toml"), "-o", str(out),
                                      "--sweep", "market.rules=nonesuch"])
    assert result.exit_code == 2 and not out.exists()


def test_the_cli_does_not_import_torch():
    code = "import sys, bidders.cli, bidders.bots, bidders.replay; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_replay_prints_every_rule_and_whether_the_live_one_is_reproduced(tmp_path):
    row = {"round_id": 1, "rule": "second_price", "values_cents": [50, 50], "budget_cents": 1000,
           "price_cents": 25, "capacity": 1, "units": 1, "quality": 1.0}
    bids = [{**row, "annotator_id": i, "ask_cents": ask, "paid_cents": paid}
            for i, (ask, paid) in enumerate([(10, [30]), (20, [30]), (30, [])])]
    (tmp_path / "bids.json").write_text(json.dumps(bids))
    result = CliRunner().invoke(app, ["replay", str(tmp_path / "bids.json"), "-o", str(tmp_path / "r.csv")])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "r.csv")
    assert set(table["rule"]) == {"posted_price", "first_price", "second_price", "budget_feasible",
                                  "quality_second_price", "quality_budget_feasible"}
    assert table[table["live"]]["matches"].all()
    (tmp_path / "bad.json").write_text(json.dumps([{k: v for k, v in bids[0].items() if k != "units"}]))
    result = CliRunner().invoke(app, ["replay", str(tmp_path / "bad.json")])
    assert result.exit_code == 2 and "units" in result.output


@pytest.mark.parametrize("capacity", ["5-2", "0-3", "three", "4"])
def test_a_bad_capacity_range_is_refused_naming_the_option_before_any_account_is_made(capacity):
    result = CliRunner().invoke(app, ["bots", "--token", "pm_x", "--url", "http://127.0.0.1:9", "--capacity", capacity])
    assert result.exit_code == 2 and "--capacity" in result.output and "MIN-MAX" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)

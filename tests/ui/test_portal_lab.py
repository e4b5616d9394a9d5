"""The economist lab (AppTest): runs the real simulator in-process, compares rules, exports CSV."""

from __future__ import annotations

from tests.ui.apptest import click, goto, portal, texts


def _small(at, rules=("posted_price", "second_price", "budget_feasible")):
    at.multiselect(key="lab_rules").set_value(list(rules))
    at.number_input(key="lab_population").set_value(30)
    at.number_input(key="lab_rounds").set_value(20)
    at.number_input(key="lab_round_size").set_value(10)
    at.number_input(key="lab_seeds").set_value(1)
    return at


def test_lab_runs_the_simulator_and_compares_rules_without_an_account(api_env):
    at = goto(portal(), "lab")
    assert any("run the simulation" in i for i in texts(at.info))
    click(_small(at), "Run simulation")
    assert any(s.startswith("Simulated 20 rounds × 3 rules × 1 seeds") for s in texts(at.success))
    table = at.dataframe[0].value
    assert list(table.index) == ["posted_price", "second_price", "budget_feasible"]
    assert "cost per label ($)" in table.columns and "efficiency (welfare / optimum)" in table.columns
    assert len(at.get("vega_lite_chart")) == 2
    assert [d.label for d in at.get("download_button")] == ["Download summary (CSV)", "Download rounds (CSV)"]
    assert at.session_state["lab_result"]["summary"]["rule"].nunique() == 3


def test_choosing_another_metric_redraws_without_rerunning(api_env):
    at = goto(portal(), "lab")
    click(_small(at), "Run simulation")
    seconds = at.session_state["lab_result"]["seconds"]
    at.selectbox(key="lab_chart_metric").select("efficiency").run()
    assert any("Best on efficiency" in c for c in texts(at.caption))
    at.multiselect(key="lab_metrics").set_value(["spend", "labels"]).run()
    assert list(at.dataframe[0].value.columns) == ["spend ($)", "labels bought"]
    assert at.session_state["lab_result"]["seconds"] == seconds  # same run, not a new one


def test_lab_settings_mistakes_are_readable(api_env):
    at = goto(portal(), "lab")
    click(_small(at, rules=()), "Run simulation")
    assert "rules: pick at least one rule" in texts(at.error)
    assert not at.exception

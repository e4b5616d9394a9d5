"""Unit tests of the economist lab's shaping (ui.lab_data) against the real simulator config."""

from __future__ import annotations

import pandas as pd
import pytest

from bidders.config import parse_config
from bidders.simulate import simulate
from market.mechanisms import RULES
from ui import lab_data


def _config(**kw):
    args = dict(rules=["second_price", "posted_price"], population=40, cost_median=0.25, cost_sigma=0.5,
                spammer_share=0.2, learner_weight=0.3, rounds=15, round_size=10, round_budget=5.0, max_price=1.0,
                posted_price=0.3, seeds=2)
    args.update(kw)
    return lab_data.lab_config(**args)


def test_lab_config_is_a_valid_simulator_config():
    cfg = parse_config(_config())
    assert cfg.market.rules == ["posted_price", "second_price"]  # the market's order, baselines first
    assert cfg.run.seeds == [0, 1] and cfg.run.workers == 1
    shares = {k: v.share for k, v in cfg.population.kinds.items()}
    assert shares["spammer"] == 0.2 and sum(shares.values()) == pytest.approx(1.0)
    assert cfg.strategies.learner == pytest.approx(0.3) and cfg.strategies.truthful == pytest.approx(0.7)


def test_lab_config_refuses_no_rules_or_unknown_rules():
    with pytest.raises(ValueError, match="at least one"):
        _config(rules=[])
    with pytest.raises(ValueError, match="unknown"):
        _config(rules=["dutch"])


def test_compare_table_and_best_rule_on_a_real_simulation():
    result = simulate(parse_config(_config()), workers=1)
    table = lab_data.compare_table(result.summary, ["cost_per_label", "accuracy", "not_a_metric"])
    assert list(table.index) == ["posted_price", "second_price"]
    assert list(table.columns) == ["cost per label ($)", "expected label accuracy"]
    means = result.summary.groupby("rule")["cost_per_label"].mean()
    assert table.loc["second_price", "cost per label ($)"] == pytest.approx(means["second_price"])
    assert lab_data.best_rule(result.summary, "cost_per_label") == means.idxmin()
    prices = lab_data.price_over_rounds(result.rounds)
    assert list(prices.columns) == ["posted_price", "second_price"] and len(prices) == 15
    assert lab_data.to_csv(result.summary).decode().splitlines()[0].startswith("point,rule,seed")


def test_best_rule_direction_follows_the_metric():
    summary = pd.DataFrame({"rule": ["a", "a", "b"], "efficiency": [0.5, 0.7, 0.9], "spend": [1.0, 3.0, 5.0]})
    assert lab_data.best_rule(summary, "efficiency") == "b"  # higher is better
    assert lab_data.best_rule(summary, "spend") == "a"  # lower is better
    summary["regret_mean"] = float("nan")
    assert lab_data.best_rule(summary, "regret_mean") is None


def test_every_listed_metric_is_a_simulator_column():
    result = simulate(parse_config(_config(rules=list(RULES), rounds=3, seeds=1)), workers=1)
    assert {col for col, _, _ in lab_data.METRICS} <= set(result.summary.columns)
    assert set(lab_data.DEFAULT_METRICS) <= {col for col, _, _ in lab_data.METRICS}

"""The quality experiment's two steps without a model: market terms from the simulator, noisy labels."""

from __future__ import annotations

import pytest

from policy.experiments.quality import arm_terms, market_terms, noisy_labels


def test_gold_checks_buy_fewer_labels_per_dollar_but_far_more_accurate_ones():
    terms = market_terms("second_price", rounds=60, seeds=1)
    gold, none = terms["gold"], terms["none"]
    assert gold["accuracy"] > none["accuracy"] + 0.15
    assert none["labels_per_dollar"] > gold["labels_per_dollar"] > 0
    assert gold["spammer_share_late"] < none["spammer_share_late"] / 4


def test_labels_are_flipped_at_the_error_rate_and_reproducibly():
    rows = [{"prompt": f"p{i}", "chosen": f"good {i}", "rejected": f"bad {i}"} for i in range(4000)]
    noisy = noisy_labels(rows, accuracy=0.8, seed=1)
    flipped = [r for r in noisy if r["chosen"].startswith("bad")]
    assert abs(len(flipped) / len(rows) - 0.2) < 0.03
    assert all(r["rejected"] == "good " + r["chosen"].split()[1] for r in flipped)
    assert noisy == noisy_labels(rows, accuracy=0.8, seed=1) and noisy_labels(rows, 1.0, seed=1) == rows


def test_the_extra_arms_buy_a_market_arms_count_and_change_only_what_they_name():
    terms = {"gold": {"labels_per_dollar": 5.0, "accuracy": 0.8}, "none": {"labels_per_dollar": 12.0, "accuracy": 0.5}}
    arms = arm_terms(terms, ceiling=True, soft=True)
    assert list(arms) == ["gold", "gold_ceiling", "gold_soft", "none_soft", "none"]  # the long arm last
    assert arms["gold"] == {"labels_per_dollar": 5.0, "accuracy": 0.8, "bought": "gold", "soft_label": None}
    assert arms["gold_ceiling"] == {**arms["gold"], "accuracy": 1.0}
    assert arms["gold_soft"] == {**arms["gold"], "soft_label": 0.8}  # what the gold checks measured
    assert arms["none_soft"] == {**arms["none"], "soft_label": pytest.approx(2 / 3)}  # the prior: nobody judged
    assert arms["none"] == {"labels_per_dollar": 12.0, "accuracy": 0.5, "bought": "none", "soft_label": None}
    assert terms["gold"] == {"labels_per_dollar": 5.0, "accuracy": 0.8}  # the market's terms untouched
    assert list(arm_terms(terms, ceiling=False, soft=False)) == ["gold", "none"]

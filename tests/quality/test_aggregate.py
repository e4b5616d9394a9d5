"""Soft labels and QA-DPO weights (market.quality.aggregate), on inline data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from market.quality.aggregate import METHODS, qa_weight, soft_labels


def crowd(seed: int = 0, tasks: int = 200, per_task: int = 3):
    """Votes from 12 annotators: 8 careful (right 85% of the time), 4 random clickers."""
    rng = np.random.default_rng(seed)
    truth = np.where(rng.random(tasks) < 0.5, "a", "b")
    accuracy = np.where(np.arange(12) < 8, 0.85, 0.5)
    rows = []
    for t in range(tasks):
        for w in rng.choice(12, per_task, replace=False):
            right = rng.random() < accuracy[w]
            rows.append((t, int(w), truth[t] if right else ("b" if truth[t] == "a" else "a")))
    votes = pd.DataFrame(rows, columns=["task", "worker", "label"])
    return votes, pd.Series(truth), pd.Series(accuracy)


def test_one_vote_is_worth_its_annotators_accuracy():
    votes = pd.DataFrame({"task": [1, 2], "worker": [7, 8], "label": ["a", "b"]})
    p = soft_labels(votes, "skill", accuracy=pd.Series({7: 0.9, 8: 0.8}))
    assert p[1] == pytest.approx(0.9) and p[2] == pytest.approx(0.2)
    unknown = soft_labels(votes, "skill")  # no gold answers yet: the prior's 2/3
    assert unknown[1] == pytest.approx(2 / 3)


def test_skill_weighting_discounts_spammers():
    votes = pd.DataFrame({"task": [1, 1, 1], "worker": [1, 2, 3], "label": ["a", "b", "b"]})
    acc = pd.Series({1: 0.95, 2: 0.5, 3: 0.5})
    assert soft_labels(votes, "skill", accuracy=acc)[1] == pytest.approx(0.95)  # coin flips carry nothing
    assert soft_labels(votes, "mv")[1] == pytest.approx(1 / 3)  # majority vote counts them


@pytest.mark.parametrize("method", METHODS)
def test_every_method_recovers_most_labels(method):
    votes, truth, accuracy = crowd()
    p = soft_labels(votes, method, accuracy=accuracy, gold=truth[:20])
    assert ((p > 0) & (p < 1)).all()
    agree = (np.where(p > 0.5, "a", "b") == truth[p.index].to_numpy()).mean()
    assert agree > 0.8, (method, agree)


def test_gold_pins_dawid_skene():
    votes, truth, _ = crowd(seed=1)
    p = soft_labels(votes, "ds", gold=truth[:30])
    pinned = p[p.index < 30]
    assert (np.where(pinned > 0.5, "a", "b") == truth[:30].to_numpy()).all()


def test_bad_input():
    with pytest.raises(ValueError, match="method"):
        soft_labels(pd.DataFrame(columns=["task", "worker", "label"]), "vote")
    with pytest.raises(ValueError, match="ties"):
        soft_labels(pd.DataFrame({"task": [1], "worker": [1], "label": ["tie"]}), "skill")
    assert soft_labels(pd.DataFrame(columns=["task", "worker", "label"])).empty


@given(st.floats(0.0, 1.0))
def test_qa_weight_is_vickreyfeedbacks_with_the_soft_labels_log_odds(p):
    w = float(qa_weight(p))
    assert 0.5 <= w <= 1.5
    if 0.001 < p < 0.999:
        diff = np.log(p / (1 - p))  # b_chosen - b_rejected
        assert w == pytest.approx(0.5 + 1 / (1 + np.exp(-diff)))

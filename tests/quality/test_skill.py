"""The Beta posterior, the quality map and the judgement (market.quality.skill)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from market.quality import skill

answers = st.lists(st.sampled_from(["right", "wrong", "tie"]), max_size=60)
CREDIT = {"right": 1.0, "wrong": 0.0, "tie": 0.5}


def test_gold_credit():
    assert skill.gold_credit("a", "a") == 1.0
    assert skill.gold_credit("b", "a") == 0.0
    assert skill.gold_credit("tie", "b") == 0.5


@given(answers)
def test_each_answer_adds_one_to_alpha_plus_beta_and_moves_the_mean_its_way(seq):
    alpha, beta = skill.PRIOR_ALPHA, skill.PRIOR_BETA
    for i, a in enumerate(seq, start=1):
        mean = skill.accuracy(alpha, beta)
        alpha, beta = alpha + CREDIT[a], beta + 1.0 - CREDIT[a]
        new = skill.accuracy(alpha, beta)
        assert alpha + beta == pytest.approx(skill.PRIOR_ALPHA + skill.PRIOR_BETA + i)
        if a == "right":
            assert new > mean
        elif a == "wrong":
            assert new < mean
    total = sum(CREDIT[a] for a in seq)
    a2, b2 = skill.posterior(total, len(seq))
    assert (a2, b2) == pytest.approx((alpha, beta))
    assert a2 + b2 == pytest.approx(skill.PRIOR_ALPHA + skill.PRIOR_BETA + len(seq))


@given(st.floats(0.0, 1.0))
def test_quality_lies_in_floor_one_and_rises_with_accuracy(acc):
    q = float(skill.quality_from_accuracy(acc))
    assert skill.QUALITY_FLOOR <= q <= 1.0
    assert float(skill.quality_from_accuracy(min(acc + 0.01, 1.0))) >= q
    if acc <= 0.5:
        assert q == skill.QUALITY_FLOOR
    else:
        assert q == pytest.approx(max(2 * acc - 1, skill.QUALITY_FLOOR))


def test_prior_is_a_modest_trust():
    assert skill.accuracy(skill.PRIOR_ALPHA, skill.PRIOR_BETA) == pytest.approx(2 / 3)
    assert float(skill.quality_from_accuracy(2 / 3)) == pytest.approx(1 / 3)


@given(st.integers(0, 40), st.integers(0, 40), st.floats(0.55, 0.9))
def test_prob_below_is_a_cdf(right, wrong, bar):
    a, b = skill.posterior(right, right + wrong)
    p = float(skill.prob_below(a, b, bar))
    assert 0.0 <= p <= 1.0
    assert float(skill.prob_below(a, b, bar + 0.05)) >= p
    low, high = skill.credible_interval(a, b, 0.9)
    assert low < skill.accuracy(a, b) < high


def test_judge_statuses():
    kw = dict(min_gold=4, bar=0.65, confidence=0.8)
    for right, n, status in [(3, 3, "probation"),  # too few answers, however good
                             (4, 4, "qualified"),  # 4 of 4 passes
                             (3, 4, "probation"),  # undecided
                             (0, 4, "below_bar"),
                             (6, 8, "probation"),  # not below the bar, but not proven above it either
                             (7, 8, "qualified"),
                             (9, 16, "below_bar"),  # probation limit: mean 11/19 < 0.65
                             (11, 16, "provisional")]:  # probation limit: mean 13/19 >= 0.65
        a, b = skill.posterior(right, n)
        assert skill.judge(a, b, n, **kw) == status, (right, n)
    a, b = skill.posterior(0, 10)
    assert skill.judge(a, b, 10, min_gold=4, bar=None, confidence=0.9) == "qualified"  # no bar: measure only


def paths(theta: float, rng, n_paths=4000, n_answers=40, **kw) -> np.ndarray:
    """Whether each simulated annotator is ever judged below the bar within n_answers."""
    right = np.cumsum(rng.random((n_paths, n_answers)) < theta, axis=1)
    n = np.broadcast_to(np.arange(1, n_answers + 1), right.shape)
    a, b = skill.posterior(right, n)
    return (skill.judge(a, b, n, **kw) == skill.BELOW_BAR).any(axis=1)


def test_the_numbers_in_the_module_doc():
    rng = np.random.default_rng(0)
    kw = dict(min_gold=4, bar=0.65, confidence=0.8)
    assert paths(0.5, rng, **kw).mean() > 0.97
    assert paths(0.16, rng, **kw).all()
    assert 0.04 < paths(0.84, rng, **kw).mean() < 0.09
    assert 0.27 < paths(0.75, rng, **kw).mean() < 0.38
    assert paths(0.84, rng, **(kw | {"confidence": 0.9})).mean() < 0.065
    # a random clicker rarely qualifies before it is caught
    right = np.cumsum(rng.random((4000, 40)) < 0.5, axis=1)
    n = np.broadcast_to(np.arange(1, 41), right.shape)
    status = skill.judge(*skill.posterior(right, n), n, **kw)
    caught = np.where((status == skill.BELOW_BAR).any(axis=1), (status == skill.BELOW_BAR).argmax(axis=1), 40)
    lucky = ((status == skill.QUALIFIED) & (np.arange(40) < caught[:, None])).any(axis=1).mean()
    assert 0.05 < lucky < 0.13
    # judging by the mean instead excludes about a quarter of careful readers
    right = np.cumsum(rng.random((4000, 40)) < 0.84, axis=1)
    a, b = skill.posterior(right, np.arange(1, 41))
    by_mean = ((skill.accuracy(a, b) < 0.65) & (np.arange(1, 41) >= 4)).any(axis=1).mean()
    assert 0.18 < by_mean < 0.30

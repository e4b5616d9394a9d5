"""The packed-key ranking (``market.mechanisms.ranking.rank``) and the rules built on it
give exactly what a stable argsort gave (``tests/mechanisms/reference.py``), on random
inputs: ties, -0.0, and values so close that the packing merges them."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from market.mechanisms import rules
from market.mechanisms.ranking import cheapest, rank
from tests.mechanisms import reference

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
KINDS = ("continuous", "cents", "merged", "zeros")


def draw_asks(kind: str, n: int, seed: int) -> np.ndarray:
    """``n`` non-negative asks of one kind: continuous, integer cents (many ties), values
    a few ulps apart (the packing drops their difference), or zeros of both signs."""
    rng = np.random.default_rng(seed)
    if kind == "continuous":
        return rng.lognormal(np.log(0.3), 0.5, n)
    if kind == "cents":
        return rng.integers(1, 12, n).astype(np.float64)
    if kind == "merged":
        return 1.0 + rng.integers(0, 2 ** rng.integers(1, 24), n) * np.finfo(np.float64).eps
    return np.where(rng.random(n) < 0.5, -0.0, rng.integers(0, 3, n).astype(np.float64))


asks_cases = st.tuples(st.sampled_from(KINDS), st.integers(0, 3000), st.integers(0, 2**32 - 1))


@SETTINGS
@given(case=asks_cases)
def test_rank_is_the_order_by_value_then_index(case):
    x = draw_asks(*case)
    order, ranked = rank(x)
    expected = np.lexsort((np.arange(x.size), x))
    assert order.tolist() == expected.tolist()
    assert ranked.tolist() == x[expected].tolist()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 6), max_size=80))
def test_ranking_matches_a_stable_sort(xs):
    """Ties always in index order, as numpy's stable argsort."""
    x = np.array(xs, dtype=np.float64)
    assert rank(x)[0].tolist() == np.argsort(x, kind="stable").tolist()


@SETTINGS
@given(case=asks_cases, count=st.integers(0, 3000))
def test_cheapest_is_the_head_of_the_ranking(case, count):
    x = draw_asks(*case)
    order, ranked = cheapest(x, count)
    assert order.tolist() == reference.cheapest(x, count).tolist()
    assert ranked.tolist() == x[order].tolist()


def _same(new: rules.Outcome, old: rules.Outcome) -> None:
    assert new.winners.tolist() == old.winners.tolist()
    assert new.payments.tolist() == old.payments.tolist()
    assert new.threshold == old.threshold and new.reason == old.reason


@pytest.mark.parametrize("rule", ["first_price", "second_price", "budget_feasible", "quality_second_price",
                                  "quality_budget_feasible"])
@SETTINGS
@given(case=asks_cases, demand=st.integers(0, 4000), budget_share=st.floats(0.0, 2.0), qseed=st.integers(0, 99))
def test_the_rules_clear_as_the_reference_did(rule, case, demand, budget_share, qseed):
    asks = draw_asks(*case)
    rng = np.random.default_rng(qseed)
    values = -np.sort(-rng.choice([0.5, 1.0, 2.0, 11.0], demand))
    budget = budget_share * demand if qseed % 5 else np.inf
    quality = rng.uniform(0.1, 1.0, asks.size) if rule.startswith("quality_") else None
    if rule == "first_price":
        _same(rules.first_price(asks, values, budget), reference.first_price(asks, values, budget))
    else:
        feasible = rule.endswith("budget_feasible")
        _same(rules.uniform_threshold(asks, values, budget, quality, budget_feasible=feasible),
              reference.uniform_threshold(asks, values, budget, quality, budget_feasible=feasible))

"""Property tests: every rule's guarantees over random profiles (docs/mechanisms.md)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from market.mechanisms import RULES, TRUTHFUL_RULES, clear
from tests.mechanisms.profiles import deviation_grid, outcome_of, profiles

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TOL = 1e-9


@pytest.mark.parametrize("rule", RULES)
@SETTINGS
@given(p=profiles())
def test_individually_rational(rule, p):
    """A winner is never paid less than it asked."""
    r = p.clear(rule)
    assert np.all(r.payments >= p.asks[r.winners] - TOL)


@pytest.mark.parametrize("rule", RULES)
@SETTINGS
@given(p=profiles())
def test_budget_feasible_and_within_demand(rule, p):
    """Payments never exceed the budget; no unit wins twice; no more units than demanded."""
    r = p.clear(rule)
    assert r.payments.sum() <= p.budget * (1 + TOL)
    assert len(set(r.winners.tolist())) == r.winners.size
    assert r.winners.size <= min(p.values.size, p.asks.size)
    assert r.winners.size == r.payments.size


@pytest.mark.parametrize("rule", RULES)
@SETTINGS
@given(p=profiles(), data=st.data())
def test_monotone(rule, p, data):
    """A lower ask never loses work, and a higher ask never gains it."""
    i = data.draw(st.integers(0, p.asks.size - 1))
    won, _ = outcome_of(p.clear(rule), i)
    lower, higher = p.asks.copy(), p.asks.copy()
    lower[i] = data.draw(st.floats(0, float(p.asks[i])))
    higher[i] = data.draw(st.floats(float(p.asks[i]), 80.0))
    if won:
        assert outcome_of(p.clear(rule, lower), i)[0]
    else:
        assert not outcome_of(p.clear(rule, higher), i)[0]


@pytest.mark.parametrize("rule", TRUTHFUL_RULES)
@SETTINGS
@given(p=profiles(), data=st.data())
def test_truthful(rule, p, data):
    """No unilateral deviation on a grid of asks beats asking one's true cost."""
    i = data.draw(st.integers(0, p.asks.size - 1))
    cost = float(p.asks[i])
    won, paid = outcome_of(p.clear(rule), i)
    truthful_utility = paid - cost * won
    for b in deviation_grid(p, i):
        asks = p.asks.copy()
        asks[i] = b
        won_b, paid_b = outcome_of(p.clear(rule, asks), i)
        assert paid_b - cost * won_b <= truthful_utility + 1e-7, f"ask {b} beats truthful {cost}"


@pytest.mark.parametrize("rule", ["second_price", "budget_feasible", "quality_second_price", "quality_budget_feasible"])
@settings(max_examples=60, deadline=None)
@given(p=profiles(max_units=12), data=st.data())
def test_payment_is_the_critical_value(rule, p, data):
    """Each winner is paid q_i times the highest effective ask at which it still wins.

    The closed-form threshold is checked against bisection on the monotone allocation.
    """
    r = p.clear(rule)
    if r.winners.size == 0:
        return
    k = data.draw(st.integers(0, r.winners.size - 1))
    i, paid = int(r.winners[k]), float(r.payments[k])
    lo, hi = float(p.asks[i]), 200.0
    for _ in range(60):
        mid = (lo + hi) / 2
        asks = p.asks.copy()
        asks[i] = mid
        lo, hi = (mid, hi) if outcome_of(p.clear(rule, asks), i)[0] else (lo, mid)
    assert paid == pytest.approx(lo, abs=1e-6)


@pytest.mark.parametrize("rule", RULES)
@SETTINGS
@given(p=profiles())
def test_deterministic(rule, p):
    """The same profile always clears the same way."""
    a, b = p.clear(rule), p.clear(rule)
    assert np.array_equal(a.winners, b.winners) and np.array_equal(a.payments, b.payments)


@pytest.mark.parametrize("rule", RULES)
def test_ties_go_to_the_earlier_unit(rule):
    """Equal asks competing for one unit: the lower index wins, whichever order they arrive in."""
    r = clear(rule, [5.0, 5.0, 5.0], values=[9.0], budget=9.0, price=6.0, quality=[1.0, 1.0, 1.0])
    assert r.winners.tolist() == [0]


def test_truthful_rules_exclude_first_price():
    assert "first_price" not in TRUTHFUL_RULES and set(TRUTHFUL_RULES) < set(RULES)


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("demand", [10, 499, 500])  # partitioned, and fully sorted
def test_ties_break_by_index_at_scale(rule, demand):
    """Among many equal asks the earliest units win, whether the core partitions or sorts."""
    asks = np.random.default_rng(3).permutation(np.repeat([7.0, 30.0], [500, 500]))
    cheap = np.flatnonzero(asks == 7.0)
    r = clear(rule, asks, values=np.full(demand, 9.0), budget=1e6, price=8.0, quality=np.ones(1000))
    assert sorted(r.winners.tolist()) == cheap[:demand].tolist()
    if rule != "posted_price":  # posted price lists winners in arrival order already
        assert r.winners.tolist() == cheap[:demand].tolist()

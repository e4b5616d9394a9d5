"""Reserves learned from bid history: the Myerson search, its independence from a bidder's
own asks, and the clearing under them (truthful, individually rational, within budget)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from market.mechanisms import (
    TRUTHFUL_RULES,
    MechanismError,
    clear,
    clear_with_reserve,
    myerson_reserve,
    reserves_excluding_own,
)
from market.mechanisms.reserve import cents_grid
from tests.mechanisms.profiles import deviation_grid, outcome_of, profiles

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TOL = 1e-9
GRID = np.arange(1, 51, dtype=float)  # whole "cents" up to the profiles' values

past = st.lists(st.integers(1, 60).map(float), max_size=40)
value = st.integers(1, 50).map(float)


def brute_reserve(asks, v, grid) -> float:
    """The definition, one price at a time: argmax of (v − r)·F(r), ties to the higher r."""
    saving = {float(r): (v - r) * (np.mean(np.asarray(asks) <= r) if len(asks) else 0.0) for r in grid if r <= v}
    best = max(saving.values(), default=0.0)
    return max((r for r, s in saving.items() if s >= best - 1e-9), default=v) if best > 0 else v


@SETTINGS
@given(asks=past, v=value)
def test_reserve_maximises_the_expected_saving_on_the_grid(asks, v):
    assert myerson_reserve(asks, v, GRID) == brute_reserve(asks, v, GRID)


@SETTINGS
@given(asks=past, v=value)
def test_reserve_on_past_asks_is_as_good_as_any_price(asks, v):
    """Without a grid the search runs over the past asks, where a step CDF's optimum lies:
    no price on a fine sweep saves more."""
    r = myerson_reserve(asks, v)
    saving = lambda x: (v - x) * (np.mean(np.asarray(asks) <= x) if asks else 0.0)
    assert r <= v
    assert all(saving(r) >= saving(x) - 1e-9 for x in np.linspace(0, v, 401))


def test_no_history_leaves_the_value_as_the_cap():
    assert myerson_reserve([], 0.5) == 0.5
    assert myerson_reserve([0.9, 0.7], 0.5) == 0.5  # nothing seen below the value
    assert reserves_excluding_own([0.2, 0.3], [7, 7], 0.5, [7], cents_grid(0.5)).tolist() == [0.5]


@SETTINGS
@given(asks=past, v=value, data=st.data())
def test_each_bidder_faces_the_reserve_of_the_others_asks(asks, v, data):
    owners = np.array(data.draw(st.lists(st.integers(0, 4), min_size=len(asks), max_size=len(asks))), dtype=int)
    who = np.arange(6)  # bidder 5 never asked: it faces everyone's history
    got = reserves_excluding_own(asks, owners, v, who, GRID)
    a = np.asarray(asks)
    want = [myerson_reserve(a[owners != i], v, GRID) for i in who]
    assert got.tolist() == want


@SETTINGS
@given(asks=past, v=value, data=st.data())
def test_a_bidders_own_asks_never_move_its_reserve(asks, v, data):
    """Whatever bidder 0 asked in earlier rounds, and however often, its reserve is the same."""
    owners = np.array(data.draw(st.lists(st.integers(0, 3), min_size=len(asks), max_size=len(asks))), dtype=int)
    others = np.asarray(asks)[owners != 0]
    mine = data.draw(st.lists(st.integers(1, 60).map(float), max_size=15))
    a = np.concatenate([others, mine])
    o = np.concatenate([np.full(others.size, 1), np.zeros(len(mine), dtype=int)])
    baseline = reserves_excluding_own(others, np.ones(others.size, dtype=int), v, [0], GRID)
    assert reserves_excluding_own(a, o, v, [0], GRID).tolist() == baseline.tolist()


@st.composite
def reserved(draw):
    p = draw(profiles(max_units=12))
    r = np.array(draw(st.lists(st.integers(1, 60).map(float), min_size=p.asks.size, max_size=p.asks.size)))
    return p, r


def clear_reserved(rule, p, reserves, asks=None):
    return clear_with_reserve(rule, p.asks if asks is None else asks, reserves, values=p.values,
                              budget=p.budget, quality=p.quality, price=p.price)


@pytest.mark.parametrize("rule", TRUTHFUL_RULES)
@SETTINGS
@given(pr=reserved(), data=st.data())
def test_truthful_with_a_reserve(rule, pr, data):
    """No unilateral deviation on a grid of asks (the reserve's own breakpoints included)
    beats asking one's cost: the reserve a unit faces is fixed before it asks."""
    p, reserves = pr
    i = data.draw(st.integers(0, p.asks.size - 1))
    cost = float(p.asks[i])
    won, paid = outcome_of(clear_reserved(rule, p, reserves), i)
    truthful = paid - cost * won
    r = reserves[i]
    for b in np.concatenate([deviation_grid(p, i), [r, r - 1e-6, r + 1e-6]]):
        asks = p.asks.copy()
        asks[i] = max(b, 0.0)
        won_b, paid_b = outcome_of(clear_reserved(rule, p, reserves, asks), i)
        assert paid_b - cost * won_b <= truthful + 1e-7, f"ask {b} beats truthful {cost}"


@pytest.mark.parametrize("rule", TRUTHFUL_RULES)
@SETTINGS
@given(pr=reserved())
def test_reserve_pays_within_ask_reserve_and_budget(rule, pr):
    p, reserves = pr
    c = clear_reserved(rule, p, reserves)
    assert np.all(c.payments >= p.asks[c.winners] - TOL)
    assert np.all(c.payments <= reserves[c.winners] + TOL)
    assert c.payments.sum() <= p.budget * (1 + TOL)
    assert len(set(c.winners.tolist())) == c.winners.size


@pytest.mark.parametrize("rule", TRUTHFUL_RULES)
@SETTINGS
@given(p=profiles(max_units=12))
def test_a_reserve_above_every_price_changes_nothing(rule, p):
    loose = np.full(p.asks.size, 1e6)
    a, b = p.clear(rule), clear_reserved(rule, p, loose)
    assert a.winners.tolist() == b.winners.tolist() and np.allclose(a.payments, b.payments)


def test_thin_supply_clears_at_the_cap_and_a_learned_reserve_lowers_it():
    """Three qualified units for ten wanted at 50¢: nobody competes for the last unit, so
    the budget-feasible rule pays the value cap; the reserve learned from earlier rounds'
    asks (around 20¢) brings the competition the round lacks."""
    asks = np.array([0.18, 0.22, 0.24])
    values, budget = np.full(10, 0.5), 5.0
    plain = clear("budget_feasible", asks, values=values, budget=budget)
    assert plain.won == 3 and np.allclose(plain.payments, 0.5)

    history = np.random.default_rng(0).lognormal(np.log(0.2), 0.3, 300)
    owners = np.arange(300) % 30  # 30 earlier bidders
    r = reserves_excluding_own(history, owners, 0.5, [100, 101, 102], cents_grid(0.5))
    assert np.all((r > 0.2) & (r < 0.5))
    capped = clear_with_reserve("budget_feasible", asks, r, values=values, budget=budget)
    assert capped.won == 3 and np.all(capped.payments <= r) and capped.spend < plain.spend - 0.5


def test_bad_input_names_the_field():
    with pytest.raises(MechanismError) as err:
        clear_with_reserve("budget_feasible", [1.0, 2.0], [3.0], values=[5.0], budget=10.0)
    assert err.value.field == "reserves"
    with pytest.raises(MechanismError) as err:
        reserves_excluding_own([0.1, 0.2], [1], 0.5, [1], cents_grid(0.5))
    assert err.value.field == "past_bidders"
    with pytest.raises(MechanismError) as err:
        myerson_reserve([0.1, -0.2], 0.5)
    assert err.value.field == "past_asks"
    with pytest.raises(MechanismError) as err:
        clear_with_reserve("quality_budget_feasible", [1.0, 2.0], [3.0, 3.0], values=[5.0], budget=10.0,
                           quality=[0.5])
    assert err.value.field == "quality"

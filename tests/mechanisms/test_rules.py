"""Hand-computed clearings, one per rule, and the validation of bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from market.mechanisms import MechanismError, clear, payments_to_cents

ASKS = [3.0, 1.0, 2.0, 5.0, 4.0]
VALUES = [6.0, 6.0, 6.0, 6.0]


def test_posted_price_takes_accepters_in_arrival_order():
    r = clear("posted_price", [3.0, 1.0, 2.0, 5.0, 4.0], values=VALUES, budget=7.0, price=4.0)
    # asks <= 4 accept (units 0, 1, 2, 4); the budget buys floor(7 / 4) = 1 unit
    assert r.winners.tolist() == [0] and r.payments.tolist() == [4.0] and r.reason == "budget"


def test_first_price_pays_asks_until_the_budget_binds():
    r = clear("first_price", ASKS, values=VALUES, budget=6.0)
    assert r.winners.tolist() == [1, 2, 0] and r.payments.tolist() == [1.0, 2.0, 3.0]


def test_second_price_pays_the_first_losing_ask():
    r = clear("second_price", ASKS, values=[6.0, 6.0, 2.5])
    # K = 2 (a_(3) = 3 > v_(3) = 2.5); price = min(a_(3), v_(2)) = 3
    assert r.winners.tolist() == [1, 2] and r.payments.tolist() == [3.0, 3.0] and r.reason == "value"


def test_second_price_caps_demand_so_the_budget_holds():
    r = clear("second_price", ASKS, values=VALUES, budget=13.0)
    assert r.demand == 2 and r.spend <= 13.0


def test_budget_feasible_pays_the_proportional_share():
    r = clear("budget_feasible", ASKS, values=VALUES, budget=10.0)
    # k = 3: a_(3) = 3 <= 10 / 3; k = 4: 4 > 10 / 4. Price = min(a_(4), v_(3), B / 3) = 10 / 3
    assert r.winners.tolist() == [1, 2, 0]
    assert r.payments == pytest.approx([10 / 3] * 3) and r.reason == "budget"


def test_quality_rules_rank_by_price_per_unit_quality():
    q = [1.0, 0.5, 1.0, 1.0, 1.0]
    r = clear("quality_budget_feasible", ASKS, values=VALUES, budget=10.0, quality=q)
    # effective asks 3, 2, 2, 5, 4; Q = .5, 1.5, 2.5, 3.5; K = 3, threshold min(4, 6, 10 / 2.5) = 4
    assert r.winners.tolist() == [1, 2, 0] and r.payments.tolist() == [2.0, 4.0, 4.0]
    s = clear("quality_second_price", ASKS, values=[6.0, 6.0], quality=q)
    assert s.winners.tolist() == [1, 2] and s.payments.tolist() == [1.5, 3.0]


def test_no_bids_and_no_demand_clear_empty():
    assert clear("second_price", [], values=[5.0]).won == 0
    assert clear("budget_feasible", [1.0, 2.0], values=[], budget=5.0).won == 0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"rule": "dutch", "asks": [1.0]}, "rule"),
        ({"rule": "first_price", "asks": [1.0, math.nan]}, "asks"),
        ({"rule": "first_price", "asks": [1.0, math.inf]}, "asks"),
        ({"rule": "first_price", "asks": [-1.0]}, "asks"),
        ({"rule": "first_price", "asks": [[1.0]]}, "asks"),
        ({"rule": "first_price", "asks": ["cheap"]}, "asks"),
        ({"rule": "first_price", "asks": [1.0], "budget": -5}, "budget"),
        ({"rule": "first_price", "asks": [1.0], "values": [math.nan]}, "values"),
        ({"rule": "posted_price", "asks": [1.0]}, "price"),
        ({"rule": "posted_price", "asks": [1.0], "price": 0}, "price"),
        ({"rule": "second_price", "asks": [1.0]}, "values"),
        ({"rule": "budget_feasible", "asks": [1.0], "values": [2.0]}, "budget"),
        ({"rule": "quality_second_price", "asks": [1.0], "values": [2.0], "quality": [0.0]}, "quality"),
        ({"rule": "quality_second_price", "asks": [1.0], "values": [2.0], "quality": [1.5]}, "quality"),
        ({"rule": "quality_second_price", "asks": [1.0, 2.0], "values": [2.0], "quality": [1.0]}, "quality"),
    ],
)
def test_bad_input_names_the_field(kwargs, field):
    rule = kwargs.pop("rule")
    asks = kwargs.pop("asks")
    with pytest.raises(MechanismError) as err:
        clear(rule, asks, **kwargs)
    assert err.value.field == field


@settings(max_examples=300, deadline=None)
@given(
    asks=st.lists(st.integers(1, 500), min_size=1, max_size=30),
    budget=st.integers(1, 5000),
    m=st.integers(1, 30),
    q=st.sampled_from([None, 0.3, 0.7]),
    rule=st.sampled_from(["second_price", "budget_feasible", "quality_second_price", "quality_budget_feasible"]),
)
def test_cents_never_below_the_ask_nor_above_the_budget(asks, budget, m, q, rule):
    values = [600.0] * m
    quality = None if q is None else [q if i % 2 else 1.0 for i in range(len(asks))]
    r = clear(rule, asks, values=values, budget=budget, quality=quality)
    cents = payments_to_cents(r, asks, budget)
    assert cents.dtype == np.int64
    assert np.all(cents >= np.asarray(asks)[r.winners])
    assert int(cents.sum()) <= budget
    assert np.all(cents <= np.floor(r.payments + 1e-6))  # floored, never rounded up


def test_cents_absorb_float_error_at_whole_numbers():
    # 1/0.1 style float error must not cost a winner a cent: 3 winners sharing 102 cents get 34 each
    r = clear("budget_feasible", [10, 20, 30], values=[100.0] * 3, budget=102)
    assert payments_to_cents(r, [10, 20, 30], 102).tolist() == [34, 34, 34]

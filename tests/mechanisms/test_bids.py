"""From bids to per-bid cents (``clear_bids`` / ``pay_bids``): the step the live clearing
and replay share, budget fallback included."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from market.mechanisms import RULES, Clearing, clear, clear_bids, pay_bids, payments_to_cents

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def bid_rounds(draw):
    n = draw(st.integers(1, 6))
    asks = draw(st.lists(st.integers(1, 60), min_size=n, max_size=n))
    units = draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
    quality = draw(st.lists(st.sampled_from([0.25, 0.5, 0.9, 1.0]), min_size=n, max_size=n))
    values = draw(st.lists(st.integers(1, 80).map(float), min_size=1, max_size=8))
    return asks, units, quality, values, draw(st.integers(1, 400)), draw(st.integers(1, 60))


@pytest.mark.parametrize("rule", RULES)
@SETTINGS
@given(r=bid_rounds())
def test_bids_are_paid_what_the_rule_pays_their_units_in_cents(rule, r):
    """Without the fallback, a bid's cents are the rule's payments to its units, turned
    into cents by ``payments_to_cents``, each at least the ask, within the budget."""
    asks, units, quality, values, budget, price = r
    out = clear_bids(rule, asks, units, values_cents=values, budget_cents=budget, quality=quality, price_cents=price)
    unit_asks = np.repeat(asks, units)
    expected = clear(rule, unit_asks.astype(float), values=values, budget=float(budget),
                     quality=np.repeat(quality, units), price=float(price))
    assert not out.fallback
    assert out.winners.tolist() == expected.winners.tolist()
    assert out.cents.tolist() == payments_to_cents(expected, unit_asks, budget).tolist()
    assert len(out.per_bid) == len(asks)
    for i, paid in enumerate(out.per_bid):
        assert len(paid) == int(np.sum(out.bid_of_unit[out.winners] == i)) <= units[i]
        assert all(c >= asks[i] for c in paid)
    assert sum(map(sum, out.per_bid)) == int(out.cents.sum()) <= budget


@SETTINGS
@given(asks=st.lists(st.integers(0, 50), min_size=1, max_size=10), budget=st.integers(0, 200),
       data=st.data())
def test_any_clearing_is_paid_within_the_budget_and_never_below_an_ask(asks, budget, data):
    """Whatever a rule decides (here: any winners at any payments, overspending included),
    the cents never go below an ask nor above the budget, and the fallback keeps a
    prefix of the rule's winners."""
    n = len(asks)
    winners = np.array(data.draw(st.permutations(range(n)))[: data.draw(st.integers(0, n))], dtype=np.int64)
    payments = np.array([data.draw(st.floats(0, 120)) for _ in winners])
    result = Clearing("first_price", winners, payments, None, "test", n)
    out = pay_bids(result, np.array(asks), np.arange(n), budget, n_bids=n)
    assert (out.cents >= np.array(asks)[out.winners]).all()
    assert int(out.cents.sum()) <= budget
    assert out.winners.tolist() == winners[: out.winners.size].tolist()
    if not out.fallback:
        assert out.winners.size == winners.size


def test_the_fallback_drops_the_dearest_ranked_winners_that_do_not_fit():
    # three units cleared at 60 each against a budget of 100; the asks (50, 55, 58) leave
    # too little slack to cut 80 cents, so only the first winner fits
    result = Clearing("second_price", np.array([0, 1, 2]), np.full(3, 60.0), 60.0, "demand", 3)
    out = pay_bids(result, np.array([50, 55, 58, 70]), np.array([0, 1, 1, 2]), 100, n_bids=3)
    assert out.fallback
    assert out.winners.tolist() == [0] and out.cents.tolist() == [60]
    assert out.per_bid == [[60], [], []]

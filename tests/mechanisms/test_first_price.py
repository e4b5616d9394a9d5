"""First price is the baseline that is *not* truthful: bidders gain by shading up."""

from __future__ import annotations

import numpy as np

from market.mechanisms import clear


def test_winner_gains_by_asking_more_than_its_cost():
    costs = np.array([2.0, 5.0, 9.0])
    values = [10.0, 10.0]
    truthful = clear("first_price", costs, values=values)
    assert truthful.winners.tolist() == [0, 1]
    assert truthful.payments[0] - costs[0] == 0.0  # pay-as-bid: a truthful winner earns nothing
    shaded = costs.copy()
    shaded[0] = 4.9  # still below the next ask outside the winning set
    r = clear("first_price", shaded, values=values)
    assert 0 in r.winners.tolist()
    assert r.payments[r.winners.tolist().index(0)] - costs[0] > 2.8


def test_profitable_deviations_are_common_under_first_price_and_absent_under_second_price():
    """Over random profiles, a grid search finds gains from lying only under first price."""
    rng = np.random.default_rng(7)
    gains = {"first_price": 0, "second_price": 0}
    for _ in range(200):
        costs = rng.integers(1, 30, size=8).astype(float)
        values = np.sort(rng.integers(5, 40, size=5).astype(float))[::-1]
        i = int(rng.integers(8))
        for rule in gains:
            def utility(ask):
                asks = costs.copy()
                asks[i] = ask
                r = clear(rule, asks, values=values)
                hit = np.flatnonzero(r.winners == i)
                return float(r.payments[hit[0]] - costs[i]) if hit.size else 0.0

            best = max(utility(b) for b in np.linspace(0, 45, 181))
            gains[rule] += best > utility(costs[i]) + 1e-9
    assert gains["first_price"] > 40
    assert gains["second_price"] == 0

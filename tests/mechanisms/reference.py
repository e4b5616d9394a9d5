"""The rules' ranking and allocation as they were before the packed-key ranking
(``market.mechanisms.ranking.rank``), kept verbatim as the oracle the fast code must
match on every input (tests/mechanisms/test_ranking.py). Not used by the market."""

from __future__ import annotations

import numpy as np

from market.mechanisms.ranking import prefix_length
from market.mechanisms.rules import NO_WINNERS, Outcome, _stop_reason


def cheapest(eff: np.ndarray, count: int) -> np.ndarray:
    """Indices of the ``count + 1`` smallest entries by (value, index): a stable argsort."""
    return np.argsort(eff, kind="stable")[: min(count + 1, eff.size)]


def first_price(asks, values, budget) -> Outcome:
    kmax = min(asks.size, values.size)
    order = cheapest(asks, kmax)
    head = asks[order[:kmax]]
    value_ok = head <= values[:kmax]
    ok = value_ok & (np.cumsum(head) <= budget)
    k = prefix_length(ok)
    winners = order[:k]
    reason = _stop_reason(k, asks.size, values.size, bool(k < kmax and value_ok[k]))
    return Outcome(winners, asks[winners].copy(), None, reason)


def uniform_threshold(asks, values, budget, quality, *, budget_feasible: bool) -> Outcome:
    eff = asks if quality is None else asks / quality
    kmax = min(asks.size, values.size)
    order = cheapest(eff, kmax)
    e = eff[order]
    value_cap = values[:kmax]
    value_ok = e[:kmax] <= value_cap
    if budget_feasible:
        admitted = np.arange(1, kmax + 1) if quality is None else np.cumsum(quality[order[:kmax]])
        share = budget / admitted
        ok = value_ok & (e[:kmax] <= share)
    else:
        ok = value_ok
    k = prefix_length(ok)
    reason = _stop_reason(k, asks.size, values.size, bool(k < kmax and value_ok[k]))
    if k == 0:
        return Outcome(NO_WINNERS, np.empty(0), None, reason)
    next_ask = e[k] if k < e.size else np.inf
    threshold = min(next_ask, value_cap[k - 1])
    if budget_feasible:
        threshold = min(threshold, share[k - 1])
    winners = order[:k]
    payments = np.full(k, threshold) if quality is None else quality[winners] * threshold
    return Outcome(winners, payments, float(threshold), reason)

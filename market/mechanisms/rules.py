"""The allocation and payment rules, each a pure function over validated arrays.

Procurement: the requester buys labels, annotators sell. Every unit offered is treated
as a bidder. ``values`` are the values of the units demanded, sorted in descending order
(their count is the demand); ``budget`` may be ``inf``; ``quality`` is ``None`` for the
plain rules (every unit counts as quality 1, and we skip the arithmetic).

The truthful rules here share one shape: rank units by effective ask ``e = a / q``,
take the longest prefix whose k-th ask passes a test that only tightens as k grows, and
pay each winner ``q_i`` times one uniform threshold. That threshold is the critical
value: the highest effective ask at which a winner would still win (derivation in
``docs/mechanisms.md``), which is what makes the rules truthful for unit-demand bidders.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from market.mechanisms.ranking import cheapest, prefix_length


class Outcome(NamedTuple):
    winners: np.ndarray
    payments: np.ndarray
    threshold: float | None
    reason: str


NO_WINNERS = np.empty(0, dtype=np.int64)


def _stop_reason(k: int, supply: int, demand: int, value_ok: bool) -> str:
    """Why the allocation stopped at ``k`` units."""
    if k == supply:
        return "supply"  # every unit offered won
    if k == demand:
        return "demand"  # every unit demanded was bought
    return "budget" if value_ok else "value"


def posted_price(asks, values, budget, price) -> Outcome:
    """Take it or leave it: every ask at or below ``price`` accepts; rationed by arrival.

    Rationing by index rather than by ask keeps the rule truthful: once an ask is below the
    price, lowering it further cannot win more work.
    """
    cap = min(values.size, asks.size)
    if np.isfinite(budget):
        cap = min(cap, int(np.floor(budget / price + 1e-9)))
    accepted = np.flatnonzero(asks <= price)
    winners = accepted[:cap]
    if accepted.size > cap:
        reason = "demand" if cap == values.size else "budget"
    else:
        reason = "price"
    return Outcome(winners, np.full(winners.size, price), price, reason)


def first_price(asks, values, budget) -> Outcome:
    """Pay-as-bid: the cheapest asks while each is below its unit's value and spend fits."""
    kmax = min(asks.size, values.size)
    order, ranked = cheapest(asks, kmax)
    head = ranked[:kmax]
    value_ok = head <= values[:kmax]
    ok = value_ok & (np.cumsum(head) <= budget)
    k = prefix_length(ok)
    reason = _stop_reason(k, asks.size, values.size, bool(k < kmax and value_ok[k]))
    return Outcome(order[:k], head[:k].copy(), None, reason)


def uniform_threshold(asks, values, budget, quality, *, budget_feasible: bool) -> Outcome:
    """Second price and Singer-style budget-feasible rules, plain or quality-weighted.

    K = max{k : e_(k) <= v_(k)} (second price) or
    K = max{k : e_(k) <= min(v_(k), B / Q_k)} with Q_k the quality of the k cheapest
    (budget-feasible; Q_k = k for the plain rule). Each winner is paid
    q_i * min(e_(K+1), v_(K)[, B / Q_K]).
    """
    eff = asks if quality is None else asks / quality
    kmax = min(asks.size, values.size)
    order, e = cheapest(eff, kmax)
    value_cap = values[:kmax]
    value_ok = e[:kmax] <= value_cap
    q = None if quality is None else quality[order[:kmax]]
    if budget_feasible:
        admitted = np.arange(1, kmax + 1) if q is None else np.cumsum(q)
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
    payments = np.full(k, threshold) if q is None else q[:k] * threshold
    return Outcome(order[:k], payments, float(threshold), reason)

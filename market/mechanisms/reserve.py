"""Reserve prices learned from the market's own bid history, and clearing under them.

Why: when qualified supply is short (probation, a new campaign), nobody competes for the
last unit, so the budget-feasible rule pays the cap (``min(v_K, B / K)``) instead of a
competitor's ask. In the demo's gold campaign on seed 0 it cleared at 48–50¢ where the
twin without gold checks cleared at 14¢ on the same bots. A reserve below the cap brings
the competition the round lacks: the market bids against the asks it has seen before.

**The reserve** (:func:`myerson_reserve`). The buyer's side of Myerson: against one ask
drawn from the empirical distribution ``F`` of past asks, posting ``r`` buys with
probability ``F(r)`` and saves ``v − r``, so the reserve maximises ``(v − r) · F(r)``
over a grid of prices (the market's whole cents). ``F`` is a step function, so the
search over a grid loses at most one grid step.

**Truthfulness** (:func:`reserves_excluding_own`). Each bidder faces a reserve computed
from rounds strictly before the current one *and from other bidders' asks only*: its own
ask, now or in the past, cannot move the price it faces (no ratchet: asking high today
does not raise tomorrow's reserve for itself).

**Clearing with a reserve** (:func:`clear_with_reserve`), an eager reserve: units whose
ask exceeds their reserve are left out, the rule clears the rest, and each winner is paid
``min(payment, reserve)``. A unit wins iff its ask is at most its reserve and at most the
rule's critical value among the others, so ``min(critical value, reserve)`` is its new
critical value: the truthful rules stay truthful, individually rational and within budget.
The rules in ``clearing.py`` are untouched; this wraps :func:`~market.mechanisms.clear`.
"""

from __future__ import annotations

import numpy as np

from market.mechanisms.clearing import Clearing, clear
from market.mechanisms.inputs import MechanismError, as_scalar, as_vector


def cents_grid(value: float) -> np.ndarray:
    """Whole cents from 1¢ up to ``value`` (dollars): the prices a reserve may take."""
    v = as_scalar("value", value)
    return np.arange(1, int(np.floor(v * 100 + 1e-9)) + 1) / 100.0


def myerson_reserve(past_asks, value: float, grid=None) -> float:
    """The reserve ``r`` on ``grid`` maximising ``(value − r) · F(r)``, ``F`` the
    empirical CDF of ``past_asks``; ``value`` when no grid price buys anything (no
    history below the value: the reserve is then no tighter than the value itself).

    ``grid`` defaults to the past asks at or below ``value`` (where the maximum of a step
    CDF times a decreasing line lies). Ties go to the higher price, which buys more.
    """
    asks = np.sort(as_vector("past_asks", past_asks))
    v = as_scalar("value", value)
    g = np.unique(asks[asks <= v]) if grid is None else as_vector("grid", grid)
    g = g[g <= v]
    if asks.size == 0 or g.size == 0:
        return v
    return float(_best(g, v, np.searchsorted(asks, g, side="right")[None, :])[0])


def reserves_excluding_own(past_asks, past_bidders, value: float, bidders, grid) -> np.ndarray:
    """For each of ``bidders`` (ids), :func:`myerson_reserve` on the past asks of every
    *other* bidder: a bidder's own asks never move the reserve it faces.

    ``past_asks`` and ``past_bidders`` are aligned (who asked what, in earlier rounds
    only). Vectorised: one CDF of everyone on the grid, minus each bidder's own counts.
    """
    asks = as_vector("past_asks", past_asks)
    owner = np.asarray(past_bidders, dtype=np.int64)
    if owner.shape != asks.shape:
        raise MechanismError("past_bidders", f"needs one id per past ask ({asks.size}), got {owner.size}")
    who = np.asarray(bidders, dtype=np.int64)
    v = as_scalar("value", value)
    g = np.sort(as_vector("grid", grid))
    g = g[g <= v]
    if g.size == 0:
        return np.full(who.size, v)
    ids = np.unique(who)
    if ids.size == 0:
        return np.empty(0)
    # Grid step at which each past ask first counts (the first grid price at or above it).
    step = np.searchsorted(g, asks, side="left")
    counted = step < g.size
    total = np.cumsum(np.bincount(step[counted], minlength=g.size))
    row = np.minimum(np.searchsorted(ids, owner), ids.size - 1)
    theirs = ids[row] == owner  # asks of one of the bidders asked about
    own = np.zeros((ids.size, g.size))
    np.add.at(own, (row[theirs & counted], step[theirs & counted]), 1.0)
    own = np.cumsum(own, axis=1)
    return _best(g, v, total[None, :] - own)[np.searchsorted(ids, who)]


def _best(grid: np.ndarray, value: float, counts: np.ndarray) -> np.ndarray:
    """Per row of ``counts`` (asks at or below each grid price), the price maximising
    ``(value − r) · count``: the expected saving up to the row's constant ``1 / n``. Ties
    (within float error) go to the higher price; ``value`` where nothing is saved."""
    saving = (value - grid)[None, :] * counts
    top = saving.max(axis=1, keepdims=True)
    tied = saving >= top * (1 - 1e-12)
    best = grid.size - 1 - np.argmax(tied[:, ::-1], axis=1)
    return np.where(top[:, 0] > 0, grid[best], value)


def clear_with_reserve(rule: str, asks, reserves, **kwargs) -> Clearing:
    """:func:`~market.mechanisms.clear` with a reserve per unit (an eager reserve).

    Units asking more than their reserve are left out; the rule clears the others with
    ``kwargs`` (``values``, ``budget``, ``quality``, ``price`` as for ``clear``, with
    ``quality`` given per unit of ``asks``); each winner is paid at most its reserve.
    Winners index ``asks``. ``threshold`` and ``reason`` are those of the clearing among
    the units left in (``supply`` there can mean that the reserve left units out).
    """
    a = as_vector("asks", asks)
    r = as_vector("reserves", reserves)
    if r.size != a.size:
        raise MechanismError("reserves", f"needs one reserve per ask ({a.size}), got {r.size}")
    kept = np.flatnonzero(a <= r)
    quality = kwargs.get("quality")
    if quality is not None:
        q = as_vector("quality", quality)
        if q.size != a.size:
            raise MechanismError("quality", f"needs one entry per ask ({a.size}), got {q.size}")
        kwargs = {**kwargs, "quality": q[kept]}
    inner = clear(rule, a[kept], **kwargs)
    winners = kept[inner.winners]
    payments = np.minimum(inner.payments, r[winners])
    return Clearing(rule, winners, payments, inner.threshold, inner.reason, inner.demand)

"""From sealed bids and a round's terms to what each bid is paid, in cents.

The one path from bids to per-bid cents, shared by the live clearing
(``market.round``) and counterfactual replay (``bidders.replay``), so a replay under the
live rule gives back the live payments to the cent, the budget fallback included.

A bid offering ``units`` labels at ``ask_cents`` each enters the clearing as that many
units in bid order (which is also the rules' tie-breaking order). Payments become cents
through :func:`payments_to_cents`. If that cannot fit the budget without paying a winner
below its ask (no shipped rule overspends beyond float error, but a rule that did would
otherwise leave a round uncleared), the fallback keeps the winners in the rule's order
while their cents, each at least its ask, still fit the budget: the dearest-ranked
winners are the ones dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from market.mechanisms.cents import payments_to_cents
from market.mechanisms.clearing import Clearing, clear


@dataclass(frozen=True)
class BidPayments:
    """A round's clearing of its bids.

    ``winners`` index the units offered (``bid_of_unit``) and ``cents`` pays each, aligned;
    ``per_bid`` is each bid's cents, one per winning unit, in bid order. ``fallback`` says
    the budget fallback dropped winners the rule had chosen."""

    clearing: Clearing
    bid_of_unit: np.ndarray
    winners: np.ndarray
    cents: np.ndarray
    per_bid: list[list[int]]
    fallback: bool


def clear_bids(rule: str, ask_cents, units, *, values_cents, budget_cents: int, quality=None,
               price_cents: int | None = None) -> BidPayments:
    """Clear bids (one ask, unit count and quality per bid) under ``rule`` and the terms.

    ``quality`` reaches only the quality-weighted rules and ``price_cents`` only
    ``posted_price``, as the live market passes them."""
    units = np.asarray(units, dtype=np.int64)
    bid_of_unit = np.repeat(np.arange(units.size), units)
    asks = np.repeat(np.asarray(ask_cents, dtype=np.int64), units)
    kwargs = {"values": np.asarray(values_cents, dtype=np.float64), "budget": float(budget_cents)}
    if rule.startswith("quality_"):
        kwargs["quality"] = np.repeat(np.asarray(quality, dtype=np.float64), units)
    if rule == "posted_price":
        kwargs["price"] = None if price_cents is None else float(price_cents)
    result = clear(rule, asks.astype(np.float64), **kwargs)
    return pay_bids(result, asks, bid_of_unit, int(budget_cents), n_bids=units.size)


def pay_bids(result: Clearing, asks_cents: np.ndarray, bid_of_unit: np.ndarray, budget_cents: int, *,
             n_bids: int) -> BidPayments:
    """A clearing's float payments as cents per winning unit and per bid.

    Guarantees: every cent payment is at least its unit's ask, and they sum to at most
    ``budget_cents``."""
    asks = np.asarray(asks_cents, dtype=np.int64)
    winners = np.asarray(result.winners, dtype=np.int64)
    fallback = False
    try:
        cents = np.asarray(payments_to_cents(result, asks, budget_cents), dtype=np.int64)
    except ValueError:
        fallback = True
        cents = np.maximum(np.floor(np.asarray(result.payments) + 1e-9).astype(np.int64), asks[winners])
        keep = int(np.searchsorted(np.cumsum(cents), budget_cents, side="right"))
        winners, cents = winners[:keep], cents[:keep]
    per_bid: list[list[int]] = [[] for _ in range(n_bids)]
    for bid, c in zip(bid_of_unit[winners].tolist(), cents.tolist(), strict=True):
        per_bid[bid].append(int(c))
    return BidPayments(result, np.asarray(bid_of_unit, dtype=np.int64), winners, cents, per_bid, fallback)

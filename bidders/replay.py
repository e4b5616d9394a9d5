"""Counterfactual replay: re-clear the bids a live campaign logged under every rule.

Row format: ``GET /v1/campaigns/{id}/bids`` returns a JSON list with one object per bid of
the campaign's closed rounds; the round's own fields are repeated on each of its rows:

==================  ======================================================================
``round_id``        int; rows of one round are in the order the market expanded bids into
                    units (bid id), which is also the mechanism's tie-breaking order
``annotator_id``    int
``ask_cents``       int, the ask per label
``capacity``        int, labels offered
``units``           int, the units the bid entered the clearing with: the market offers
                    at most one unit per item an annotator may still take, so this is
                    ``min(capacity, items it may take)``, which only the market knows
``quality``         float in (0, 1], the annotator quality the market used at clearing
``rule``            str, the campaign's rule at clearing
``values_cents``    list of float, one value per unit demanded (the clearing's ``values``;
                    its length is the demand)
``budget_cents``    int, the budget the clearing used (the round budget, or what was left
                    of the campaign if less)
``price_cents``     int or null, the posted price (``posted_price`` campaigns)
``paid_cents``      list of int, the live clearing's payment to each of this bid's winning
                    units, in cents (empty if it won nothing)
==================  ======================================================================

Cents: the market and this module both go from bids to per-bid cents through
``market.mechanisms.clear_bids`` (floor, never below the ask, never over the budget, and
one budget fallback), so replaying a round under its live rule gives back its payments to
the cent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from market.mechanisms import RULES, clear_bids

ROUND_FIELDS = ("rule", "values_cents", "budget_cents", "price_cents")
BID_FIELDS = ("annotator_id", "ask_cents", "capacity", "units", "quality", "paid_cents")


class ReplayError(ValueError):
    """A logged row is unusable; the message names the round and the field."""


@dataclass(frozen=True)
class LoggedRound:
    """One closed round: its bids (aligned arrays, in unit-expansion order) and terms."""

    round_id: int
    rule: str
    values_cents: np.ndarray
    budget_cents: int
    price_cents: int | None
    annotator_id: np.ndarray
    ask_cents: np.ndarray
    capacity: np.ndarray
    units: np.ndarray
    quality: np.ndarray
    paid_cents: tuple[tuple[int, ...], ...]


def load_rounds(rows: list[dict[str, Any]]) -> list[LoggedRound]:
    """Group exported rows into rounds (first-seen order), checking every field."""
    if not isinstance(rows, list):
        raise ReplayError("expected a JSON list of bid rows")
    grouped: dict[int, list[dict[str, Any]]] = {}
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or "round_id" not in row:
            raise ReplayError(f"row {i}: missing round_id")
        grouped.setdefault(row["round_id"], []).append(row)
    return [_round(rid, bids) for rid, bids in grouped.items()]


def _round(round_id: int, bids: list[dict[str, Any]]) -> LoggedRound:
    first = bids[0]
    for field in (*ROUND_FIELDS, *BID_FIELDS):
        for bid in bids:
            if field not in bid:
                raise ReplayError(f"round {round_id}: a row lacks {field}")
    for field in ROUND_FIELDS:
        if any(bid[field] != first[field] for bid in bids):
            raise ReplayError(f"round {round_id}: rows disagree on {field}")
    if first["rule"] not in RULES:
        raise ReplayError(f"round {round_id}: rule: unknown rule {first['rule']!r}")
    ask = np.array([b["ask_cents"] for b in bids], dtype=np.int64)
    capacity = np.array([b["capacity"] for b in bids], dtype=np.int64)
    units = np.array([b["units"] for b in bids], dtype=np.int64)
    quality = np.array([b["quality"] for b in bids], dtype=float)
    if (ask < 0).any():
        raise ReplayError(f"round {round_id}: ask_cents must be non-negative")
    if (capacity < 1).any():
        raise ReplayError(f"round {round_id}: capacity must be at least 1")
    if ((units < 0) | (units > capacity)).any():
        raise ReplayError(f"round {round_id}: units must lie between 0 and capacity")
    if ((quality <= 0) | (quality > 1)).any():
        raise ReplayError(f"round {round_id}: quality must lie in (0, 1]")
    return LoggedRound(
        round_id=round_id,
        rule=first["rule"],
        values_cents=np.asarray(first["values_cents"], dtype=float),
        budget_cents=int(first["budget_cents"]),
        price_cents=None if first["price_cents"] is None else int(first["price_cents"]),
        annotator_id=np.array([b["annotator_id"] for b in bids]),
        ask_cents=ask,
        capacity=capacity,
        units=units,
        quality=quality,
        paid_cents=tuple(tuple(int(c) for c in b["paid_cents"]) for b in bids),
    )


def clear_round(rnd: LoggedRound, rule: str, price_cents: int | None = None) -> list[list[int]]:
    """Each bid's cent payments (one per winning unit) if ``rule`` had cleared the round.

    Through ``market.mechanisms.clear_bids``, the step the live clearing takes: ``units``
    per bid in row order, quality only for the quality-weighted rules, and the same budget
    fallback when the cents cannot fit the budget.
    """
    price = price_cents if price_cents is not None else rnd.price_cents
    return clear_bids(rule, rnd.ask_cents, rnd.units, values_cents=rnd.values_cents, budget_cents=rnd.budget_cents,
                      quality=rnd.quality, price_cents=price).per_bid


def replay(rounds: list[LoggedRound], rules: tuple[str, ...] = RULES,
           posted_price_cents: int | None = None) -> pd.DataFrame:
    """Tidy table, one row per (round, rule, bid): what each rule would have paid it.

    ``posted_price`` is replayed only where a price is known: the round's own, or
    ``posted_price_cents``. ``live`` marks the rule the round was cleared with, and
    ``matches`` says whether the replay paid that bid exactly what the log says.
    """
    rows = []
    for rnd in rounds:
        for rule in rules:
            price = rnd.price_cents if posted_price_cents is None else posted_price_cents
            if rule == "posted_price" and price is None:
                continue
            paid = clear_round(rnd, rule, price)
            live = rule == rnd.rule
            for i, units in enumerate(paid):
                rows.append({
                    "round_id": rnd.round_id, "rule": rule, "live": live,
                    "annotator_id": rnd.annotator_id[i], "ask_cents": int(rnd.ask_cents[i]),
                    "capacity": int(rnd.capacity[i]), "units_won": len(units),
                    "paid_cents": int(sum(units)),
                    "matches": sorted(units) == sorted(rnd.paid_cents[i]) if live else None,
                })
    return pd.DataFrame(rows)


def replay_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per rule: labels and cents over the replayed rounds; ``reproduces`` for the live rule."""
    per = table.groupby("rule", sort=False).agg(
        rounds=("round_id", "nunique"), labels=("units_won", "sum"), spend_cents=("paid_cents", "sum"))
    per["cents_per_label"] = per["spend_cents"] / per["labels"].where(per["labels"] > 0)
    live = table[table["live"]].groupby("rule")["matches"].all()
    per["reproduces_live"] = live.reindex(per.index)
    return per.reset_index()

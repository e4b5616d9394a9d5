"""``clear``: the single entry point to every auction rule."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from market.mechanisms import rules
from market.mechanisms.inputs import MechanismError, as_quality, as_scalar, as_vector

RULES = (
    "posted_price",
    "first_price",
    "second_price",
    "budget_feasible",
    "quality_second_price",
    "quality_budget_feasible",
)
#: Rules where bidding one's true cost is a dominant strategy (for unit-demand bidders).
TRUTHFUL_RULES = tuple(r for r in RULES if r != "first_price")


@dataclass(frozen=True)
class Clearing:
    """What a round's clearing decided.

    ``winners`` are indices into ``asks`` (cheapest effective ask first; posted price in
    arrival order) and ``payments`` the per-unit payment of each, aligned. ``threshold`` is
    the uniform clearing price in effective units (``None`` for pay-as-bid or no winner).
    ``reason`` says why allocation stopped: ``supply`` (every unit offered won),
    ``demand`` (every unit demanded was bought), ``value`` (the next ask exceeded its
    unit's value), ``budget`` or ``price`` (posted price: no other ask accepted).
    ``demand`` is the number of units the buyer wanted after any cap the budget imposed.
    """

    rule: str
    winners: np.ndarray
    payments: np.ndarray
    threshold: float | None
    reason: str
    demand: int

    @property
    def spend(self) -> float:
        return float(self.payments.sum())

    @property
    def won(self) -> int:
        return int(self.winners.size)

    def as_dict(self) -> dict:
        return {
            "rule": self.rule,
            "winners": self.winners.tolist(),
            "payments": self.payments.tolist(),
            "threshold": self.threshold,
            "reason": self.reason,
            "demand": self.demand,
        }


def clear(rule: str, asks, *, values=None, budget=None, quality=None, price=None) -> Clearing:
    """Clear one sealed-bid round.

    Args:
        rule: one of :data:`RULES`.
        asks: one ask per unit offered (price per label).
        values: the values of the units on offer; their count is the demand. ``None``
            means unlimited demand at unlimited value (not allowed for the second-price
            rules, whose payment is capped by the K-th value).
        budget: the round budget. ``None`` means unlimited (required by the
            budget-feasible rules). The second-price rules, which are not budget-aware,
            cap demand at ``floor(budget / max(values))`` instead; the cap does not depend
            on any ask, so they stay truthful and can never overspend.
        quality: per-unit quality in (0, 1] for the quality-weighted rules (ignored by
            the others; ones when omitted).
        price: the posted price (``posted_price`` only).

    Raises:
        MechanismError: a ``ValueError`` whose ``field`` names the bad argument.
    """
    if rule not in RULES:
        raise MechanismError("rule", f"unknown rule {rule!r}; choose one of {', '.join(RULES)}")
    a = as_vector("asks", asks)
    b = np.inf if budget is None else as_scalar("budget", budget)
    if values is None:
        if rule in ("second_price", "quality_second_price"):
            raise MechanismError("values", f"{rule} needs the items' values: its payment is capped by them")
        v = np.full(a.size, np.inf)
    else:
        v = as_vector("values", values)
        if np.any(v[1:] > v[:-1]):  # already descending, as the market passes them, costs no sort
            v = -np.sort(-v)
    if rule in ("budget_feasible", "quality_budget_feasible") and budget is None:
        raise MechanismError("budget", f"{rule} needs a budget")

    if rule == "posted_price":
        if price is None:
            raise MechanismError("price", "posted_price needs a price")
        p = as_scalar("price", price, positive=True)
        out = rules.posted_price(a, v, b, p)
        demand = min(v.size, int(np.floor(b / p + 1e-9))) if np.isfinite(b) else v.size
        return Clearing(rule, out.winners, out.payments, out.threshold, out.reason, demand)

    if rule == "first_price":
        out = rules.first_price(a, v, b)
        return Clearing(rule, out.winners, out.payments, out.threshold, out.reason, v.size)

    q = as_quality(quality, a.size) if rule.startswith("quality_") else None
    budget_feasible = rule.endswith("budget_feasible")
    if not budget_feasible and np.isfinite(b) and v.size and v[0] > 0:
        v = v[: int(np.floor(b / v[0] + 1e-9))]
    out = rules.uniform_threshold(a, v, b, q, budget_feasible=budget_feasible)
    return Clearing(rule, out.winners, out.payments, out.threshold, out.reason, v.size)

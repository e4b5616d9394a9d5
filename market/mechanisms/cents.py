"""Turning a clearing's payments into whole cents.

The live market clears on integer-cent asks and budgets. A threshold such as ``B / K``
is rarely a whole number of cents, so we floor: flooring never raises spend above the
budget, and because every winner's ask is a whole number of cents at or below its
threshold, flooring never drops a payment below the ask. A tolerance absorbs float error
(34 computed as 33.9999999); if that tolerance ever lifts the total above the budget, the
excess comes back from the payments with the most slack above their asks.
"""

from __future__ import annotations

import numpy as np

from market.mechanisms.clearing import Clearing


def payments_to_cents(clearing: Clearing, asks_cents, budget_cents: int | None = None) -> np.ndarray:
    """Per-winner payments in integer cents, aligned with ``clearing.winners``.

    Guarantees: each payment >= the winner's ask, and the sum <= ``budget_cents``.
    """
    asks = np.asarray(asks_cents, dtype=np.int64)[clearing.winners]
    cents = np.floor(clearing.payments * (1 + 1e-12) + 1e-9).astype(np.int64)
    cents = np.maximum(cents, asks)
    if budget_cents is not None:
        excess = int(cents.sum()) - int(budget_cents)
        if excess > 0:
            slack = cents - asks
            by_slack = np.argsort(-slack, kind="stable")
            taken_before = np.concatenate(([0], np.cumsum(slack[by_slack])[:-1]))
            cut = np.clip(excess - taken_before, 0, slack[by_slack])
            cents[by_slack] -= cut
            if int(cents.sum()) > budget_cents:
                raise ValueError("payments cannot fit the budget without paying a winner below its ask")
    return cents

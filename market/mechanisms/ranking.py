"""Ranking asks: the one sort every rule needs, with deterministic tie-breaking.

Only the ``count + 1`` cheapest asks matter to a clearing (the winners and the first
loser, whose ask sets the price), so when demand is far below supply we partition in
O(n) and sort just those. Ties are broken by index (earlier unit first), always.
"""

from __future__ import annotations

import numpy as np


def cheapest(eff: np.ndarray, count: int) -> np.ndarray:
    """Indices of the ``count + 1`` smallest entries of ``eff`` in (value, index) order."""
    n = eff.size
    take = min(count + 1, n)
    if take == 0:
        return np.empty(0, dtype=np.int64)
    if take < n:
        kth = np.partition(eff, take - 1)[take - 1]
        candidates = np.flatnonzero(eff <= kth)  # ascending index, so a stable sort keeps ties by index
    else:
        candidates = np.arange(n)
    order = candidates[np.argsort(eff[candidates], kind="stable")]
    return order[:take]


def prefix_length(ok: np.ndarray) -> int:
    """Length of the leading run of True: the rules' allocation conditions are monotone in k."""
    if ok.size == 0:
        return 0
    failed = np.flatnonzero(~ok)
    return int(failed[0]) if failed.size else int(ok.size)

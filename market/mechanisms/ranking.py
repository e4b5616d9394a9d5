"""Ranking asks: the one sort every rule needs, with deterministic tie-breaking.

Only the ``count + 1`` cheapest asks matter to a clearing (the winners and the first
loser, whose ask sets the price), so when demand is far below supply we partition in
O(n) and sort just those. Ties are broken by index (earlier unit first), always.
"""

from __future__ import annotations

import numpy as np


def rank(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The order of ``x`` by (value, index), as ``np.lexsort((arange, x))`` for
    non-negative floats, and ``x`` in that order; at about the cost of ``np.sort(x)``.

    ``np.argsort`` costs 2 to 3 times ``np.sort`` (a stable one more), which made a full
    ranking most of the cost of clearing. Instead each value and its index are packed
    into one unsigned 64-bit key and the keys sorted (numpy's vectorised sort): a
    non-negative double's bits order like the double, so its high bits followed by the
    index in the low ``b`` bits (``2**b >= n``) sort by value, then index. Dropping the
    value's low ``b`` bits merges only values within a relative ``2**(b-52)`` of each
    other; where such values differ (a pair out of order in the result shows it), the
    elements sharing those keys are sorted again exactly, so the result is always exact."""
    n = x.size
    if n < 2:
        return np.arange(n), x.copy()
    bits = (n - 1).bit_length()
    low = np.uint64((1 << bits) - 1)
    key = (x + 0.0).view(np.uint64)  # + 0.0: -0.0 (valid, equal to 0) becomes +0.0, whose bits sort first
    key &= ~low
    key |= np.arange(n, dtype=np.uint64)
    key.sort()
    order = (key & low).astype(np.int64)
    s = x[order]
    out_of_order = np.flatnonzero(s[1:] < s[:-1])
    if out_of_order.size:  # re-sort every element whose key's value part is shared with a misplaced one
        high = key >> np.uint64(bits)
        shared = np.unique(high[out_of_order])
        edges = np.zeros(n + 1, dtype=np.int64)
        np.add.at(edges, np.searchsorted(high, shared, "left"), 1)
        np.add.at(edges, np.searchsorted(high, shared, "right"), -1)
        pos = np.flatnonzero(np.cumsum(edges[:-1]))
        sub = order[pos]
        order[pos] = sub[np.lexsort((sub, x[sub]))]
        s[pos] = x[order[pos]]
    return order, s


def cheapest(eff: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the ``count + 1`` smallest entries of ``eff`` in (value, index) order,
    and those entries."""
    n = eff.size
    take = min(count + 1, n)
    if take == 0:
        return np.empty(0, dtype=np.int64), np.empty(0)
    if take == n:
        return rank(eff)
    kth = np.partition(eff, take - 1)[take - 1]
    candidates = np.flatnonzero(eff <= kth)
    order, values = rank(eff[candidates])
    return candidates[order[:take]], values[:take]


def prefix_length(ok: np.ndarray) -> int:
    """Length of the leading run of True: the rules' allocation conditions are monotone in k."""
    if ok.size == 0:
        return 0
    failed = np.flatnonzero(~ok)
    return int(failed[0]) if failed.size else int(ok.size)

"""Clearing 1,000,000 asks with each rule, as a ratio to numpy sorting the same asks.

Target (issue 2): each rule within 3x of ``np.sort`` on the same asks, measured in the
same run. Two demands: 10,000 units (a large live round) and 1,000,000 (every ask could
win, which forces a full ranking).
"""

from __future__ import annotations

import numpy as np

from bench.common import Figure, best_of, show
from market.mechanisms import RULES, clear

N = 1_000_000


def main() -> list[Figure]:
    rng = np.random.default_rng(0)
    asks = rng.lognormal(mean=np.log(0.30), sigma=0.5, size=N)  # dollars per label
    quality = rng.uniform(0.5, 1.0, size=N)
    sort_s = best_of(lambda: np.sort(asks))
    figures = []
    for demand in (10_000, N):
        values = np.full(demand, 1.0)
        budget = 0.4 * demand
        for rule in RULES:
            seconds = best_of(
                lambda: clear(rule, asks, values=values, budget=budget, quality=quality, price=0.35)
            )
            figures.append(
                Figure(
                    bench="mechanisms",
                    what=f"clear {rule}, 1M asks, demand {demand:,}",
                    value=seconds * 1e3,
                    unit="ms",
                    baseline="np.sort(asks)",
                    baseline_value=sort_s * 1e3,
                    target="<= 3x",
                    ok=seconds <= 3 * sort_s,
                )
            )
    show(figures, "Clearing 1,000,000 asks vs np.sort of the same asks")
    return figures


if __name__ == "__main__":
    main()

"""What every benchmark reports: a figure, the baseline it is compared with, the ratio.

Figures are never compared with numbers from another run or another machine: each
benchmark measures its own baseline right beside the thing it measures.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table


@dataclass
class Figure:
    bench: str
    what: str
    value: float
    unit: str
    baseline: str
    baseline_value: float
    target: str  # e.g. "<= 3x" or ">= 500/s"; a ratio target reads against `ratio`
    ok: bool | None = None

    @property
    def ratio(self) -> float:
        return self.value / self.baseline_value if self.baseline_value else float("nan")


def best_of(fn, repeats: int = 5) -> float:
    """Fastest wall time of ``repeats`` calls, in seconds (the least disturbed run)."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def show(figures: list[Figure], title: str) -> None:
    table = Table(title=title)
    for col in ("what", "value", "baseline", "ratio", "target", "ok"):
        table.add_column(col)
    for f in figures:
        ok = "" if f.ok is None else ("yes" if f.ok else "NO")
        table.add_row(
            f.what,
            f"{f.value:.4g} {f.unit}",
            f"{f.baseline}: {f.baseline_value:.4g} {f.unit}",
            f"{f.ratio:.2f}x",
            f.target,
            ok,
        )
    Console(width=160).print(table)

"""The acquisition lab's wall time: 20 ``linear`` seeds with cached features, every arm.

Issue 16's target: at most 10 minutes on 2 cores. The features are the HH cache that
``prefmarket experiment`` builds (``data/experiments/hh-<model>/inputs*.npz``, the largest
there); without one, random features of the same shape (1,154 pairs × 576) stand in, and
the figure says so. The baseline is one seed in this process times 20: the serial cost
that the worker processes spread.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

from app.experiments import lab
from app.experiments.features import LOGGED, Inputs
from bench.common import Figure, show
from policy.model import DEFAULT_MODEL, data_home

SEEDS = 20
TARGET_S = 600.0


def cached_inputs() -> tuple[Path, str]:
    """The largest cached HH inputs file, or a stand-in of HH's shape written to a temp folder."""
    folder = data_home() / "experiments" / f"hh-{DEFAULT_MODEL}"
    found = sorted(folder.glob("inputs*.npz"), key=lambda p: p.stat().st_size)
    if found:
        return found[-1], f"HH features cached in {found[-1].parent.name}/{found[-1].name}"
    rng = np.random.default_rng(0)
    n, d = 1154, 576
    inputs = Inputs(rng.normal(size=(n, d)).astype(np.float32), rng.normal(size=(n, d)).astype(np.float32),
                    rng.normal(size=n) - 60, rng.normal(size=n) - 60, (rng.random(n) < 0.5).astype(float), LOGGED)
    path = Path(tempfile.mkdtemp(prefix="bench-experiment-")) / "inputs.npz"
    inputs.save(path)
    return path, "random stand-in features of HH's shape (no cache built yet)"


def main() -> list[Figure]:
    path, what = cached_inputs()
    inputs = Inputs.load(path)
    settings = lab.Settings()
    t0 = time.perf_counter()
    lab.run_seed(inputs, 1000, lab.ARMS, settings)
    one = time.perf_counter() - t0
    workers = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        lab.run_seeds(path, Path(out), list(range(SEEDS)), lab.ARMS, settings, workers=workers, progress=False)
        wall = time.perf_counter() - t0
    print(f"{what}: {len(inputs)} pairs; {SEEDS} seeds × {len(lab.ARMS)} arms in {wall:.0f} s on {workers} workers")
    figures = [Figure("experiment", f"{SEEDS} linear seeds, {len(lab.ARMS)} arms ({len(inputs)} pairs; {what})",
                      wall, "s", f"{SEEDS} × one seed in process", SEEDS * one, f"<= {TARGET_S:.0f} s",
                      wall <= TARGET_S)]
    show(figures, "acquisition lab")
    return figures


if __name__ == "__main__":
    main()

"""``python -m bench [--runs N] [NAME ...]``: run the benchmarks and write bench/results.md.

Each benchmark module exposes ``main()`` returning a list of :class:`bench.common.Figure`
(a module that only prints returns None and is listed without figures). Every figure
sits beside the baseline it was measured against in the same run, and their ratio.

A benchmark that fails is reported in results.md with its error, the others still run,
and the command exits non-zero. ``--runs N`` runs each benchmark N times and reports,
row by row, the run with the median ratio (for a shared machine). Naming benchmarks
reruns only those: their sections in results.md are replaced and the others kept, each
section saying when and under what load it was measured. Benchmarks measure raw capacity, so per-token rate
limits are off (``PREFMARKET_RATE_LIMIT=0``) unless the environment says otherwise.
"""

from __future__ import annotations

import importlib
import os
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

from app.machine import describe as describe_machine

BENCHMARKS = ("mechanisms", "escrow", "http", "simulate", "quality", "policy", "experiment")
RESULTS = Path(__file__).with_name("results.md")


def _load() -> str:
    try:
        return " / ".join(f"{x:.1f}" for x in os.getloadavg()) + " (1 / 5 / 15 min)"
    except OSError:
        return "unknown"


HEADER = [
    "# Benchmark results",
    "",
    "Written by `make bench` (`python -m bench [NAME ...]`). Every baseline was measured in the same run, "
    "on the same machine, right beside its figure; the ratio is value / baseline. Each section says when it "
    "ran and the load average then: above the CPU count, other work shared the machine and inflated the "
    "absolute times (ratios against a baseline from the same minute are less affected).",
    "",
]


def median_run(runs: list[list]) -> list:
    """Row by row, the figure of the run whose ratio is the median (the lower one of the
    middle two for an even count): a value and its baseline stay from the same run."""
    if not runs or len({len(r) for r in runs}) != 1:
        return runs[-1] if runs else []
    return [sorted(row, key=lambda f: f.ratio)[(len(row) - 1) // 2] for row in zip(*runs)]


def section(name: str, runs: int = 1) -> tuple[list[str], tuple[str, int, float, bool]]:
    """Run ``bench_<name>.main()`` ``runs`` times; its results.md section (each row the
    median run's, see :func:`median_run`) and its row for the runs table."""
    start = f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {describe_machine()}, load {_load()} at the start"
    t0 = time.perf_counter()
    try:
        module = importlib.import_module(f"bench.bench_{name}")
        figures = median_run([module.main() or [] for _ in range(runs)])
        error = None
    except Exception:  # noqa: BLE001 - reported in results.md, the other benchmarks still run
        figures, error = [], traceback.format_exc()
    took = time.perf_counter() - t0
    median = f"; each row the median of {runs} runs by ratio" if runs > 1 else ""
    lines = [f"## {name}", "", f"_{start}; {took:.0f} s{median}; load {_load()} at the end._", ""]
    if error is not None:
        return lines + ["**failed:**", "", "```", error.strip()[-3000:], "```", ""], (name, 0, took, False)
    lines += ["| what | value | baseline | ratio | target | met |", "|---|---|---|---|---|---|"]
    for f in figures:
        met = "" if f.ok is None else ("yes" if f.ok else "**no**")
        lines.append(
            f"| {f.what} | {f.value:.4g} {f.unit} | {f.baseline}: {f.baseline_value:.4g} {f.unit} "
            f"| {f.ratio:.2f}x | {f.target} | {met} |"
        )
    return lines + [""], (name, len(figures), took, True)


def sections_of(text: str) -> dict[str, list[str]]:
    """The ``## name`` sections of an earlier results.md (the runs table is rebuilt, not kept)."""
    found: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("## "):
            current = line[3:].strip()
            found[current] = []
        if current is not None:
            found[current].append(line)
    found.pop("Runs", None)
    return found


def run(names: list[str], earlier: str = "", runs: int = 1) -> tuple[str, list[str]]:
    """Run ``names`` (each ``runs`` times); the other benchmarks' sections of ``earlier``
    are kept as they were."""
    kept = sections_of(earlier)
    fresh, summary = {}, []
    for name in names:
        fresh[name], row = section(name, runs)
        summary.append(row)
    lines = list(HEADER)
    for name in BENCHMARKS:
        if name in fresh:
            lines += fresh[name]
        elif name in kept:
            lines += kept[name] + ([""] if kept[name][-1] else [])
    lines += ["## Runs", "", "This invocation's benchmarks:", "",
              "| benchmark | figures | seconds | ok |", "|---|---|---|---|"]
    lines += [f"| {n} | {k} | {s:.0f} | {'yes' if ok else '**failed**'} |" for n, k, s, ok in summary]
    lines.append("")
    return "\n".join(lines), [n for n, _, _, ok in summary if not ok]


def main(argv: list[str]) -> None:
    runs = 1
    if argv[:1] == ["--runs"]:
        if len(argv) < 2 or not argv[1].isdigit() or int(argv[1]) < 1:
            sys.exit("--runs: give a whole number of runs, at least 1 (e.g. --runs 3)")
        runs, argv = int(argv[1]), argv[2:]
    unknown = [n for n in argv if n not in BENCHMARKS]
    if unknown:
        sys.exit(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    os.environ.setdefault("PREFMARKET_RATE_LIMIT", "0")
    text, failed = run(argv or list(BENCHMARKS), RESULTS.read_text() if argv and RESULTS.exists() else "", runs)
    RESULTS.write_text(text)
    print(f"wrote {RESULTS}")
    if failed:
        sys.exit(f"benchmark(s) failed: {', '.join(failed)} (see {RESULTS})")


if __name__ == "__main__":
    main(sys.argv[1:])

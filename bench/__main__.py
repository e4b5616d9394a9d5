"""``python -m bench [NAME ...]``: run the benchmarks and write bench/results.md.

Each benchmark module exposes ``main()`` returning a list of :class:`bench.common.Figure`
(a module that only prints returns None and is listed without figures). Every figure
sits beside the baseline it was measured against in the same run, and their ratio.

A benchmark that fails is reported in results.md with its error, the others still run,
and the command exits non-zero. Benchmarks measure raw capacity, so per-token rate
limits are off (``PREFMARKET_RATE_LIMIT=0``) unless the environment says otherwise.
"""

from __future__ import annotations

import importlib
import os
import platform
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

BENCHMARKS = ("mechanisms", "http", "simulate", "quality", "policy")
RESULTS = Path(__file__).with_name("results.md")


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}"


def _load() -> str:
    try:
        return " / ".join(f"{x:.1f}" for x in os.getloadavg()) + " (1 / 5 / 15 min)"
    except OSError:
        return "unknown"


def run(names: list[str]) -> tuple[str, list[str]]:
    lines = [
        "# Benchmark results",
        "",
        f"Run {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {_machine()}, with `make bench` "
        "(`python -m bench`). Every baseline was measured in the same run, on the same machine, "
        "right beside its figure; the ratio is value / baseline. Load average when it started: "
        f"{_load()} (above the CPU count, other work shared the machine and inflated the times).",
        "",
    ]
    failed = []
    summary = []
    for name in names:
        t0 = time.perf_counter()
        try:
            module = importlib.import_module(f"bench.bench_{name}")
            figures = module.main() or []
            error = None
        except Exception:  # noqa: BLE001 - reported in results.md, the other benchmarks still run
            figures, error = [], traceback.format_exc()
            failed.append(name)
        took = time.perf_counter() - t0
        summary.append((name, len(figures), took, error is None))
        lines += [f"## {name}", "", f"_{took:.0f} s._", ""]
        if error is not None:
            lines += ["**failed:**", "", "```", error.strip()[-3000:], "```", ""]
            continue
        lines += ["| what | value | baseline | ratio | target | met |", "|---|---|---|---|---|---|"]
        for f in figures:
            met = "" if f.ok is None else ("yes" if f.ok else "**no**")
            lines.append(
                f"| {f.what} | {f.value:.4g} {f.unit} | {f.baseline}: {f.baseline_value:.4g} {f.unit} "
                f"| {f.ratio:.2f}x | {f.target} | {met} |"
            )
        lines.append("")
    lines += ["## Runs", "", f"Load average at the end: {_load()}.", "",
              "| benchmark | figures | seconds | ok |", "|---|---|---|---|"]
    lines += [f"| {n} | {k} | {s:.0f} | {'yes' if ok else '**failed**'} |" for n, k, s, ok in summary]
    lines.append("")
    return "\n".join(lines), failed


def main(argv: list[str]) -> None:
    unknown = [n for n in argv if n not in BENCHMARKS]
    if unknown:
        sys.exit(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    os.environ.setdefault("PREFMARKET_RATE_LIMIT", "0")
    text, failed = run(argv or list(BENCHMARKS))
    RESULTS.write_text(text)
    print(f"wrote {RESULTS}")
    if failed:
        sys.exit(f"benchmark(s) failed: {', '.join(failed)} (see {RESULTS})")


if __name__ == "__main__":
    main(sys.argv[1:])

"""``python -m bench [NAME ...]``: run the benchmarks and write bench/results.md.

Each benchmark module exposes ``main()`` returning a list of :class:`bench.common.Figure`
(a module that only prints returns None and is listed without figures).
"""

from __future__ import annotations

import importlib
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path

BENCHMARKS = ("mechanisms", "http", "simulate", "quality", "policy")
RESULTS = Path(__file__).with_name("results.md")


def run(names: list[str]) -> str:
    lines = [
        "# Benchmark results",
        "",
        f"Run {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {platform.machine()}, "
        f"{platform.python_version()}; every baseline was measured in the same run.",
        "",
    ]
    for name in names:
        module = importlib.import_module(f"bench.bench_{name}")
        figures = module.main() or []
        lines += [f"## {name}", "", "| what | value | baseline | ratio | target | met |", "|---|---|---|---|---|---|"]
        for f in figures:
            met = "" if f.ok is None else ("yes" if f.ok else "**no**")
            lines.append(
                f"| {f.what} | {f.value:.4g} {f.unit} | {f.baseline}: {f.baseline_value:.4g} {f.unit} "
                f"| {f.ratio:.2f}x | {f.target} | {met} |"
            )
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    unknown = [n for n in argv if n not in BENCHMARKS]
    if unknown:
        sys.exit(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    RESULTS.write_text(run(argv or list(BENCHMARKS)))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main(sys.argv[1:])

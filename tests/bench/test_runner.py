"""``python -m bench NAME``: rerunning one benchmark replaces its section and keeps the others."""

from __future__ import annotations

import importlib

runner = importlib.import_module("bench.__main__")

EARLIER = """# Benchmark results

old header

## mechanisms

_old run._

| what | value |
|---|---|
| clear | 1 ms |

## policy

_old policy._

| adpo | 7 s |

## Runs

| benchmark | figures | seconds | ok |
"""


def test_a_named_rerun_replaces_its_section_and_keeps_the_others(monkeypatch):
    monkeypatch.setattr(runner, "section", lambda name, runs=1: ([f"## {name}", "", "_new run._", ""], (name, 1, 2.0, True)))
    text, failed = runner.run(["policy"], EARLIER)
    assert failed == []
    assert "| clear | 1 ms |" in text and "_old run._" in text  # mechanisms kept as it was
    assert "_old policy._" not in text and "_new run._" in text  # policy replaced
    assert text.index("## mechanisms") < text.index("## policy") < text.index("## Runs")
    assert text.count("## Runs") == 1 and "old header" not in text


def test_a_failing_benchmark_is_reported_and_named(monkeypatch):
    monkeypatch.setattr(runner, "section", lambda name, runs=1: ([f"## {name}", "", "**failed:**", ""], (name, 0, 1.0, False)))
    text, failed = runner.run(["quality", "policy"])
    assert failed == ["quality", "policy"] and text.count("**failed**") == 2


def test_each_row_is_the_run_with_the_median_ratio():
    from bench.common import Figure

    def fig(value, baseline):
        return Figure("b", "row", value, "ms", "base", baseline, "<= 3x")

    runs = [[fig(10, 5), fig(1, 1)], [fig(30, 10), fig(4, 1)], [fig(8, 2), fig(2, 1)]]
    rows = runner.median_run(runs)
    assert [(f.value, f.baseline_value) for f in rows] == [(30, 10), (2, 1)]  # ratios 2, 3, 4 and 1, 4, 2

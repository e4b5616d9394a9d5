"""The machine a measurement ran on, as results files and benchmarks state it."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def describe() -> str:
    """``"2 CPU cores (AMD EPYC ...), Python 3.11.7"``: enough to tell two results' machines apart."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPU cores ({cpu}), Python {platform.python_version()}"

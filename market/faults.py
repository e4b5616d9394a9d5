"""Crash-test hooks: stop the server at a named point, mid-transaction, so a test can kill it there.

Off unless ``PREFMARKET_FAULT_DIR`` names a folder (read once, at import). A test arms a
point by creating ``<dir>/<point>.arm``; the first request of any worker process to reach
that point claims the file (an atomic unlink, so exactly one does), writes
``<dir>/<point>.reached`` holding its pid, and sleeps ``PREFMARKET_FAULT_SLEEP_S`` seconds
(default 120) with its transaction open and its writes flushed but not committed. The
test waits for ``.reached`` and sends SIGKILL: the database must then show the work
either wholly done or not at all (``tests/hardening/test_crash.py``).

Points (see the routes): ``clear`` (a round's clearing flushed: assignments, escrow,
state; not committed), ``clear.committed`` (just after that commit), ``settle`` (releases
flushed, not committed), ``label`` (label and payment flushed, not committed).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

_DIR = os.environ.get("PREFMARKET_FAULT_DIR") or None
POINTS = ("clear", "clear.committed", "settle", "label")


def point(name: str) -> None:
    """Pause here if a test armed ``name`` (a no-op unless PREFMARKET_FAULT_DIR is set)."""
    if _DIR is None:
        return
    folder = Path(_DIR)
    try:
        (folder / f"{name}.arm").unlink()
    except FileNotFoundError:
        return
    (folder / f"{name}.reached").write_text(str(os.getpid()))
    time.sleep(float(os.environ.get("PREFMARKET_FAULT_SLEEP_S", "120")))

"""The market's one clock.

Deadlines (bidding, labelling) are compared against ``now()``; tests replace this
function to move time without sleeping. Times are timezone-aware UTC (SQLModel's
datetime columns store UTC and hand it back aware, on SQLite and Postgres alike).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def now() -> datetime:
    """Current time, aware UTC."""
    return datetime.now(UTC)


def later(seconds: float) -> datetime:
    """``now()`` plus ``seconds``."""
    return now() + timedelta(seconds=seconds)

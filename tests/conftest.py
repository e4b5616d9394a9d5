"""Which database the tests run on.

Without ``DATABASE_URL`` (or with a SQLite one) every test gets a new SQLite file in its
temp folder, as before. When ``DATABASE_URL`` names a PostgreSQL database (``.ci/run``
starts one with ``.ci/postgres.sh``), every test gets a fresh schema in it instead: the
URL it is handed carries ``options=-csearch_path=<schema>``, so the app, a subprocess
server started with that URL, and Alembic all see only that test's tables. The schema is
dropped when the test ends.

Use the ``database_url`` fixture (function scope) or ``database_url_factory`` (session
scope: ``factory(folder)`` returns a URL, dropped at the end of the session).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

_counter = itertools.count()

# Per-token rate limits stay off in tests (servers started by tests inherit this); the
# hardening test for them turns them on for its own app.
os.environ.setdefault("PREFMARKET_RATE_LIMIT", "0")
# One fixed server secret for the whole suite (servers started by tests inherit it), so the
# keyed gold draws are the same on every run and a figure cannot pass here and fail in CI on
# a different draw. tests/market/test_secret.py unsets it to test the stored secret.
os.environ.setdefault("PREFMARKET_SECRET", "the-test-suite-secret-0123456789")


def _server_url() -> str | None:
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith("postgresql") else None


def on_postgres() -> bool:
    return _server_url() is not None


class _Schemas:
    """Creates and drops one schema per test on the Postgres server named by DATABASE_URL."""

    def __init__(self, url: str):
        from sqlalchemy import create_engine
        from sqlalchemy.pool import NullPool

        self.url = url
        self.admin = create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")

    def create(self) -> tuple[str, str]:
        name = f"t{os.getpid()}_{next(_counter)}"
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{name}"')
        sep = "&" if "?" in self.url else "?"
        return name, f"{self.url}{sep}options={quote(f'-csearch_path={name}')}"

    def drop(self, name: str) -> None:
        try:
            with self.admin.connect() as conn:
                conn.exec_driver_sql("SET lock_timeout = '5s'")
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        except Exception:  # noqa: BLE001 - a leftover schema only costs disk in a throwaway cluster
            pass


@pytest.fixture(scope="session")
def _schemas() -> Iterator[_Schemas | None]:
    url = _server_url()
    if url is None:
        yield None
        return
    s = _Schemas(url)
    yield s
    s.admin.dispose()


@pytest.fixture(scope="session")
def database_url_factory(_schemas) -> Iterator[Callable[[Path], str]]:
    """``factory(folder)``: a new, empty database URL (SQLite file in ``folder`` or a Postgres schema)."""
    made: list[str] = []

    def make(folder: Path, name: str = "market") -> str:
        if _schemas is None:
            return f"sqlite:///{Path(folder) / f'{name}.db'}"
        schema, url = _schemas.create()
        made.append(schema)
        return url

    yield make
    if _schemas is not None:
        for schema in made:
            _schemas.drop(schema)


@pytest.fixture
def database_url(_schemas, tmp_path) -> Iterator[str]:
    """A new, empty database for this test: a SQLite file in tmp_path, or a Postgres schema."""
    if _schemas is None:
        yield f"sqlite:///{tmp_path / 'market.db'}"
        return
    schema, url = _schemas.create()
    yield url
    _schemas.drop(schema)

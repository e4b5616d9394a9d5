"""Fixtures for the hardening tests.

- ``engine`` / ``app`` / ``admin``: an in-process market on this test's database (SQLite
  file, or a Postgres schema when DATABASE_URL names a server; see tests/conftest.py).
- ``Server``: a real ``prefmarket serve`` subprocess (several uvicorn workers) on a free
  loopback port, in its own process group so a test can SIGKILL the whole server.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from market import accounts, db
from market.api.app import create_app
from market.client import MarketClient

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def engine(database_url):
    eng = db.make_engine(database_url)
    db.init_db(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def admin_token(engine) -> str:
    with db.session_scope(engine) as s:
        _, token = accounts.create_account(s, "root", "admin")
        s.commit()
    return token


@pytest.fixture
def app(engine):
    return create_app(engine)


@pytest.fixture
def http(app):
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def admin(http, admin_token) -> MarketClient:
    return MarketClient("http://testserver", admin_token, transport=http)


def account(admin: MarketClient, name: str, role: str) -> tuple[MarketClient, dict]:
    acct = admin.create_account(name, role)
    return admin.with_token(acct["token"]), acct


def pairs_jsonl(n: int, start: int = 0) -> str:
    return "".join(
        json.dumps({"prompt": f"Review movie {i}", "completion_a": f"Great film {i}!", "completion_b": f"Bad film {i}."})
        + "\n"
        for i in range(start, start + n)
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``prefmarket serve`` in a subprocess (its own process group), on 127.0.0.1."""

    def __init__(self, database_url: str, log_path: Path, *, workers: int = 2, env: dict | None = None):
        self.database_url = database_url
        self.log_path = log_path
        self.workers = workers
        self.extra_env = dict(env or {})
        self.proc: subprocess.Popen | None = None
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self, env: dict | None = None, timeout: float = 60.0) -> Server:
        environ = {**os.environ, "DATABASE_URL": self.database_url, "PREFMARKET_SWEEP_S": "0",
                   **self.extra_env, **(env or {})}
        environ.setdefault("PREFMARKET_RATE_LIMIT", "0")
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port),
             "--workers", str(self.workers), "--sweep-interval", "0", "--log-level", "warning"],
            cwd=ROOT, env=environ, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/v1/health", timeout=1.0).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"server did not answer within {timeout:.0f} s:\n{self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the whole process group (the uvicorn supervisor and every worker) and reap it."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:  # pragma: no cover
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
        self.proc = None
        self._log.close()

    def stop(self) -> None:
        self.kill(signal.SIGTERM)


@pytest.fixture
def server_factory(database_url, tmp_path):
    """``server_factory(workers=2, env={...})``: a started Server; all are killed at teardown."""
    started: list[Server] = []

    def make(workers: int = 2, env: dict | None = None) -> Server:
        s = Server(database_url, tmp_path / f"server{len(started)}.log", workers=workers, env=env)
        started.append(s)
        return s.start()

    yield make
    for s in started:
        s.kill()


@pytest.fixture
def snapshot(engine):
    """A function returning every row of every table: equal snapshots mean nothing changed."""
    from sqlalchemy import select
    from sqlmodel import SQLModel

    def take():
        with engine.connect() as conn:
            return {t.name: sorted(map(repr, conn.execute(select(t)).all())) for t in SQLModel.metadata.sorted_tables}

    return take

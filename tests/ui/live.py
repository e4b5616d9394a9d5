"""A real market API for the portal tests: uvicorn on 127.0.0.1 (a free port), in a
background thread of the test process, over a temp SQLite file or the URL it is given
(``tests/conftest.py`` hands out a fresh Postgres schema when CI runs on Postgres).

The admin is created directly in the database (there is no other way to get the first
token); everything else goes through ``MarketClient`` over HTTP like the portal does.
Fixtures built on this live in ``conftest.py``.
"""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn

from market import accounts, db
from market.api.app import create_app
from market.client import MarketClient

PORTAL = str(Path(__file__).resolve().parents[2] / "ui" / "portal.py")
_names = itertools.count()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


@dataclass
class Api:
    url: str
    admin: MarketClient

    def account(self, role: str, name: str | None = None) -> tuple[MarketClient, dict]:
        """A new account of ``role`` (unique name) and a client acting as it."""
        acct = self.admin.create_account(name or f"{role}-{next(_names)}", role)
        return self.admin.with_token(acct["token"]), acct


@contextmanager
def running_api(folder: Path, database_url: str | None = None) -> Iterator[Api]:
    """A market API on a free loopback port over ``database_url`` (default: a new SQLite file in ``folder``)."""
    engine = db.make_engine(database_url or f"sqlite:///{folder / 'market.db'}")
    db.init_db(engine)
    with db.session_scope(engine) as s:
        _, admin_token = accounts.create_account(s, "root", "admin")
        s.commit()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(engine), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    client = MarketClient(url, admin_token)
    try:
        wait_http(f"{url}/v1/health")
        yield Api(url, client)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        client.close()
        engine.dispose()


def pairs_jsonl(n: int, tag: str = "") -> str:
    return "".join(json.dumps({
        "prompt": f"Write a short review of film {tag}{i}.",
        "completion_a": f"A warm, funny film {tag}{i}: loved every minute.",
        "completion_b": f"Film {tag}{i} exists.",
    }) + "\n" for i in range(n))


CAMPAIGN = dict(budget_cents=2000, max_price_cents=50, rule="second_price", labels_per_item=1, round_size=5,
                round_duration_s=300)


QC_CAMPAIGN = dict(budget_cents=100_000, max_price_cents=50, rule="second_price", labels_per_item=1, round_size=12,
                   round_duration_s=300, gold_rate=0.25, min_gold_answers=4, quality_bar=0.65, quality_confidence=0.8,
                   probation_share=0.5)
"""Quality control on: judged after 4 gold answers against a bar of 0.65 (as tests/quality)."""

"""Fixtures: a fresh SQLite market per test, an admin token, and client factories."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from market import accounts, db
from market.api.app import create_app
from market.client import MarketClient


@pytest.fixture
def engine(database_url):
    eng = db.make_engine(database_url)
    db.init_db(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def app(engine):
    return create_app(engine)


@pytest.fixture
def http(app):
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def admin_token(engine):
    with db.session_scope(engine) as s:
        _, token = accounts.create_account(s, "root", "admin")
        s.commit()
    return token


class Market:
    """Clients for the roles a test needs, all in-process."""

    def __init__(self, http: TestClient, admin_token: str):
        self.http = http
        self.admin = MarketClient("http://testserver", admin_token, transport=http)

    def account(self, name: str, role: str) -> tuple[MarketClient, dict]:
        acct = self.admin.create_account(name, role)
        return self.admin.with_token(acct["token"]), acct

    def requester(self, name: str = "req") -> MarketClient:
        return self.account(name, "requester")[0]

    def annotators(self, n: int, prefix: str = "ann") -> list[MarketClient]:
        return [self.account(f"{prefix}{i}", "annotator")[0] for i in range(n)]


@pytest.fixture
def market(http, admin_token) -> Market:
    return Market(http, admin_token)


@pytest.fixture
def snapshot(engine):
    """A function returning every row of every table: equal snapshots mean nothing changed."""
    from sqlalchemy import select
    from sqlmodel import SQLModel

    def take():
        with engine.connect() as conn:
            return {t.name: [tuple(r) for r in conn.execute(select(t)).all()] for t in SQLModel.metadata.sorted_tables}

    return take


@pytest.fixture
def pairs():
    return pairs_jsonl


@pytest.fixture
def campaign_fields():
    return dict(CAMPAIGN)


def pairs_jsonl(n: int, start: int = 0) -> str:
    import json

    return "".join(
        json.dumps({"prompt": f"Review movie {i}", "completion_a": f"Great film {i}!", "completion_b": f"Bad film {i}."})
        + "\n"
        for i in range(start, start + n)
    )


CAMPAIGN = dict(
    name="c", budget_cents=2000, max_price_cents=50, rule="second_price", labels_per_item=1, round_size=25,
    round_duration_s=300,
)

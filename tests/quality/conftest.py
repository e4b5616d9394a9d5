"""Fixtures: an in-process market (SQLite per test, or a Postgres schema) with quality control."""

from __future__ import annotations

import json

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
def http(engine):
    with TestClient(create_app(engine), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def admin(engine, http) -> MarketClient:
    with db.session_scope(engine) as s:
        _, token = accounts.create_account(s, "root", "admin")
        s.commit()
    return MarketClient("http://testserver", token, transport=http)


def account(admin: MarketClient, name: str, role: str) -> MarketClient:
    return admin.with_token(admin.create_account(name, role)["token"])


def pairs(n: int, *, start: int = 0, gold: bool = False) -> str:
    """``n`` pairs; the better completion says "good", on side a for even i and b for odd i.
    Gold lines carry the answer and ``gold_check: true``."""
    lines = []
    for i in range(start, start + n):
        good_a = i % 2 == 0
        row = {"prompt": f"Review movie {i}",
               "completion_a": f"good film {i}" if good_a else f"bad film {i}",
               "completion_b": f"bad film {i}" if good_a else f"good film {i}"}
        if gold:
            row |= {"gold": "a" if good_a else "b", "gold_check": True}
        lines.append(json.dumps(row))
    return "\n".join(lines) + "\n"


def honest(assignment: dict) -> str:
    return "a" if assignment["completion_a"].startswith("good") else "b"


QC_CAMPAIGN = dict(
    name="qc", budget_cents=100_000, max_price_cents=50, rule="second_price", labels_per_item=1, round_size=20,
    round_duration_s=300, gold_rate=0.25, min_gold_answers=4, quality_bar=0.65, quality_confidence=0.8,
    probation_share=0.5,
)

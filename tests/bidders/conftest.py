"""Fixtures: small simulator configs, and an in-process market for the bots."""

from __future__ import annotations

import copy

import pytest
from fastapi.testclient import TestClient

from bidders.config import SimulationConfig, parse_config

SMALL = {
    "population": {"size": 60, "capacity_max": 1},
    "market": {"rounds": 300, "round_size": 20, "round_budget": 6.0},
    "run": {"seeds": [0], "workers": 1, "regret_every": 10, "regret_bidders": 3},
}


def merged(base: dict, extra: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        out[key] = merged(out.get(key, {}), value) if isinstance(value, dict) else value
    return out


@pytest.fixture(scope="session")
def small_config():
    """``small_config(**sections)``: the SMALL config with sections merged over it."""

    def make(**sections) -> SimulationConfig:
        return parse_config(merged(SMALL, sections))

    return make


@pytest.fixture
def admin(database_url):
    """A client with an admin token on a fresh in-process market (SQLite in tmp_path)."""
    from market import accounts, db
    from market.api.app import create_app
    from market.client import MarketClient

    engine = db.make_engine(database_url)
    db.init_db(engine)
    with db.session_scope(engine) as session:
        _, token = accounts.create_account(session, "root", "admin")
        session.commit()
    with TestClient(create_app(engine)) as http:
        yield MarketClient("http://testserver", token, transport=http)
    engine.dispose()

"""The server secret behind the gold draws: made once, kept, shared, never served."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from market import db, secret
from market.api.app import create_app
from market.tables import ServerSecret


@pytest.fixture
def no_env_secret(monkeypatch):
    monkeypatch.delenv(secret.ENV, raising=False)


def _stored(engine) -> str | None:
    with Session(engine) as s:
        row = s.get(ServerSecret, secret.ROW_ID)
        return None if row is None else row.value


def test_the_first_start_writes_a_random_secret_and_later_starts_keep_it(engine, no_env_secret):
    assert _stored(engine) is None
    create_app(engine)
    first = _stored(engine)
    assert first is not None and len(first) >= secret.MIN_CHARS
    create_app(engine)  # a restart, or a second process on the same database
    assert _stored(engine) == first
    with Session(engine) as s:
        assert secret.key(s) == first.encode()


def test_two_markets_draw_differently_and_one_market_draws_the_same(tmp_path, no_env_secret):
    keys = []
    for name in ("a", "b"):
        eng = db.make_engine(f"sqlite:///{tmp_path / name}.db")
        db.init_db(eng)
        create_app(eng)
        with Session(eng) as s:
            keys.append(secret.key(s))
        eng.dispose()
    assert keys[0] != keys[1]
    draws = [[secret.uniform(k, "gold-share", 7, 3) for _ in range(2)] for k in keys]
    assert draws[0][0] == draws[0][1] and draws[0][0] != draws[1][0]


def test_the_environment_secret_wins_and_nothing_is_stored(engine, monkeypatch):
    monkeypatch.setenv(secret.ENV, "an-operator-chosen-secret")
    create_app(engine)
    assert _stored(engine) is None
    with Session(engine) as s:
        assert secret.key(s) == b"an-operator-chosen-secret"


def test_a_short_environment_secret_is_refused_with_what_to_fix(engine, monkeypatch):
    monkeypatch.setenv(secret.ENV, "short")
    with pytest.raises(ValueError, match=f"{secret.ENV}: must be at least {secret.MIN_CHARS} characters"):
        create_app(engine)


def test_no_route_serves_the_secret(engine, no_env_secret):
    from fastapi.testclient import TestClient

    from market import accounts

    app = create_app(engine)
    value = _stored(engine)
    with db.session_scope(engine) as s:
        _, token = accounts.create_account(s, "root", "admin")
        s.commit()
    with TestClient(app) as http:
        headers = {"Authorization": f"Bearer {token}"}
        spec = http.get("/openapi.json")
        assert value not in spec.text
        paths = [p for p, ops in spec.json()["paths"].items() if "get" in ops and "{" not in p]
        assert "/v1/health" in paths and len(paths) > 5
        for path in paths:
            body = http.get(path, headers=headers).text
            assert value not in body, path

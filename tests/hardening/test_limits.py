"""Request size limits (413 with a message) and per-token rate limits (429 with Retry-After)."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from market import accounts, db
from market.api.app import create_app

from .conftest import pairs_jsonl

CAMPAIGN = {"name": "c", "budget_cents": 1000, "max_price_cents": 50, "rule": "second_price"}


def _token(engine, role="requester", name="someone"):
    with db.session_scope(engine) as s:
        _, token = accounts.create_account(s, name, role)
        s.commit()
    return token


def _auth(token):
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def small(engine):
    """An app whose JSON bodies may carry 2 KB and uploads 8 KB."""
    app = create_app(engine, max_body_bytes=2048, max_upload_bytes=8192, rate_limit="0")
    with TestClient(app, raise_server_exceptions=False) as http:
        yield http


def test_a_declared_body_over_the_limit_is_refused_with_413_and_changes_nothing(small, engine, snapshot):
    token = _token(engine)
    before = snapshot()
    body = {**CAMPAIGN, "name": "x" * 4000}
    r = small.post("/v1/campaigns", json=body, headers=_auth(token))
    assert r.status_code == 413
    assert r.json()["detail"] == "body: request bodies are limited to 2048 bytes"
    assert snapshot() == before
    ok = small.post("/v1/campaigns", json=CAMPAIGN, headers=_auth(token))
    assert ok.status_code == 201, ok.text


def test_a_streamed_body_over_the_limit_is_refused_too(small, engine, snapshot):
    token = _token(engine)
    before = snapshot()

    def chunks():  # no Content-Length: the limit is enforced while reading
        yield b'{"name": "'
        for _ in range(10):
            yield b"y" * 500
        yield b'", "budget_cents": 1000, "max_price_cents": 50, "rule": "second_price"}'

    r = small.post("/v1/campaigns", content=chunks(), headers={**_auth(token), "Content-Type": "application/json"})
    assert r.status_code == 413 and "limited to 2048 bytes" in r.json()["detail"]
    assert snapshot() == before


def test_uploads_have_their_own_larger_limit(small, engine):
    token = _token(engine)
    cid = small.post("/v1/campaigns", json=CAMPAIGN, headers=_auth(token)).json()["id"]
    text = pairs_jsonl(60)  # about 4 KB: over the JSON limit, under the upload limit
    assert 2048 < len(text.encode()) < 8192
    r = small.post(f"/v1/campaigns/{cid}/items", content=text,
                   headers={**_auth(token), "Content-Type": "application/x-ndjson"})
    assert r.status_code == 201 and r.json()["imported"] == 60
    big = pairs_jsonl(200)
    r = small.post(f"/v1/campaigns/{cid}/items", content=big,
                   headers={**_auth(token), "Content-Type": "application/x-ndjson"})
    assert r.status_code == 413
    assert r.json()["detail"] == "body: uploads are limited to 8192 bytes; split the file"
    assert len(small.get(f"/v1/campaigns/{cid}/items", headers=_auth(token)).json()) == 60


def test_default_limits_are_generous_but_finite(engine):
    app = create_app(engine, rate_limit="0")
    assert app.state.limits["max_body_bytes"] == 16 * 1024 * 1024
    with TestClient(app, raise_server_exceptions=False) as http:
        token = _token(engine)
        r = http.post("/v1/campaigns", content=b"{}", headers={**_auth(token), "Content-Type": "application/json",
                                                             "Content-Length": str(17 * 1024 * 1024)})
        assert r.status_code == 413


def test_each_token_is_rate_limited_with_429_and_retry_after(engine):
    # a slow refill (one request per 0.5 s), so six quick requests on a loaded machine still
    # come faster than the bucket refills (each request looks its token up in the database)
    app = create_app(engine, rate_limit="2/5")
    assert app.state.limits["rate_limit"] == (2.0, 5.0)
    busy, calm = _token(engine, name="busy"), _token(engine, name="calm")
    with TestClient(app, raise_server_exceptions=False) as http:
        codes = [http.get("/v1/me", headers=_auth(busy)).status_code for _ in range(5)]
        assert codes == [200] * 5
        r = http.get("/v1/me", headers=_auth(busy))
        assert r.status_code == 429
        assert int(r.headers["Retry-After"]) >= 1
        assert "rate limit" in r.json()["detail"] and "2 requests per second" in r.json()["detail"]
        # other tokens, and calls without one, are not held back by it
        assert http.get("/v1/me", headers=_auth(calm)).status_code == 200
        assert http.get("/v1/health").status_code == 200
        time.sleep(0.55)  # the bucket refills at 2 per second
        assert http.get("/v1/me", headers=_auth(busy)).status_code == 200


def test_rate_limit_settings_parse_and_refuse_nonsense():
    from market.api.middleware import parse_rate

    assert parse_rate("0") is None and parse_rate("off") is None and parse_rate(None) is None
    assert parse_rate("10") == (10.0, 20.0)
    assert parse_rate("2.5/7") == (2.5, 7.0)
    for bad in ("-1", "x", "5/0", "inf"):
        with pytest.raises(ValueError):
            parse_rate(bad)


def test_the_client_waits_out_a_rate_limit_and_resends(engine):
    from market.client import MarketClient

    app = create_app(engine, rate_limit="4/1")
    token = _token(engine, name="patient")
    with TestClient(app, raise_server_exceptions=False) as http:
        client = MarketClient("http://testserver", token, transport=http)
        t0 = time.monotonic()
        names = [client.me()["name"] for _ in range(3)]  # the 2nd and 3rd wait for the bucket
        assert names == ["patient"] * 3
        assert time.monotonic() - t0 >= 0.4


def test_every_id_in_a_path_is_checked_against_the_64_bit_range(engine):
    """An id past 2**63 - 1 is refused with 422 on every route (Postgres raised 'bigint out of
    range' as a 500 where one route took a plain int)."""
    import re

    app = create_app(engine)
    token = _token(engine, role="admin", name="root")
    checked = 0
    with TestClient(app) as http:
        for path, operations in app.openapi()["paths"].items():
            names = re.findall(r"{(\w+_id)}", path)
            if not names:
                continue
            url = re.sub(r"{\w+_id}", str(2**63), path)
            for method in operations:
                r = http.request(method.upper(), url, headers=_auth(token), json={})
                if r.status_code == 403:  # a route for another role refuses the admin first: fine
                    continue
                assert r.status_code == 422, (method, path, r.status_code, r.text[:200])
                assert any(n in r.text for n in names), (method, path, r.text[:200])  # the field is named
                checked += 1
    assert checked >= 15  # the admin's routes with an id in the path, not none

"""Authentication, roles, ownership, and the shape of errors."""

from __future__ import annotations

import pytest

from market.client import MarketClient, MarketError


def test_health_needs_no_token(http):
    assert http.get("/v1/health").json() == {"ok": True}


@pytest.mark.parametrize("header", [None, "Bearer nope", "Bearer pm_wrong", "Basic abc", "Bearer "])
def test_wrong_or_missing_token_is_401(http, header):
    headers = {"Authorization": header} if header else {}
    r = http.get("/v1/me", headers=headers)
    assert r.status_code == 401
    assert isinstance(r.json()["detail"], str) and "token" in r.json()["detail"]


def test_token_is_stored_hashed_and_new_tokens_work(market, engine):
    from sqlmodel import Session, select

    from market.tables import ApiToken

    client, acct = market.account("bob", "annotator")
    assert client.me()["name"] == "bob"
    with Session(engine) as s:
        hashes = s.exec(select(ApiToken.token_hash)).all()
    assert acct["token"] not in hashes and all(len(h) == 64 for h in hashes)
    second = market.admin.new_token(acct["id"])["token"]
    assert market.admin.with_token(second).me()["id"] == acct["id"]


def test_roles_are_enforced(market, campaign_fields):
    req = market.requester()
    ann = market.annotators(1)[0]
    with pytest.raises(MarketError) as e:
        ann.create_campaign(**campaign_fields)
    assert e.value.status == 403
    with pytest.raises(MarketError) as e:
        req.create_account("x", "admin")
    assert e.value.status == 403
    with pytest.raises(MarketError) as e:
        req.place_bid(1, 10)
    assert e.value.status == 403
    with pytest.raises(MarketError) as e:
        ann.list_campaigns()
    assert e.value.status == 403


def test_someone_elses_campaign_is_hidden(market, campaign_fields, pairs):
    alice, bob = market.requester("alice"), market.requester("bob")
    c = alice.create_campaign(**campaign_fields)
    for call in (
        lambda: bob.get_campaign(c["id"]),
        lambda: bob.upload_items(c["id"], pairs(2)),
        lambda: bob.open_round(c["id"]),
        lambda: bob.campaign_summary(c["id"]),
        lambda: bob.export_labels(c["id"]),
        lambda: bob.ledger(c["id"]),
        lambda: bob.post_scores(c["id"], {1: 1.0}),
    ):
        with pytest.raises(MarketError) as e:
            call()
        assert e.value.status in (403, 404)
    assert bob.list_campaigns() == []
    assert [x["id"] for x in alice.list_campaigns()] == [c["id"]]
    assert alice.list_items(c["id"]) == []


def test_worker_may_score_but_not_open_rounds(market, campaign_fields, pairs):
    worker, wacct = market.account("gpu", "worker")
    req = market.requester()
    c = req.create_campaign(**campaign_fields, worker_id=wacct["id"])
    req.upload_items(c["id"], pairs(3))
    items = worker.list_items(c["id"])
    assert worker.post_scores(c["id"], {it["id"]: float(i) for i, it in enumerate(items)}) == {"updated": 3}
    assert [x["id"] for x in worker.list_campaigns()] == [c["id"]]
    with pytest.raises(MarketError) as e:
        worker.open_round(c["id"])
    assert e.value.status == 403
    other_worker, _ = market.account("gpu2", "worker")
    with pytest.raises(MarketError) as e:
        other_worker.list_items(c["id"])
    assert e.value.status == 404


def test_unexpected_errors_are_clean_json_500(market, http, monkeypatch):
    import market.assignment as assignment_mod

    ann = market.annotators(1)[0]

    def boom(*a, **k):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(assignment_mod, "earnings", boom)
    r = http.get("/v1/me/earnings", headers={"Authorization": f"Bearer {ann.token}"})
    assert r.status_code == 500
    assert r.json() == {"detail": "internal error (logged); nothing was changed"}
    assert "Traceback" not in r.text and "secret" not in r.text


def test_validation_errors_name_the_field(http, market):
    req = market.requester()
    r = http.post("/v1/campaigns", json={"name": "x"}, headers={"Authorization": f"Bearer {req.token}"})
    assert r.status_code == 422
    assert "budget_cents" in r.json()["detail"] and isinstance(r.json()["detail"], str)
    r = http.post("/v1/campaigns", content="{not json", headers={"Authorization": f"Bearer {req.token}",
                                                                    "Content-Type": "application/json"})
    assert r.status_code == 422 and "JSON" in r.json()["detail"]


def test_openapi_has_examples_and_bearer_auth(http):
    spec = http.get("/openapi.json").json()
    assert "/v1/rounds/{round_id}/bid" in spec["paths"]
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"].lower() == "bearer"
    bid_schema = spec["components"]["schemas"]["BidIn"]
    assert bid_schema.get("examples") == [{"ask_cents": 12, "capacity": 3}]
    upload = spec["paths"]["/v1/campaigns/{campaign_id}/items"]["post"]["requestBody"]["content"]
    assert "application/x-ndjson" in upload


def test_client_reports_unreachable_server():
    with pytest.raises(MarketError) as e:
        MarketClient("http://127.0.0.1:9", "pm_x", timeout=2).me()
    assert e.value.status == 0 and "cannot reach" in e.value.detail


# --- authentication before the body, and failed attempts per address --------------------


def _streamed(total: int, consumed: list[int]):
    """A request body of ``total`` bytes that records how much of it the server pulled."""

    def chunks():
        step = 1 << 20
        for _ in range(0, total, step):
            consumed[0] += step
            yield b"x" * step

    return chunks()


@pytest.mark.parametrize("header", [None, "Bearer pm_not-a-real-token", "Basic abc"])
def test_a_big_body_without_a_working_token_is_refused_unread(engine, header):
    """The upload route may take 64 MiB, but only from a requester: without a working token
    the server answers 401 before pulling a byte of the body."""
    from fastapi.testclient import TestClient

    from market.api.app import create_app

    app = create_app(engine, auth_failures="0")
    consumed = [0]
    headers = {"Content-Type": "application/x-ndjson", **({"Authorization": header} if header else {})}
    with TestClient(app, raise_server_exceptions=False) as http:
        r = http.post("/v1/campaigns/1/items", content=_streamed(64 << 20, consumed), headers=headers)
        declared = http.post("/v1/campaigns/1/items", content=b"", headers={
            **headers, "Content-Length": str(64 << 20)})
    assert r.status_code == 401 and "token" in r.json()["detail"]
    assert r.headers["connection"] == "close"
    assert consumed[0] == 0
    assert declared.status_code == 401


def test_the_upload_limit_is_chosen_from_the_callers_role(engine, admin_token):
    """An annotator posting to the upload route gets the ordinary body limit, not the upload one."""
    from fastapi.testclient import TestClient

    from market.api.app import create_app

    from .conftest import pairs_jsonl

    app = create_app(engine, max_body_bytes=2048, max_upload_bytes=8192, auth_failures="0")
    text = pairs_jsonl(60)  # about 4 KB
    with TestClient(app, raise_server_exceptions=False) as http:
        admin = MarketClient("http://testserver", admin_token, transport=http)
        req = admin.with_token(admin.create_account("req", "requester")["token"])
        ann = admin.with_token(admin.create_account("ann", "annotator")["token"])
        cid = req.create_campaign(name="c", budget_cents=1000, max_price_cents=50, rule="second_price")["id"]
        send = lambda client: http.post(f"/v1/campaigns/{cid}/items", content=text,  # noqa: E731
                                        headers={"Authorization": f"Bearer {client.token}",
                                                 "Content-Type": "application/x-ndjson"})
        refused = send(ann)
        assert refused.status_code == 413 and refused.json()["detail"] == "body: request bodies are limited to 2048 bytes"
        assert send(req).status_code == 201


def test_failed_authentication_is_limited_per_address_whatever_the_token(engine, admin_token):
    """Rotating fake tokens does not evade the limit; another address is not held back by it."""
    from fastapi.testclient import TestClient

    from market.api.app import create_app

    app = create_app(engine, auth_failures="5/minute")
    me = lambda http, token: http.get("/v1/me", headers={"Authorization": f"Bearer {token}"})  # noqa: E731
    with TestClient(app, client=("10.0.0.66", 4000), raise_server_exceptions=False) as attacker, \
            TestClient(app, client=("10.0.0.7", 4000), raise_server_exceptions=False) as other:
        assert [me(attacker, f"pm_fake{i}").status_code for i in range(5)] == [401] * 5
        r = me(attacker, "pm_fake-number-six")
        assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
        assert "failed authentications" in r.json()["detail"] and "5 per 1 minute" in r.json()["detail"]
        assert me(attacker, admin_token).status_code == 429  # the address waits, whatever it shows
        assert me(other, admin_token).status_code == 200
        assert me(other, "pm_fake0").status_code == 401  # its own count starts at one
        assert attacker.get("/v1/health").status_code == 200


def test_a_failed_authentication_takes_no_writer_lock(engine, monkeypatch):
    """A miss is a read: on SQLite it never queues for the writer lock (nor holds it)."""
    from fastapi.testclient import TestClient

    from market import db
    from market.api.app import create_app

    if not db.is_sqlite(engine):
        pytest.skip("the writer lock is SQLite's")
    app = create_app(engine, auth_failures="0")
    taken = []
    real = db.WriterLock.acquire
    monkeypatch.setattr(db.WriterLock, "acquire", lambda self: (taken.append(1), real(self))[1])
    with TestClient(app, raise_server_exceptions=False) as http:
        for token in ("pm_unknown", "nope", ""):
            assert http.get("/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
        assert taken == []


def test_the_failed_authentication_limit_parses_and_refuses_nonsense(engine, monkeypatch):
    from market.api.app import create_app
    from market.api.middleware import parse_failures

    assert parse_failures("0") is None and parse_failures("off") is None and parse_failures(None) is None
    assert (parse_failures("5/minute").amount, parse_failures("5/minute").get_expiry()) == (5, 60)
    for bad in ("lots", "0/minute", "-3/second"):
        with pytest.raises(ValueError):
            parse_failures(bad)
    monkeypatch.delenv("PREFMARKET_AUTH_FAILURES", raising=False)
    assert str(create_app(engine).state.limits["auth_failures"]) == "20 per 1 minute"
    monkeypatch.setenv("PREFMARKET_AUTH_FAILURES", "3/second")
    assert str(create_app(engine).state.limits["auth_failures"]) == "3 per 1 second"


def test_event_loops_in_one_process_authenticate_side_by_side(app, admin_token):
    """On SQLite the token lookup runs on the event loop, on a connection kept for it; two
    event loops serving one app at once (two TestClients, each on its own thread) must
    both authenticate every request, and a token revoked through one is refused by the
    other on its next request."""
    from concurrent.futures import ThreadPoolExecutor

    from fastapi.testclient import TestClient

    with TestClient(app) as h0, TestClient(app) as h1:
        admin = MarketClient("http://testserver", admin_token, transport=h0)
        acct = admin.create_account("bot", "annotator")
        clients = [MarketClient("http://testserver", acct["token"], transport=h) for h in (h0, h1)]

        def hammer(client: MarketClient) -> set[int]:
            return {client.me()["id"] for _ in range(40)}

        with ThreadPoolExecutor(2) as pool:
            assert [f.result() for f in [pool.submit(hammer, c) for c in clients]] == [{acct["id"]}] * 2
        (token,) = clients[0].list_tokens()
        clients[0].revoke_token(token["id"])
        with pytest.raises(MarketError) as e:
            clients[1].me()
        assert e.value.status == 401 and "revoked" in e.value.detail

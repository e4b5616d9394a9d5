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

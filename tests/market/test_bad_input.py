"""Bad input gets a 4xx naming the problem, and changes nothing."""

from __future__ import annotations

import json

import pytest

from market.client import MarketError


def auth(client):
    return {"Authorization": f"Bearer {client.token}", "Content-Type": "application/json"}


BAD_PRICES = ["0", "-5", "NaN", "Infinity", "-Infinity", "1e30", "12.5", '"100"', "true", "null", "100000000000000"]


@pytest.mark.parametrize("field", ["budget_cents", "max_price_cents"])
@pytest.mark.parametrize("raw", BAD_PRICES)
def test_campaign_prices_are_checked(http, market, snapshot, field, raw):
    req = market.requester()
    body = {"name": "c", "budget_cents": 2000, "max_price_cents": 50, "rule": "second_price"}
    text = json.dumps(body).replace(f'"{field}": {body[field]}', f'"{field}": {raw}')
    before = snapshot()
    r = http.post("/v1/campaigns", content=text, headers=auth(req))
    assert r.status_code == 422, r.text
    assert field in r.json()["detail"]
    assert snapshot() == before


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"rule": "dutch_auction"}, "rule"),
        ({"budget_cents": 40, "max_price_cents": 50}, "budget_cents"),
        ({"rule": "posted_price", "posted_price_cents": 30, "budget_cents": 20, "max_price_cents": 30}, "budget_cents"),
        ({"posted_price_cents": 60}, "posted_price_cents"),
        ({"labels_per_item": 0}, "labels_per_item"),
        ({"round_size": -1}, "round_size"),
        ({"round_duration_s": 0}, "round_duration_s"),
        ({"round_duration_s": 1e12}, "round_duration_s"),
        ({"round_budget_cents": 3000}, "round_budget_cents"),
        ({"worker_id": 999}, "worker_id"),
        ({"name": ""}, "name"),
    ],
)
def test_campaign_settings_are_checked(market, snapshot, campaign_fields, changes, field):
    req = market.requester()
    before = snapshot()
    with pytest.raises(MarketError) as e:
        req.create_campaign(**{**campaign_fields, **changes})
    assert 400 <= e.value.status < 500 and field in e.value.detail
    assert snapshot() == before


@pytest.fixture
def open_round(market, campaign_fields, pairs):
    req = market.requester()
    c = req.create_campaign(**campaign_fields)
    req.upload_items(c["id"], pairs(6))
    r = req.open_round(c["id"])
    return req, c, r


@pytest.mark.parametrize("raw", ["0", "-5", "NaN", "Infinity", "1e30", "12.5", '"12"', "false", "51", "100001"])
def test_bid_prices_are_checked(http, market, snapshot, open_round, raw):
    _, _, r = open_round
    ann = market.annotators(1)[0]
    before = snapshot()
    resp = http.put(f"/v1/rounds/{r['id']}/bid", content='{"ask_cents": %s, "capacity": 1}' % raw, headers=auth(ann))
    assert resp.status_code == 422, resp.text
    assert "ask_cents" in resp.json()["detail"]
    assert snapshot() == before


@pytest.mark.parametrize("cap", [0, -1, 10**9, 1.5])
def test_bid_capacity_is_checked(market, snapshot, open_round, cap):
    _, _, r = open_round
    ann = market.annotators(1)[0]
    before = snapshot()
    with pytest.raises(MarketError) as e:
        ann.place_bid(r["id"], 10, capacity=cap)
    assert e.value.status == 422 and "capacity" in e.value.detail
    assert snapshot() == before


def test_bid_after_close_and_on_unknown_round(market, snapshot, open_round):
    req, _, r = open_round
    ann = market.annotators(1)[0]
    req.close_round(r["id"])
    before = snapshot()
    with pytest.raises(MarketError) as e:
        ann.place_bid(r["id"], 10)
    assert e.value.status == 409 and "open" in e.value.detail
    with pytest.raises(MarketError) as e:
        ann.withdraw_bid(r["id"])
    assert e.value.status == 409
    with pytest.raises(MarketError) as e:
        ann.place_bid(9999, 10)
    assert e.value.status == 404
    with pytest.raises(MarketError) as e:
        req.close_round(r["id"])
    assert e.value.status == 409
    assert snapshot() == before


def test_bid_naming_another_campaign_is_refused(http, market, snapshot, open_round, campaign_fields):
    _, c, r = open_round
    other = market.requester("other").create_campaign(**campaign_fields)
    ann = market.annotators(1)[0]
    before = snapshot()
    resp = http.put(f"/v1/rounds/{r['id']}/bid", json={"ask_cents": 10, "campaign_id": other["id"]}, headers=auth(ann))
    assert resp.status_code == 422 and "campaign_id" in resp.json()["detail"]
    assert snapshot() == before
    ok = http.put(f"/v1/rounds/{r['id']}/bid", json={"ask_cents": 10, "campaign_id": c["id"]}, headers=auth(ann))
    assert ok.status_code == 200


def test_bids_replace_withdraw_and_stay_private(market, open_round):
    req, _, r = open_round
    a, b = market.annotators(2)
    a.place_bid(r["id"], 30, capacity=2)
    assert a.place_bid(r["id"], 20, capacity=3)["ask_cents"] == 20
    assert a.my_bid(r["id"])["capacity"] == 3
    b.place_bid(r["id"], 25)
    with pytest.raises(MarketError) as e:
        b.my_bid(9999)
    assert e.value.status == 404
    seen = b.list_rounds(state="open")
    assert seen and all("n_bids" not in x for x in seen)  # annotators see the terms only
    text = json.dumps(seen)
    assert '"ask_cents"' not in text and "capacity" not in text
    assert req.get_round(r["id"])["n_bids"] == 2  # owners see the count, never the bids
    a.withdraw_bid(r["id"])
    with pytest.raises(MarketError) as e:
        a.my_bid(r["id"])
    assert e.value.status == 404
    assert req.campaign_bids(r["campaign_id"]) == []  # open rounds' bids are never listed


def test_labels_not_yours_duplicate_and_idempotent(market, snapshot, open_round):
    req, c, r = open_round
    a, b = market.annotators(2)
    a.place_bid(r["id"], 10, capacity=6)
    req.close_round(r["id"])
    mine = a.my_assignments(state="open")
    assert len(mine) == 6
    before = snapshot()
    with pytest.raises(MarketError) as e:
        b.submit_label(mine[0]["id"], "a")
    # someone else's assignment answers as a missing one does: its existence is not confirmed
    assert e.value.status == 404 and e.value.detail == f"assignment {mine[0]['id']} not found"
    with pytest.raises(MarketError) as e:
        a.submit_label(mine[0]["id"], "maybe")
    assert e.value.status == 422 and "choice" in e.value.detail
    with pytest.raises(MarketError) as e:
        a.submit_label(mine[0]["id"], "a", confidence=1.5)
    assert e.value.status == 422 and "confidence" in e.value.detail
    with pytest.raises(MarketError) as e:
        a.submit_label(99999, "a")
    assert e.value.status == 404
    assert snapshot() == before

    first = a.submit_label(mine[0]["id"], "A", confidence=0.9, key="k1")
    assert first["choice"] == "a" and first["paid_cents"] == mine[0]["price_cents"] and not first["replayed"]
    again = a.submit_label(mine[0]["id"], "a", confidence=0.9, key="k1")
    assert again["id"] == first["id"] and again["replayed"]
    after_first = snapshot()
    with pytest.raises(MarketError) as e:
        a.submit_label(mine[0]["id"], "b")
    assert e.value.status == 409 and "already" in e.value.detail
    with pytest.raises(MarketError) as e:
        a.submit_label(mine[1]["id"], "b", key="k1")
    assert e.value.status == 409 and "idempotency_key" in e.value.detail
    assert snapshot() == after_first
    ledger = req.ledger(c["id"])
    pays = [e for e in ledger["entries"] if e["reason"] == "pay"]
    assert len(pays) == 1 and pays[0]["label_id"] == first["id"]
    assert a.earnings()["earned_cents"] == mine[0]["price_cents"]


def test_malformed_upload_names_the_line_and_imports_nothing(market, snapshot, campaign_fields, pairs):
    req = market.requester()
    c = req.create_campaign(**campaign_fields)
    good = pairs(3)
    for bad, line, word in [
        (good + "{not json}\n", 4, "JSON"),
        (good + "\n[1, 2]\n", 5, "object"),
        (good + json.dumps({"prompt": "p", "completion_a": "", "completion_b": "x"}) + "\n", 4, "completion_a"),
        (good + json.dumps({"prompt": "only"}) + "\n", 4, "format"),
        (good + json.dumps({"foo": 1}) + "\n", 4, "keys"),
        (json.dumps({"prompt": "p", "completion_a": "a", "completion_b": "b", "score": "high"}) + "\n", 1, "score"),
        ("", None, "empty"),
    ]:
        before = snapshot()
        with pytest.raises(MarketError) as e:
            req.upload_items(c["id"], bad)
        assert e.value.status == 422
        assert word in e.value.detail
        if line is not None:
            assert f"line {line}:" in e.value.detail
        assert snapshot() == before
    assert req.list_items(c["id"]) == []


def test_scores_and_completions_are_checked(market, snapshot, campaign_fields, pairs, http):
    req = market.requester()
    c = req.create_campaign(**campaign_fields)
    req.upload_items(c["id"], pairs(2))
    ids = [it["id"] for it in req.list_items(c["id"])]
    before = snapshot()
    r = http.put(f"/v1/campaigns/{c['id']}/scores", content='{"scores": [{"item_id": %d, "score": NaN}]}' % ids[0],
                 headers=auth(req))
    assert r.status_code == 422 and "score" in r.json()["detail"]
    with pytest.raises(MarketError) as e:
        req.post_scores(c["id"], {ids[0]: 1.0, 424242: 2.0})
    assert e.value.status == 422 and "424242" in e.value.detail
    with pytest.raises(MarketError) as e:
        req.set_completions(c["id"], [{"item_id": ids[0], "completion_a": "", "completion_b": "x"}])
    assert e.value.status == 422
    assert snapshot() == before


def test_open_round_without_items_or_budget(market, campaign_fields, pairs):
    req = market.requester()
    c = req.create_campaign(**campaign_fields)
    with pytest.raises(MarketError) as e:
        req.open_round(c["id"])
    assert e.value.status == 409 and "items" in e.value.detail
    req.upload_items(c["id"], json.dumps({"prompt": "needs completions"}) + "\n")
    with pytest.raises(MarketError) as e:
        req.open_round(c["id"])
    assert e.value.status == 409 and "completions" in e.value.detail
    with pytest.raises(MarketError) as e:
        req.open_round(c["id"], duration_s=-1)
    assert e.value.status == 422 and "duration_s" in e.value.detail


HUGE = 10**23


@pytest.mark.parametrize(
    "method, path, who, body",
    [
        ("GET", "/v1/rounds/abc", "ann", None),
        ("GET", f"/v1/rounds/{HUGE}", "ann", None),
        ("GET", f"/v1/rounds?campaign_id={HUGE}", "ann", None),
        ("PUT", f"/v1/rounds/{HUGE}/bid", "ann", {"ask_cents": 5}),
        ("POST", f"/v1/assignments/{HUGE}/label", "ann", {"choice": "a"}),
        ("POST", "/v1/campaigns", "req", {"name": "x", "budget_cents": 100, "max_price_cents": 10,
                                          "rule": "second_price", "worker_id": HUGE}),
        ("PUT", "/v1/campaigns/1/scores", "req", {"scores": [{"item_id": HUGE, "score": 1}]}),
        ("POST", "/v1/campaigns/1/evaluations", "req", {"spend_cents": 1, "win_rate": 0.5, "ci_low": 0.4,
                                                        "ci_high": 0.6, "n": HUGE}),
        ("POST", f"/v1/accounts/{HUGE}/tokens", "admin", None),
        ("POST", "/v1/campaigns/1/items", "req", b"\xff\xfe\x00"),
        ("POST", "/v1/campaigns/1/items", "req", b"[" * 50_000),
        ("POST", "/v1/campaigns", "req", b"[" * 50_000),
        ("PUT", "/v1/rounds/1/bid", "ann", b'{"ask_cents": 1e400}'),
    ],
)
def test_odd_requests_get_a_4xx_never_a_500(http, market, campaign_fields, method, path, who, body):
    req = market.requester()
    req.create_campaign(**campaign_fields)
    token = {"req": req.token, "ann": market.annotators(1)[0].token, "admin": market.admin.token}[who]
    kw = {"content": body} if isinstance(body, bytes) else {"json": body} if body is not None else {}
    r = http.request(method, path, headers={"Authorization": f"Bearer {token}"}, **kw)
    assert 400 <= r.status_code < 500, r.text
    assert isinstance(r.json()["detail"], str) and "Traceback" not in r.text

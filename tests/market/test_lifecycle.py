"""Round lifecycle details: demand and budget, assignment order, deadlines, release."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from market import clock
from market.client import MarketError


@pytest.fixture
def time_travel(monkeypatch):
    """Move the market's clock forward by ``seconds`` (cumulative)."""
    state = {"offset": 0.0}
    real = clock.now

    def fake_now():
        return real() + timedelta(seconds=state["offset"])

    monkeypatch.setattr(clock, "now", fake_now)

    def advance(seconds: float):
        state["offset"] += seconds

    return advance


def test_demand_and_round_budget(market, pairs):
    req = market.requester()
    c = req.create_campaign(name="c", budget_cents=1000, max_price_cents=40, rule="budget_feasible",
                            labels_per_item=3, round_size=4, round_budget_cents=300)
    req.upload_items(c["id"], pairs(6))
    r = req.open_round(c["id"])
    assert r["demand"] == 4 * 3 and r["n_items"] == 4 and r["budget_cents"] == 300
    r2 = req.open_round(c["id"])  # the two remaining items; budget capped by round_budget_cents
    assert r2["n_items"] == 2 and r2["demand"] == 6
    with pytest.raises(MarketError) as e:
        req.open_round(c["id"])  # everything is on offer already
    assert e.value.status == 409


def test_round_budget_never_exceeds_remaining_and_two_rounds_cannot_overspend(market, pairs):
    req = market.requester()
    c = req.create_campaign(name="c", budget_cents=100, max_price_cents=50, rule="first_price", round_size=5)
    req.upload_items(c["id"], pairs(10))
    r1, r2 = req.open_round(c["id"]), req.open_round(c["id"])
    assert r1["budget_cents"] == r2["budget_cents"] == 100  # both may plan on the whole remainder...
    anns = market.annotators(5)
    for a in anns:
        for r in (r1, r2):
            a.place_bid(r["id"], 20, capacity=5)
    r1 = req.close_round(r1["id"])
    r2 = req.close_round(r2["id"])  # ...but the second clears on what the first left
    assert r1["escrowed_cents"] + r2["escrowed_cents"] <= 100
    assert r1["escrowed_cents"] == 100 and r2["escrowed_cents"] == 0
    s = req.campaign_summary(c["id"])
    assert s["remaining_cents"] == 0 and s["balanced"]


def test_items_by_score_distinct_annotators_quality_first(market, pairs, engine):
    from sqlmodel import Session

    from market.tables import Account

    req = market.requester()
    c = req.create_campaign(name="c", budget_cents=5000, max_price_cents=50, rule="second_price",
                            labels_per_item=2, round_size=5)
    req.upload_items(c["id"], pairs(5))
    items = req.list_items(c["id"])
    scores = {it["id"]: float(k) for k, it in enumerate(items)}  # last uploaded scores highest
    req.post_scores(c["id"], scores)
    anns = market.annotators(3)
    ids = [a.me()["id"] for a in anns]
    with Session(engine) as s:  # quality control is another issue; set it directly
        s.get(Account, ids[2]).quality = 1.0
        s.get(Account, ids[0]).quality = 0.5
        s.get(Account, ids[1]).quality = 0.8
        s.commit()
    r = req.open_round(c["id"])
    assert r["item_ids"] == sorted(scores, key=scores.get, reverse=True)
    # supply 3 units (< demand 10): who gets the top items?
    for a in anns:
        a.place_bid(r["id"], 10, capacity=1)
    r = req.close_round(r["id"])
    got = {aid: [x["item_id"] for x in a.my_assignments()] for aid, a in zip(ids, anns, strict=True)}
    top, second = r["item_ids"][0], r["item_ids"][1]
    assert got[ids[2]] == [top] and got[ids[1]] == [top]  # two best annotators on the best item
    assert got[ids[0]] == [second]


def test_each_item_gets_distinct_annotators(market, pairs):
    req = market.requester()
    c = req.create_campaign(name="c", budget_cents=5000, max_price_cents=50, rule="budget_feasible",
                            labels_per_item=3, round_size=4)
    req.upload_items(c["id"], pairs(4))
    r = req.open_round(c["id"])
    anns = market.annotators(4)
    for k, a in enumerate(anns):
        a.place_bid(r["id"], 5 + k, capacity=50)  # capacity far above what one annotator may take
    r = req.close_round(r["id"])
    assert r["n_assignments"] == 12
    seen: dict[int, list[int]] = {}
    for a in anns:
        mine = a.my_assignments()
        assert len(mine) <= 4
        for x in mine:
            seen.setdefault(x["item_id"], []).append(a.me()["id"])
    assert all(len(v) == 3 == len(set(v)) for v in seen.values())


def test_bidding_deadline_closes_lazily_and_label_deadline_releases(market, pairs, time_travel):
    req = market.requester()
    c = req.create_campaign(name="c", budget_cents=1000, max_price_cents=50, rule="second_price", round_size=4,
                            round_duration_s=60, label_duration_s=600)
    req.upload_items(c["id"], pairs(4))
    r = req.open_round(c["id"])
    a, b = market.annotators(2)
    a.place_bid(r["id"], 10, capacity=2)
    b.place_bid(r["id"], 20, capacity=2)
    time_travel(61)
    with pytest.raises(MarketError) as e:  # touching the round past its deadline clears it
        b.place_bid(r["id"], 15, capacity=2)
    assert e.value.status == 409
    r = req.get_round(r["id"])
    assert r["state"] == "cleared" and r["n_assignments"] == 4 and r["clearing_price_cents"] == 50
    # second price: K = 4, no 5th ask, so the price is the 4th value (the cap, 50c)
    todo_a = a.my_assignments(state="open")
    for x in todo_a:
        a.submit_label(x["id"], "a")
    assert req.get_round(r["id"])["state"] == "labeling"
    time_travel(601)
    todo_b = b.my_assignments(state="open")
    assert todo_b == []  # the listing settled the overdue round first
    released = b.my_assignments(state="released")
    assert len(released) == 2
    with pytest.raises(MarketError) as e:
        b.submit_label(released[0]["id"], "a")
    assert e.value.status == 409 and "released" in e.value.detail
    r = req.get_round(r["id"])
    assert r["state"] == "settled" and r["released_cents"] == 100 and r["paid_cents"] == 100
    s = req.campaign_summary(c["id"])
    assert s["spent_cents"] == 100 and s["remaining_cents"] == 900 and s["balanced"]
    assert b.earnings() == {**b.earnings(), "earned_cents": 0, "released_assignments": 2}
    assert a.earnings()["earned_cents"] == 100
    r2 = req.open_round(c["id"])  # released items are offered again
    assert sorted(r2["item_ids"]) == sorted(x["item_id"] for x in released)


def test_sweeper_settles_idle_rounds(engine, admin_token, pairs):
    import time

    from fastapi.testclient import TestClient

    from market.api.app import create_app
    from market.client import MarketClient

    app = create_app(engine, sweep_interval_s=0.05)
    with TestClient(app) as http:
        admin = MarketClient("http://testserver", admin_token, transport=http)
        req = admin.with_token(admin.create_account("r", "requester")["token"])
        c = req.create_campaign(name="c", budget_cents=1000, max_price_cents=50, rule="second_price",
                                round_duration_s=0.1)
        req.upload_items(c["id"], pairs(2))
        r = req.open_round(c["id"])
        from sqlmodel import Session

        from market.tables import Round

        deadline = time.monotonic() + 5
        state = "open"
        while state == "open" and time.monotonic() < deadline:
            time.sleep(0.05)
            with Session(engine) as s:
                state = s.get(Round, r["id"]).state
        assert state == "settled"  # no bids: cleared with nothing to assign, settled at once


def test_settle_is_owner_only_idempotent_and_needs_close(market, pairs):
    req = market.requester()
    c = req.create_campaign(name="c", budget_cents=1000, max_price_cents=50, rule="first_price", round_size=2)
    req.upload_items(c["id"], pairs(2))
    r = req.open_round(c["id"])
    with pytest.raises(MarketError) as e:
        req.settle_round(r["id"])
    assert e.value.status == 409
    a = market.annotators(1)[0]
    a.place_bid(r["id"], 7, capacity=2)
    other = market.requester("other")
    with pytest.raises(MarketError) as e:
        other.close_round(r["id"])
    assert e.value.status in (403, 404)
    req.close_round(r["id"])
    first = req.settle_round(r["id"])
    assert first["released_cents"] == 14
    assert req.settle_round(r["id"])["released_cents"] == 14
    ledger = req.ledger(c["id"])
    assert [e["reason"] for e in ledger["entries"]] == ["fund", "escrow", "escrow", "release", "release"]


def test_ties_are_left_out_of_the_export_unless_asked(market, pairs):
    req = market.requester()
    c = req.create_campaign(name="c", budget_cents=1000, max_price_cents=50, rule="first_price", round_size=2)
    req.upload_items(c["id"], pairs(2))
    r = req.open_round(c["id"])
    a = market.annotators(1)[0]
    a.place_bid(r["id"], 7, capacity=2)
    req.close_round(r["id"])
    x, y = a.my_assignments()
    a.submit_label(x["id"], "tie")
    a.submit_label(y["id"], "b")
    rows = req.export_labels(c["id"])
    assert len(rows) == 1 and rows[0]["chosen"].startswith("Bad film")
    assert len(req.export_labels(c["id"], include_ties=True)) == 2
    assert json.loads(json.dumps(rows))[0]["annotator_id"] == a.me()["id"]


def test_evaluations_round_trip_and_are_checked(market, campaign_fields):
    req = market.requester()
    c = req.create_campaign(**campaign_fields)
    ev = req.post_evaluation(c["id"], spend_cents=120, win_rate=0.6, ci_low=0.5, ci_high=0.7, n=100,
                             metrics={"reward_acc": 0.7})
    assert req.list_evaluations(c["id"]) == [ev]
    for bad in ({"win_rate": 1.5}, {"ci_low": 0.65}, {"spend_cents": -1}, {"round_id": 999}):
        with pytest.raises(MarketError) as e:
            req.post_evaluation(c["id"], **{**dict(spend_cents=1, win_rate=0.6, ci_low=0.5, ci_high=0.7, n=1), **bad})
        assert e.value.status == 422
    base = dict(spend_cents=1, win_rate=0.6, ci_low=0.5, ci_high=0.7, n=1)
    for metrics, field in (({"heldout_accuracy": 57.0}, "metrics.heldout_accuracy"),
                           ({"heldout_accuracy": 0.6, "heldout_ci_low": 0.5, "heldout_ci_high": -0.1},
                            "metrics.heldout_ci_high"),
                           ({"heldout_accuracy": 0.6, "heldout_ci_low": 0.65, "heldout_ci_high": 0.7},
                            "metrics.heldout_ci_low"),
                           ({"a": {"b": {"c": {"d": {"e": 1}}}}}, "nested deeper"),
                           ({"many": list(range(2_000))}, "at most 1000 values")):
        with pytest.raises(MarketError) as e:
            req.post_evaluation(c["id"], **base, metrics=metrics)
        assert e.value.status == 422 and field in e.value.detail
    for body, field in (('{"skipped": {"too_long": NaN}}', "metrics.skipped.too_long"),
                        ('{"curve": [0.5, [Infinity]]}', "metrics.curve[1][0]")):  # what httpx will not send
        raw = market.http.post(f"/v1/campaigns/{c['id']}/evaluations", headers={
            "Authorization": f"Bearer {req.token}", "Content-Type": "application/json"}, content=(
            '{"spend_cents": 1, "win_rate": 0.6, "ci_low": 0.5, "ci_high": 0.7, "n": 1, "metrics": ' + body + "}"))
        assert raw.status_code == 422 and field in raw.json()["detail"], raw.text
    assert len(req.list_evaluations(c["id"])) == 1
    req.post_evaluation(c["id"], **base, metrics={"heldout_accuracy": 0.58, "heldout_ci_low": 0.515,
                                                  "heldout_ci_high": 0.645, "heldout_n": 200,
                                                  "skipped_eval_prompts": {"too_long": 2}, "note": None})

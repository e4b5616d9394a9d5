"""Who reads which round, and how much of it (market.round_access)."""

from __future__ import annotations

import pytest

from market.api.schemas import RoundOut, RoundTermsOut
from market.client import MarketError

TERMS = set(RoundTermsOut.model_fields)
PRIVATE = set(RoundOut.model_fields) - TERMS  # name, budget, item ids, money, notes, bid count


@pytest.fixture
def two_campaigns(market, campaign_fields, pairs):
    """alice's "alpha-films" (a round cleared at 40c, then one open) and bob's "beta-books"
    (one round cleared at 30c under the same rule, one under another rule at 20c)."""
    alice, bob = market.requester("alice"), market.requester("bob")
    a1, a2 = market.annotators(2)
    ca = alice.create_campaign(**{**campaign_fields, "name": "alpha-films", "budget_cents": 1999})
    cb = bob.create_campaign(**{**campaign_fields, "name": "beta-books", "budget_cents": 1777})
    cp = bob.create_campaign(**{**campaign_fields, "name": "beta-posted", "rule": "first_price"})
    for req, c in ((alice, ca), (bob, cb), (bob, cp)):
        req.upload_items(c["id"], pairs(6))

    def cleared(req, c, ask):
        r = req.open_round(c["id"], duration_s=600)
        a1.place_bid(r["id"], ask, capacity=1)
        return req.close_round(r["id"])

    ra = cleared(alice, ca, 40)
    rb = cleared(bob, cb, 30)
    rp = cleared(bob, cp, 20)
    open_a = alice.open_round(ca["id"], duration_s=600)
    return dict(alice=alice, bob=bob, a1=a1, a2=a2, ca=ca, cb=cb, cp=cp, ra=ra, rb=rb, rp=rp, open_a=open_a)


def test_annotators_see_the_terms_of_open_rounds_and_nothing_private(two_campaigns):
    w = two_campaigns
    for ann in (w["a1"], w["a2"]):
        rounds = ann.list_rounds(state="open")
        assert [r["id"] for r in rounds] == [w["open_a"]["id"]]
        (r,) = rounds
        assert set(r) == TERMS and not PRIVATE & set(r)
        assert ann.get_round(r["id"]) == r
        text = repr(ann.list_rounds())
        assert "alpha-films" not in text and "beta-books" not in text and "1999" not in text and "1777" not in text
    # what the bid preview needs is there
    assert r["max_price_cents"] == 50 and r["demand"] >= 1 and r["rule"] == "second_price"


def test_past_prices_for_annotators_are_by_rule_across_the_market(two_campaigns):
    w = two_campaigns
    (r,) = w["a2"].list_rounds(state="open")
    assert r["past_clearing_prices_cents"] == [w["ra"]["clearing_price_cents"], w["rb"]["clearing_price_cents"]]
    assert w["rp"]["clearing_price_cents"] not in r["past_clearing_prices_cents"]  # first price is another rule
    # the owner sees its own campaign's history, in full
    mine = w["alice"].get_round(r["id"])
    assert set(mine) >= PRIVATE and mine["campaign_name"] == "alpha-films"
    assert mine["past_clearing_prices_cents"] == [w["ra"]["clearing_price_cents"]]


def test_annotators_read_closed_rounds_they_took_part_in_and_no_others(two_campaigns):
    w = two_campaigns
    seen = {r["id"]: r for r in w["a1"].list_rounds()}
    assert set(seen) == {w["ra"]["id"], w["rb"]["id"], w["rp"]["id"], w["open_a"]["id"]}
    assert all(set(r) == TERMS for r in seen.values())
    assert w["a1"].get_round(w["ra"]["id"])["state"] != "open"  # the bots learn from this
    assert [r["id"] for r in w["a2"].list_rounds()] == [w["open_a"]["id"]]
    with pytest.raises(MarketError) as e:
        w["a2"].get_round(w["ra"]["id"])
    assert e.value.status == 404 and e.value.detail == f"round {w['ra']['id']} not found"


def test_requesters_see_their_own_campaigns_rounds_only(two_campaigns):
    w = two_campaigns
    assert {r["campaign_id"] for r in w["alice"].list_rounds()} == {w["ca"]["id"]}
    assert {r["campaign_id"] for r in w["bob"].list_rounds()} == {w["cb"]["id"], w["cp"]["id"]}
    assert w["bob"].list_rounds(campaign_id=w["ca"]["id"]) == []
    for rid in (w["ra"]["id"], w["open_a"]["id"]):
        with pytest.raises(MarketError) as e:
            w["bob"].get_round(rid)
        assert e.value.status == 404  # as if it did not exist
    assert w["bob"].get_round(w["rb"]["id"])["budget_cents"] > 0


def test_workers_see_their_campaigns_rounds_and_admins_see_all(market, two_campaigns, campaign_fields, pairs):
    w = two_campaigns
    worker, wacct = market.account("gpu", "worker")
    c = w["alice"].create_campaign(**{**campaign_fields, "name": "gamma"}, worker_id=wacct["id"])
    w["alice"].upload_items(c["id"], pairs(3))
    r = w["alice"].open_round(c["id"])
    assert [x["id"] for x in worker.list_rounds()] == [r["id"]]
    assert worker.get_round(r["id"])["campaign_name"] == "gamma"
    everything = market.admin.list_rounds()
    assert len(everything) == 5 and all(set(x) >= PRIVATE for x in everything)


def test_someone_elses_assignment_answers_404_like_a_missing_one(two_campaigns, snapshot):
    w = two_campaigns
    (mine,) = [a for a in w["a1"].my_assignments(state="open") if a["round_id"] == w["ra"]["id"]]
    before = snapshot()
    answers = []
    for aid in (mine["id"], 10**9):
        with pytest.raises(MarketError) as e:
            w["a2"].submit_label(aid, "a")
        answers.append((e.value.status, e.value.detail.replace(str(aid), "N")))
    assert answers[0] == answers[1] == (404, "assignment N not found")
    assert snapshot() == before

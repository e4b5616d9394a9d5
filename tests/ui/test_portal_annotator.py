"""Annotator flows against the real API (AppTest): bid, preview, label, earnings."""

from __future__ import annotations

import json

import pytest

from market.client import MarketError
from tests.ui.apptest import button, click, errors, goto, metric, signed_in, successes, texts
from tests.ui.live import CAMPAIGN


def _rounds_page(market, round_id):
    at = signed_in(market.annotator_acct["token"])
    at.selectbox(key="round_pick").select(round_id).run()
    return at


def _won_round(market, ask=20, capacity=5):
    """A round the annotator won (second price: paid the items' value, 50¢) and a new open one."""
    cid = market.campaign["id"]
    first = market.requester.open_round(cid)
    market.annotator.place_bid(first["id"], ask, capacity)
    cleared = market.requester.close_round(first["id"])
    assert cleared["n_assignments"] == capacity and cleared["clearing_price_cents"] == 50
    return cleared


def test_place_change_and_withdraw_a_sealed_bid(api_env, market):
    r = market.requester.open_round(market.campaign["id"])
    at = _rounds_page(market, r["id"])
    assert r["id"] in at.dataframe[0].value["round"].tolist()
    assert metric(at, "Labels wanted") == "5" and metric(at, "Max price per label") == "$0.50"
    assert "You have no bid on this round." in texts(at.caption)

    at.number_input(key=f"ask_{r['id']}").set_value(20)
    at.number_input(key=f"capacity_{r['id']}").set_value(2)
    click(at, "Place bid")
    assert f"Sealed bid on round #{r['id']}: $0.20 per label for up to 2 labels." in successes(at)
    bid = market.annotator.my_bid(r["id"])
    assert (bid["ask_cents"], bid["capacity"]) == (20, 2)
    row = at.dataframe[0].value.set_index("round").loc[r["id"]]
    assert row["my bid"] == "$0.20 × 2"

    at.number_input(key=f"ask_{r['id']}").set_value(25)
    click(at, "Change bid")
    assert market.annotator.my_bid(r["id"])["ask_cents"] == 25

    click(at, "Withdraw bid")
    assert f"Bid on round #{r['id']} withdrawn." in successes(at)
    with pytest.raises(MarketError) as err:
        market.annotator.my_bid(r["id"])
    assert err.value.status == 404
    assert button(at, "Withdraw bid").disabled


def test_preview_replays_the_ask_against_past_clearing_prices(api_env, market):
    _won_round(market)
    r = market.requester.open_round(market.campaign["id"])
    at = _rounds_page(market, r["id"])
    assert at.get("vega_lite_chart"), "no clearing-price chart"
    assert at.number_input(key=f"ask_{r['id']}").value == 50  # suggested: the median past price
    at.number_input(key=f"ask_{r['id']}").set_value(30).run()
    assert "At this ask you would have won in 1 of the last 1 cleared rounds (100%)." in texts(at.info)
    at.number_input(key=f"ask_{r['id']}").set_value(60).run()
    assert any("cannot win" in w for w in texts(at.warning))


def test_an_api_refusal_of_a_bid_is_shown_as_its_message(api_env, market):
    r = market.requester.open_round(market.campaign["id"])
    at = _rounds_page(market, r["id"])
    at.number_input(key=f"ask_{r['id']}").set_value(10**9)
    click(at, "Place bid")
    assert any(e.startswith("body.ask_cents") for e in errors(at)), errors(at)
    assert not at.exception


def test_label_pairs_side_by_side_with_shortcuts_and_confidence(api_env, market):
    _won_round(market)
    at = signed_in(market.annotator_acct["token"])
    goto(at, "label")
    assert "5 pairs to label · this one pays $0.50" in at.caption[0].value
    shown = " ".join(texts(at.markdown))
    assert "Completion A" in shown and "Completion B" in shown
    assert "loved every minute" in shown and "exists" in shown  # both completions, as written
    shortcuts = {b.label: b.proto.shortcut for b in at.button if b.label in ("A is better", "B is better", "Tie")}
    assert shortcuts == {"A is better": "a", "B is better": "b", "Tie": "t"}

    first = market.annotator.my_assignments(state="open")[0]["id"]
    at.segmented_control(key=f"confidence_{first}").set_value("sure")
    click(at, "A is better")
    assert "Label accepted: you chose A. Paid $0.50." in successes(at)
    assert "4 pairs to label" in at.caption[0].value
    click(at, "Tie")
    done = {a["id"]: a["label"] for a in market.annotator.my_assignments(state="done")}
    assert done[first]["choice"] == "a" and done[first]["confidence"] == pytest.approx(0.95)
    assert sorted(lab["choice"] for lab in done.values()) == ["a", "tie"]
    assert [lab["confidence"] for lab in done.values() if lab["choice"] == "tie"] == [None]


def test_earnings_show_paid_accepted_and_open_work(api_env, market):
    _won_round(market)
    for a in market.annotator.my_assignments(state="open")[:2]:
        market.annotator.submit_label(a["id"], "b")
    at = signed_in(market.annotator_acct["token"])
    goto(at, "earnings")
    assert metric(at, "Earned") == "$1.00"
    assert metric(at, "Pending (open work)") == "$1.50"
    assert metric(at, "Labels accepted") == "2" and metric(at, "Labels rejected") == "0"
    assert metric(at, "Still to label") == "3"
    table = at.dataframe[0].value
    assert len(table) == 2 and set(table["status"]) == {"accepted"} and set(table["paid"]) == {"$0.50"}


def test_nothing_to_label_says_how_to_get_work(api_env, market):
    at = signed_in(market.annotator_acct["token"])
    goto(at, "label")
    assert any("by winning a round" in i for i in texts(at.info))


def test_a_movie_review_pair_comes_with_the_rubrics_reading_as_guidance(api_env, api):
    """The built-in task's pairs show, for A and B, what each facet of the task's judge adds."""
    req, _ = api.account("requester")
    ann, acct = api.account("annotator")
    camp = req.create_campaign(name="reviews with guidance", **CAMPAIGN)
    prompt = 'Write a short review of the western "Kite Season", focusing on its pacing.'
    req.upload_items(camp["id"], "".join(json.dumps({
        "prompt": prompt, "completion_a": f"Kite Season is briskly paced and never drags ({i}).",
        "completion_b": "A masterpiece! Wonderful, stunning, the best film of the year."}) + "\n" for i in range(5)))
    r = req.open_round(camp["id"])
    ann.place_bid(r["id"], 20, 5)
    req.close_round(r["id"])
    at = signed_in(acct["token"])
    goto(at, "label")
    assert any(e.label.startswith("Guidance") for e in at.expander)
    table = at.dataframe[0].value.set_index("facet")
    assert table.loc["names the film asked about"].tolist() == ["+1.50", "+0.00"]
    assert table.loc["addresses the aspect asked about"].tolist() == ["+1.50", "+0.00"]
    assert float(table.loc["total", "A"]) > float(table.loc["total", "B"])


def test_pairs_outside_the_movie_review_task_get_no_guidance(api_env, market):
    _won_round(market)
    at = signed_in(market.annotator_acct["token"])
    goto(at, "label")
    assert not at.expander and not at.dataframe

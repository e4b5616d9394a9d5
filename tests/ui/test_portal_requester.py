"""Requester flows against the real API (AppTest): create, upload, rounds, money, win rate, export."""

from __future__ import annotations

import json

from tests.ui.apptest import click, errors, goto, metric, signed_in, successes, texts
from tests.ui.live import pairs_jsonl


def _fill_campaign_form(at, **values):
    defaults = dict(new_name="portal films", new_budget=30.0, new_max_price=40, new_rule="second_price",
                    new_acquisition="sharp", new_labels_per_item=1, new_round_size=4, new_round_duration=120)
    defaults.update(values)
    for key, value in defaults.items():
        widget = at.text_input(key=key) if key == "new_name" else (
            at.selectbox(key=key) if key in ("new_rule", "new_acquisition") else at.number_input(key=key))
        widget.set_value(value)


def test_create_a_campaign_from_the_form(api_env, api):
    req, acct = api.account("requester")
    at = signed_in(acct["token"])
    assert any("No campaigns yet." in c for c in texts(at.caption))
    _fill_campaign_form(at)
    click(at, "Create campaign")
    [camp] = req.list_campaigns()
    assert (camp["name"], camp["budget_cents"], camp["max_price_cents"], camp["rule"], camp["acquisition"],
            camp["round_size"]) == ("portal films", 3000, 40, "second_price", "sharp", 4)
    assert any(f"Campaign #{camp['id']}" in s and "$30.00" in s for s in successes(at))
    assert at.dataframe[0].value["name"].tolist() == ["portal films"]
    assert at.session_state["dashboard_campaign"] == camp["id"]


def test_form_mistakes_are_readable_and_create_nothing(api_env, api):
    req, acct = api.account("requester")
    at = signed_in(acct["token"])
    _fill_campaign_form(at, new_rule="posted_price")  # posted price left at 0
    click(at, "Create campaign")
    assert "posted_price_cents: the posted-price rule needs a posted price" in errors(at)
    _fill_campaign_form(at, new_max_price=10**9)  # the API refuses it and says which field
    click(at, "Create campaign")
    assert any("max_price_cents" in e for e in errors(at)), errors(at)
    assert req.list_campaigns() == []


def test_dashboard_upload_open_close_settle_and_money(api_env, api):
    req, acct = api.account("requester")
    ann, _ = api.account("annotator")
    camp = req.create_campaign(name="dash", budget_cents=1000, max_price_cents=50, rule="second_price",
                               labels_per_item=1, round_size=3, round_duration_s=300)
    at = signed_in(acct["token"])
    goto(at, "dashboard")
    assert metric(at, "Budget") == "$10.00" and metric(at, "Spent") == "$0.00"
    assert any("No accepted labels to export yet." in c for c in texts(at.caption))

    click(at, "Open a round")  # an empty pool: the API's reason is shown
    assert any("has no items to offer" in e for e in errors(at)), errors(at)

    click(at, "Upload pool")
    assert "Choose a JSONL file first." in errors(at)
    at.file_uploader[0].upload("broken.jsonl", b'{"prompt": "ok", "completion_a": "x", "completion_b": "y"}\nnot json\n',
                               "application/x-ndjson")
    click(at, "Upload pool")
    assert any("line 2" in e for e in errors(at)), errors(at)  # the API names the bad line
    assert req.list_items(camp["id"]) == []  # and imports nothing
    at.file_uploader[0].set_value(None)
    at.file_uploader[0].upload("pool.jsonl", pairs_jsonl(6, "d").encode(), "application/x-ndjson")
    click(at, "Upload pool")
    assert "Imported 6 items from pool.jsonl (pair format)." in successes(at)
    click(at, "Upload pool")  # the uploader was emptied: a second click imports nothing
    assert "Choose a JSONL file first." in errors(at)
    assert len(req.list_items(camp["id"])) == 6

    click(at, "Open a round")
    [r] = req.list_rounds(campaign_id=camp["id"])
    assert r["state"] == "open" and r["demand"] == 3
    assert any(f"Round #{r['id']} is open for bids on 3 items" in s for s in successes(at))

    ann.place_bid(r["id"], 10, 2)
    at.run()
    at.selectbox(key=f"round_{camp['id']}").select(r["id"])
    click(at, "Close bidding now")
    assert any(f"Round #{r['id']} closed: 2 labels assigned" in s for s in successes(at)), successes(at)
    assert metric(at, "In escrow") == "$1.00"  # two units at the 50¢ clearing price

    a = ann.my_assignments(state="open")[0]
    ann.submit_label(a["id"], "a")
    at.run()
    assert metric(at, "Spent") == "$0.50" and metric(at, "Labels bought") == "1"
    assert metric(at, "Cost per label") == "$0.50"
    assert at.get("vega_lite_chart"), "no clearing-price chart"
    rows = at.dataframe[0].value.set_index("round")
    assert rows.loc[r["id"], "clearing price"] == "$0.50" and rows.loc[r["id"], "bids"] == 1

    at.selectbox(key=f"round_{camp['id']}").select(r["id"])
    click(at, "Settle")
    assert f"Round #{r['id']} settled; $0.50 returned to the budget." in successes(at)
    assert metric(at, "In escrow") == "$0.00" and metric(at, "Remaining") == "$9.50"


def test_win_rate_against_dollars_and_export(api_env, market):
    cid = market.campaign["id"]
    r = market.requester.open_round(cid)
    market.annotator.place_bid(r["id"], 20, 2)
    market.requester.close_round(r["id"])
    for a in market.annotator.my_assignments(state="open"):
        market.annotator.submit_label(a["id"], "a")
    market.requester.post_evaluation(cid, spend_cents=40, win_rate=0.52, ci_low=0.45, ci_high=0.59, n=100)
    market.requester.post_evaluation(cid, spend_cents=100, win_rate=0.61, ci_low=0.55, ci_high=0.67, n=100)

    at = signed_in(market.requester_acct["token"])
    goto(at, "dashboard")
    at.selectbox(key="dashboard_campaign").select(cid).run()
    assert metric(at, "$ per win-rate point") == "$0.09"  # $1.00 / 11 points
    assert metric(at, "win rate") == "61.0%" and metric(at, "95% CI") == "55.0–67.0%"
    assert len(at.get("vega_lite_chart")) == 2  # win rate curve and clearing prices
    assert metric(at, "$ to reach 60%") == "$0.93"  # 0.40 + (8/9)·0.60 dollars, as the API interpolates

    market.requester.post_evaluation(cid, spend_cents=100, win_rate=0.61, ci_low=0.55, ci_high=0.67, n=100,
                                     metrics={"heldout_accuracy": 0.7, "heldout_ci_low": 0.6, "heldout_ci_high": 0.8,
                                              "heldout_n": 50})
    at.radio(key=f"metric_{cid}").set_value("heldout_accuracy").run()
    assert metric(at, "held-out accuracy") == "70.0%" and metric(at, "95% CI") == "60.0–80.0%"
    assert metric(at, "$ per held-out-accuracy point") == "$0.05"  # $1.00 / 20 points
    [download] = at.get("download_button")
    assert download.label == "Download 2 labelled pairs (JSONL)"
    exported = market.requester.export_labels(cid)
    assert len(exported) == 2 and all(row["chosen"].startswith("A warm, funny film") for row in exported)


def test_live_toggle_keeps_the_dashboard_working(api_env, market):
    at = signed_in(market.requester_acct["token"])
    goto(at, "dashboard")
    at.toggle(key="dashboard_live").set_value(True).run()
    assert not at.exception and metric(at, "Budget") == "$20.00"


def test_another_requesters_campaign_is_not_reachable(api_env, market, api):
    _, other = api.account("requester")
    at = signed_in(other["token"])
    goto(at, "dashboard")
    assert any("No campaigns yet." in i for i in texts(at.info))


def test_a_campaign_with_a_held_out_set_shows_held_out_accuracy_first(api_env, market):
    cid = market.campaign["id"]
    market.requester.upload_held_out(cid, "".join(
        json.dumps({"prompt": f"held {i}", "chosen": "A warm film.", "rejected": "Dull."}) + "\n" for i in range(3)))
    r = market.requester.open_round(cid)
    market.annotator.place_bid(r["id"], 20, 2)
    market.requester.close_round(r["id"])
    for a in market.annotator.my_assignments(state="open"):
        market.annotator.submit_label(a["id"], "a")
    market.requester.post_evaluation(cid, spend_cents=40, win_rate=0.5, ci_low=0.0, ci_high=1.0, n=0,
                                     metrics={"heldout_accuracy": 0.6, "heldout_ci_low": 0.55, "heldout_ci_high": 0.65,
                                              "heldout_n": 3})
    at = signed_in(market.requester_acct["token"])
    goto(at, "dashboard")
    at.selectbox(key="dashboard_campaign").select(cid).run()
    assert at.radio(key=f"metric_{cid}").value == "heldout_accuracy"
    assert metric(at, "held-out accuracy") == "60.0%" and metric(at, "95% CI") == "55.0–65.0%"
    captions = texts(at.caption)
    assert any("Held-out set: 3 labelled pairs" in c for c in captions)
    assert any("The 3 held-out pairs are not in it" in c for c in captions)

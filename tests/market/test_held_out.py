"""A campaign's held-out labelled set: uploaded, stored apart, never offered, trained on or exported."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from app import cli
from market.client import MarketClient, MarketError


def lines(*objs) -> str:
    return "".join(json.dumps(o) + "\n" for o in objs)


def hh(question: str, chosen: str, rejected: str) -> dict:
    turn = f"\n\nHuman: {question}\n\nAssistant:"
    return {"chosen": f"{turn} {chosen}", "rejected": f"{turn} {rejected}"}


@pytest.fixture
def campaign(market):
    req = market.requester()
    c = req.create_campaign(name="hh", budget_cents=1000, max_price_cents=50, rule="second_price", round_size=10)
    return req, c["id"]


def test_held_out_keeps_the_logged_preference_and_empty_replies(campaign):
    req, cid = campaign
    out = req.upload_held_out(cid, lines(hh("hurt someone?", "", "Here is how."), hh("hi", "hello", "go away")))
    assert out == {"campaign_id": cid, "imported": 2, "format": "hh", "refused": []}
    rows = req.list_held_out(cid)
    assert [(r["chosen"], r["rejected"]) for r in rows] == [("", "Here is how."), ("hello", "go away")]
    assert rows[0]["prompt"] == "\n\nHuman: hurt someone?\n\nAssistant:" and [r["position"] for r in rows] == [0, 1]
    assert req.list_items(cid) == []  # stored apart from the pool


def test_held_out_lines_without_a_preference_are_refused_or_reported(campaign):
    req, cid = campaign
    text = lines({"prompt": "p", "completion_a": "x", "completion_b": "y"},
                 {"prompt": "p", "completion_a": "x", "completion_b": "y", "gold": "b"})
    with pytest.raises(MarketError) as e:
        req.upload_held_out(cid, text)
    assert e.value.status == 422 and "line 1:" in e.value.detail and "logged preference" in e.value.detail
    assert req.list_held_out(cid) == []
    out = req.upload_held_out(cid, text, skip_invalid=True)
    assert out["imported"] == 1 and [r["line"] for r in out["refused"]] == [1]
    (row,) = req.list_held_out(cid)
    assert (row["chosen"], row["rejected"]) == ("y", "x")
    with pytest.raises(MarketError) as e:
        req.upload_held_out(cid, lines({"prompt": "only a prompt"}))
    assert e.value.status == 422


def test_a_pair_cannot_be_both_in_the_pool_and_held_out(campaign):
    req, cid = campaign
    shared = hh("what is 2+2?", "4", "5")
    req.upload_items(cid, lines(shared, hh("capital of France?", "Paris", "Rome")))
    with pytest.raises(MarketError) as e:
        req.upload_held_out(cid, lines(hh("hi", "hello", "go away"), shared))
    assert e.value.status == 422 and "line 2:" in e.value.detail and "pool" in e.value.detail
    out = req.upload_held_out(cid, lines(hh("hi", "hello", "go away"), shared), skip_invalid=True)
    assert out["imported"] == 1 and [r["line"] for r in out["refused"]] == [2]
    with pytest.raises(MarketError) as e:  # and the other way round
        req.upload_items(cid, lines(hh("hi", "go away", "hello")))
    assert e.value.status == 422 and "held-out" in e.value.detail
    assert len(req.list_items(cid)) == 2


def test_held_out_pairs_are_never_offered_assigned_or_exported(campaign, market):
    req, cid = campaign
    req.upload_items(cid, lines(*[hh(f"pool question {i}", f"good {i}", f"bad {i}") for i in range(3)]))
    req.upload_held_out(cid, lines(*[hh(f"held question {i}", f"good {i}", f"bad {i}") for i in range(5)]))
    r = req.open_round(cid)
    assert sorted(r["item_ids"]) == sorted(it["id"] for it in req.list_items(cid))
    ann = market.annotators(1)[0]
    ann.place_bid(r["id"], 10, capacity=10)
    req.close_round(r["id"])
    mine = ann.my_assignments(state="open")
    assert len(mine) == 3 and all("pool question" in a["prompt"] for a in mine)
    for a in mine:
        ann.submit_label(a["id"], "a")
    req.settle_round(r["id"])
    exported = req.export_labels(cid)
    assert len(exported) == 3 and not any("held question" in row["prompt"] for row in exported)
    with pytest.raises(MarketError) as e:  # an annotator cannot read the answers
        ann.list_held_out(cid)
    assert e.value.status == 404


def test_cli_uploads_a_held_out_set(monkeypatch, http, campaign, tmp_path):
    monkeypatch.setattr(cli, "_client", lambda url, token: MarketClient("http://testserver", token, transport=http))
    req, cid = campaign
    src = tmp_path / "held.jsonl"
    src.write_text(lines(hh("a", "b", "c"), {"prompt": "p", "completion_a": "x", "completion_b": "y"}))
    out = CliRunner().invoke(cli.app, ["campaign", "upload", str(cid), str(src), "--held-out", "--skip-invalid",
                                       "--token", req.token])
    assert out.exit_code == 0, out.output
    assert "imported 1 held-out pairs" in out.output and "refused 1 lines" in out.output
    assert len(req.list_held_out(cid)) == 1 and req.list_items(cid) == []
    assert json.loads((tmp_path / "held.jsonl.refused.jsonl").read_text())["line"] == 2

"""The campaign summary counts the requester's items, and reports gold checks apart."""

from __future__ import annotations

import json


def gold_jsonl(n: int, start: int = 100) -> str:
    return "".join(json.dumps({"prompt": f"Review movie {i}", "completion_a": f"Great film {i}!",
                               "completion_b": f"Bad film {i}.", "gold": "a", "gold_check": True}) + "\n"
                   for i in range(start, start + n))


def play(req, c, anns) -> dict:
    r = req.open_round(c["id"])
    for i, a in enumerate(anns):
        a.place_bid(r["id"], 10 + i, capacity=5)
    req.close_round(r["id"])
    for a in anns:
        for asg in a.my_assignments(state="open"):
            a.submit_label(asg["id"], "a")
    return req.get_round(r["id"])


def test_items_labelled_leaves_gold_items_out(market, pairs, campaign_fields):
    req = market.requester()
    c = req.create_campaign(**(campaign_fields | dict(budget_cents=5000, gold_rate=0.5, min_gold_answers=2,
                                                      probation_share=1.0)))  # measure only: no bar
    req.upload_items(c["id"], pairs(6))
    req.upload_items(c["id"], gold_jsonl(4))
    anns = market.annotators(2)

    # round 1: both annotators are new, so half of every unit they win is a gold check
    r1 = play(req, c, anns)
    assert r1["n_assignments"] == 6
    s = req.campaign_summary(c["id"])
    items = req.list_items(c["id"])
    gold_done = sum(1 for it in items if it["gold_check"] and it["n_labels"] >= 1)
    real_done = sum(1 for it in items if not it["gold_check"] and it["n_labels"] >= 1)
    assert gold_done > 0  # the gold items are labelled, and used to count as labelled items
    assert (s["items"], s["items_labelled"], s["gold_items"]) == (6, real_done, 4)
    assert s["gold_checks"] == sum(it["n_labels"] for it in items if it["gold_check"]) and s["labels"] == 6

    # round 2: both are qualified (no bar: enough answers); real items get labels too
    play(req, c, anns)
    s = req.campaign_summary(c["id"])
    items = req.list_items(c["id"])
    real_done = sum(1 for it in items if not it["gold_check"] and it["n_labels"] >= 1)
    assert 0 < real_done == s["items_labelled"] <= s["items"] == 6
    assert s["gold_items"] == 4
    assert s["gold_checks"] == sum(it["n_labels"] for it in items if it["gold_check"])
    assert s["labels"] == s["gold_checks"] + sum(it["n_labels"] for it in items if not it["gold_check"])
    assert s["balanced"]

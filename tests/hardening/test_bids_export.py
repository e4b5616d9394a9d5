"""GET /v1/campaigns/{id}/bids carries everything counterfactual replay needs.

The export alone (no help from other endpoints) must let ``bidders.replay`` re-clear each
round under its live rule and pay every bid exactly what the market paid it, including
the cases that only the market knows about: a bid capped below its capacity (one unit
per item and annotator, never an item the annotator held before) and a round cleared on
less than its own budget because the campaign had less left.
"""

from __future__ import annotations

import pytest

from bidders.replay import BID_FIELDS, ROUND_FIELDS, load_rounds, replay
from market.mechanisms import RULES

from .conftest import account, pairs_jsonl


def _run_campaign(admin, rule: str):
    req, _ = account(admin, f"req-{rule}", "requester")
    anns = [account(admin, f"ann-{rule}-{i}", "annotator")[0] for i in range(5)]
    # labels_per_item=2 re-offers items that got one label to the others; a budget of 90
    # with round budgets of 80 makes the second of two open rounds clear on what is left.
    c = req.create_campaign(name=f"c-{rule}", budget_cents=90, max_price_cents=40, rule=rule, labels_per_item=2,
                            round_size=3, round_budget_cents=80, round_duration_s=300, posted_price_cents=20)
    req.upload_items(c["id"], pairs_jsonl(6))
    req.post_scores(c["id"], {it["id"]: 1.0 + 0.5 * k for k, it in enumerate(req.list_items(c["id"]))})
    asks = [7, 12, 18, 25, 33]
    for rnd_no in range(3):
        # the first time two rounds are open at once: the second clears on what the first left
        opened = []
        for _ in range(2 if rnd_no == 0 else 1):
            try:
                opened.append(req.open_round(c["id"], duration_s=60))
            except Exception:  # noqa: BLE001 - nothing left to buy
                break
        for r in opened:
            for k, (ann, ask) in enumerate(zip(anns, asks, strict=True)):
                ann.place_bid(r["id"], ask + rnd_no, capacity=5 if k % 2 == 0 else 1)  # 5 > the 3 items offered
        for r in opened:
            req.close_round(r["id"])
        for ann in anns[:3]:  # some label, the rest let their assignments lapse
            for a in ann.my_assignments(state="open"):
                ann.submit_label(a["id"], "a")
        for r in opened:
            req.settle_round(r["id"])
    return req, c


@pytest.mark.parametrize("rule", RULES)
def test_export_alone_replays_every_round_to_the_cent(admin, rule):
    req, c = _run_campaign(admin, rule)
    rows = req.campaign_bids(c["id"])
    assert rows, "no closed round with bids"
    for row in rows:
        for field in ("round_id", *ROUND_FIELDS, *BID_FIELDS, "won_units"):
            assert field in row, field
        assert row["rule"] == rule
        assert 0 <= row["units"] <= row["capacity"]
        assert len(row["paid_cents"]) >= row["won_units"]
        assert all(p >= row["ask_cents"] for p in row["paid_cents"])  # never below the ask
        assert (row["price_cents"] == 20) == (rule == "posted_price")
    assert any(r["units"] < r["capacity"] for r in rows), "no bid was capped below its capacity"
    by_round: dict[int, dict] = {}
    for row in rows:
        by_round.setdefault(row["round_id"], row)
    for rid, row in by_round.items():
        rnd = req.get_round(rid)
        assert row["budget_cents"] <= rnd["budget_cents"]
        assert sum(sum(r["paid_cents"]) for r in rows if r["round_id"] == rid) <= row["budget_cents"]
        assert len(row["values_cents"]) <= rnd["demand"]
    assert any(row["budget_cents"] < req.get_round(rid)["budget_cents"] for rid, row in by_round.items()), \
        "no round cleared on less than its own budget"

    table = replay(load_rounds(rows), rules=(rule,))
    assert table["matches"].all(), table[~table["matches"]]
    # and the money the export says the clearing paid is the money the market escrowed
    escrowed = sum(req.get_round(rid)["escrowed_cents"] for rid in by_round)
    assert sum(sum(r["paid_cents"]) for r in rows) == escrowed


def test_bids_export_is_the_owners_only(admin):
    req, c = _run_campaign(admin, "second_price")
    other, _ = account(admin, "other-req", "requester")
    ann, _ = account(admin, "nosy-ann", "annotator")
    from market.client import MarketError

    for client, status in ((other, 404), (ann, 404)):
        with pytest.raises(MarketError) as exc:
            client.campaign_bids(c["id"])
        assert exc.value.status == status

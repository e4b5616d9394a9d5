"""A requester can keep annotators that a flag links to another account out of its rounds
(issue 18, item 5: ``exclude_flagged``)."""

from __future__ import annotations

import random

import pytest

from market.client import MarketError
from tests.market.conftest import pairs_jsonl

TERMS = dict(budget_cents=200_000, max_price_cents=50, rule="second_price", labels_per_item=1, round_size=30,
             round_duration_s=300)


def _play(req, campaign_id, independents, ring, rng) -> dict[int, int]:
    """One round: independents ask at random, the ring's two accounts a cent apart; returns
    units won by each ring account."""
    rnd = req.open_round(campaign_id)
    for a in independents:
        a.place_bid(rnd["id"], rng.randint(10, 39), 3)
    ask = rng.randint(10, 39)
    for k, a in enumerate(ring):
        a.place_bid(rnd["id"], ask + k, 3)  # one cent apart: the old flag matched to the cent
    req.close_round(rnd["id"])
    return {k: len([x for x in a.my_assignments() if x["round_id"] == rnd["id"]]) for k, a in enumerate(ring)}


def test_an_excluded_flagged_annotator_wins_nothing(market):
    rng = random.Random(5)
    req = market.requester()
    guarded = req.create_campaign(name="guarded", exclude_flagged=True, **TERMS)
    open_ = req.create_campaign(name="open", **TERMS)
    assert guarded["exclude_flagged"] is True and open_["exclude_flagged"] is False
    for c in (guarded, open_):
        req.upload_items(c["id"], pairs_jsonl(200))
    independents = market.annotators(6, prefix="ind")
    ring = market.annotators(2, prefix="ring")
    ring_ids = sorted(a.me()["id"] for a in ring)

    won = {"guarded": [], "open": []}
    for _ in range(6):
        for name, c in (("guarded", guarded), ("open", open_)):
            won[name].append(_play(req, c["id"], independents, ring, rng))
    flags = req.campaign_flags(guarded["id"])
    assert any(f["kind"] == "similar_bids" and sorted(f["annotator_ids"]) == ring_ids for f in flags)
    # once three rounds link them, the guarded campaign gives the ring nothing; the open one still does
    assert all(sum(w.values()) == 0 for w in won["guarded"][3:])
    assert sum(sum(w.values()) for w in won["open"][3:]) > 0


def test_exclude_flagged_is_validated(market):
    req = market.requester()
    for bad in ("yes", 1, None):
        with pytest.raises(MarketError) as e:
            req.create_campaign(name="x", exclude_flagged=bad, **TERMS)
        assert e.value.status == 422 and "exclude_flagged" in str(e.value)

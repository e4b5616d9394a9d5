"""No bid is lost under concurrency: bids placed and replaced by many threads while the
round is closed. Every bid acknowledged before the close is what the clearing saw, the
last acknowledged ask of each annotator is the one stored, and nothing is acknowledged
after the close (one statement per bid, ``market.bid.place_bid``)."""

from __future__ import annotations

import threading
import time

from sqlmodel import Session, select

from market import accounts, bid, campaign
from market import round as rounds
from market.errors import Conflict
from market.tables import Bid, Item, Round

ANNOTATORS = 12
BIDS_EACH = 6


def test_bids_racing_a_close_are_all_seen_or_all_refused(engine):
    with Session(engine, expire_on_commit=False) as s:
        req, _ = accounts.create_account(s, "r", "requester")
        anns = [accounts.create_account(s, f"a{i}", "annotator")[0] for i in range(ANNOTATORS)]
        c = campaign.create_campaign(s, req, name="c", budget_cents=10_000, max_price_cents=90, rule="second_price",
                                     round_size=8)
        s.add_all([Item(campaign_id=c.id, position=i, prompt=f"p{i}", completion_a="a", completion_b="b")
                   for i in range(8)])
        s.commit()
        rid = rounds.open_round(s, req, c.id).id
        s.commit()

    acked: dict[int, list[int]] = {a.id: [] for a in anns}
    errors: list[str] = []
    start = threading.Barrier(ANNOTATORS + 1)

    def bidder(k: int) -> None:
        start.wait()
        for j in range(BIDS_EACH):
            ask = 10 + k + j
            try:
                with Session(engine, expire_on_commit=False) as s:
                    b = bid.place_bid(s, anns[k], rid, ask, capacity=1 + j % 3)
                    s.commit()
                acked[anns[k].id].append(b.ask_cents)
            except Conflict:
                return  # closed: every later bid is refused too
            except Exception as exc:  # noqa: BLE001 - surfaced below
                errors.append(repr(exc))
                return

    def closer() -> None:
        start.wait()
        time.sleep(0.02)
        with Session(engine, expire_on_commit=False) as s:
            rounds.close_round(s, req, rid)
            s.commit()

    threads = [threading.Thread(target=bidder, args=(k,)) for k in range(ANNOTATORS)]
    threads.append(threading.Thread(target=closer))
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    with Session(engine) as s:
        stored = {b.annotator_id: b for b in s.exec(select(Bid).where(Bid.round_id == rid)).all()}
        rnd = s.get(Round, rid)
    bidders = {aid for aid, asks in acked.items() if asks}
    assert set(stored) == bidders
    assert rnd.state != "open" and rnd.n_bids == len(bidders)  # the clearing saw every acknowledged bid
    for aid in bidders:
        assert stored[aid].ask_cents == acked[aid][-1]  # the last acknowledged ask, not an earlier one

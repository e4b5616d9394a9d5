"""One broken round harms no other (issue 18, item 4): overdue rounds are cleared each in
its own transaction; a clearing that raises is undone, recorded, retried, then parked."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, select

from market import clock, ledger
from market import round as rounds
from market.client import MarketError
from market.tables import Assignment, Campaign, Item, LedgerEntry, Round


@pytest.fixture
def three_overdue_rounds(market, pairs, monkeypatch):
    """Three campaigns, each with one round that has a bid and is past its deadline."""
    req = market.requester()
    ann = market.annotators(1)[0]
    ids = []
    for k in range(3):
        c = req.create_campaign(name=f"c{k}", budget_cents=1000, max_price_cents=50, rule="second_price",
                                round_size=2, round_duration_s=60)
        req.upload_items(c["id"], pairs(2, start=10 * k))
        r = req.open_round(c["id"])
        ann.place_bid(r["id"], 10, capacity=2)
        ids.append(r["id"])
    real = clock.now
    monkeypatch.setattr(clock, "now", lambda: real() + timedelta(seconds=120))
    return req, ann, ids


def _failing_clear(monkeypatch, bad_id: int, calls: list[int]):
    """Clear as usual, then raise for ``bad_id``: its writes are flushed when it fails."""
    real = rounds._clear

    def clear(session, rnd):
        real(session, rnd)
        if rnd.id == bad_id:
            calls.append(rnd.id)
            raise ValueError("injected clearing fault")

    monkeypatch.setattr(rounds, "_clear", clear)


def test_a_failing_round_is_recorded_and_undone_while_the_others_clear(market, engine, three_overdue_rounds,
                                                                        monkeypatch):
    req, ann, (good1, bad, good2) = three_overdue_rounds
    calls: list[int] = []
    _failing_clear(monkeypatch, bad, calls)

    listed = {r["id"]: r for r in req.list_rounds()}  # the route answers 200 for everyone
    assert calls == [bad]
    assert listed[good1]["state"] == listed[good2]["state"] == "cleared"
    assert listed[good1]["n_assignments"] == listed[good2]["n_assignments"] == 2
    assert listed[bad]["state"] == "open"
    with Session(engine) as s:
        rnd = s.get(Round, bad)
        assert rnd.failures == 1 and rnd.last_error == "ValueError: injected clearing fault"
        # the flushed clearing was rolled back whole: no assignment, no escrow, items still on offer
        assert s.exec(select(Assignment).where(Assignment.round_id == bad)).all() == []
        assert s.exec(select(LedgerEntry).where(LedgerEntry.round_id == bad)).all() == []
        assert all(it.round_id == bad for it in s.exec(select(Item).where(Item.campaign_id == rnd.campaign_id)))
        for c in s.exec(select(Campaign)).all():
            ledger.check_campaign(s, c)
        assert s.get(Round, good1).failures == 0
    with pytest.raises(MarketError) as e:  # still open, but past its deadline: no bid taken
        ann.place_bid(bad, 5, capacity=1)
    assert e.value.status == 409 and "past its deadline" in e.value.detail
    assert req.get_round(bad)["state"] == "open"  # reading it answers too
    assert calls == [bad, bad, bad]  # the bid and the read each tried it again, and recorded it


def test_a_round_that_keeps_failing_is_parked_and_its_owner_can_still_close_it(market, engine,
                                                                               three_overdue_rounds, monkeypatch):
    req, _, (_, bad, _) = three_overdue_rounds
    calls: list[int] = []
    _failing_clear(monkeypatch, bad, calls)
    for _ in range(rounds.MAX_FAILURES + 2):
        req.list_rounds()
        req.get_round(bad)
    assert len(calls) == rounds.MAX_FAILURES  # parked: neither the sweep nor a read tries it again
    with Session(engine) as s:
        assert s.get(Round, bad).failures == rounds.MAX_FAILURES
        assert bad not in rounds._due_ids(s)
    monkeypatch.undo()  # the cause is fixed (and the clock is real again): the owner closes it
    r = req.close_round(bad)
    assert r["state"] == "cleared" and r["n_assignments"] == 2
    with Session(engine) as s:
        assert s.get(Round, bad).failures == 0


def test_a_database_error_on_one_round_is_not_counted_and_the_sweep_goes_on(engine, three_overdue_rounds,
                                                                            monkeypatch):
    _, _, (good1, bad, good2) = three_overdue_rounds
    real = rounds._clear

    def clear(session, rnd):
        if rnd.id == bad:
            raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))
        real(session, rnd)

    monkeypatch.setattr(rounds, "_clear", clear)
    with Session(engine, expire_on_commit=False) as s:  # what the sweeper thread runs
        assert rounds.touch_due(s) == 3
    with Session(engine) as s:
        assert [s.get(Round, i).state for i in (good1, bad, good2)] == ["cleared", "open", "cleared"]
        assert s.get(Round, bad).failures == 0  # the database's fault, not the round's: tried again next sweep
        assert rounds._due_ids(s) == [bad]

"""Group commit of bids (``market.api.bid_writer``): bids that arrive together are written
in one transaction, each still gets its own answer, and one bid's failure is no other's."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, select

from market import accounts, campaign
from market import round as rounds
from market.api import bid_writer
from market.api.app import create_app
from market.api.bid_writer import BidRequest, BidWriter
from market.errors import Invalid
from market.tables import Account, Bid, Item

ANNOTATORS = 24


@pytest.fixture
def market_round(engine):
    """An open round (price cap 90 cents), a closed one, and annotators with their tokens."""
    with Session(engine, expire_on_commit=False) as s:
        req, _ = accounts.create_account(s, "r", "requester")
        made = [accounts.create_account(s, f"a{i}", "annotator") for i in range(ANNOTATORS)]
        c = campaign.create_campaign(s, req, name="c", budget_cents=100_000, max_price_cents=90,
                                     rule="second_price", round_size=4)
        s.add_all([Item(campaign_id=c.id, position=i, prompt=f"p{i}", completion_a="a", completion_b="b")
                   for i in range(8)])
        s.commit()
        closed = rounds.open_round(s, req, c.id).id
        s.commit()
        rounds.close_round(s, req, closed)
        s.commit()
        open_ = rounds.open_round(s, req, c.id).id
        s.commit()
    return open_, closed, [a for a, _ in made], [t for _, t in made]


def _stored(engine, round_id: int) -> dict[int, Bid]:
    with Session(engine) as s:
        return {b.annotator_id: b for b in s.exec(select(Bid).where(Bid.round_id == round_id))}


def test_a_burst_of_bids_is_written_in_few_transactions_and_each_gets_its_own_answer(engine, market_round):
    open_, closed, anns, tokens = market_round
    app = create_app(engine)

    async def burst():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            def put(k: int, round_id: int, ask: int):
                return client.put(f"/v1/rounds/{round_id}/bid", json={"ask_cents": ask, "capacity": 1 + k % 3},
                                  headers={"Authorization": f"Bearer {tokens[k]}"})
            # 20 good bids, 2 over the price cap, 2 on a closed round, all at once
            calls = [put(k, open_, 10 + k) for k in range(20)]
            calls += [put(20, open_, 91), put(21, open_, 500), put(22, closed, 10), put(23, closed, 11)]
            return await asyncio.gather(*calls)

    answers = asyncio.run(burst())
    for k, answer in enumerate(answers[:20]):
        assert answer.status_code == 200, answer.text
        assert answer.json()["ask_cents"] == 10 + k and answer.json()["capacity"] == 1 + k % 3
    assert [a.status_code for a in answers[20:22]] == [422, 422]
    assert all("ask_cents" in a.json()["detail"] and "maximum price" in a.json()["detail"] for a in answers[20:22])
    assert [a.status_code for a in answers[22:]] == [409, 409]
    assert all("bids are taken only while a round is open" in a.json()["detail"] for a in answers[22:])

    stored = _stored(engine, open_)
    assert {aid: b.ask_cents for aid, b in stored.items()} == {anns[k].id: 10 + k for k in range(20)}
    assert _stored(engine, closed) == {}
    # batched: 24 bids took far fewer transactions than one each
    assert app.state.bids.transactions < 12


def test_input_refused_before_any_statement_leaves_the_batch_intact(engine, market_round):
    open_, _, anns, _ = market_round
    writer = BidWriter(engine)
    outcomes = writer.write([BidRequest(anns[0], open_, 12, 1, None), BidRequest(anns[1], open_, 0, 1, None),
                             BidRequest(anns[2], open_, 14, 1, None)])
    assert isinstance(outcomes[1], Invalid) and "ask_cents" in outcomes[1].detail
    assert [o.ask_cents for o in (outcomes[0], outcomes[2])] == [12, 14]
    assert writer.transactions == 1
    assert set(_stored(engine, open_)) == {anns[0].id, anns[2].id}


def test_a_batch_whose_transaction_fails_is_retried_one_bid_at_a_time(engine, market_round, monkeypatch):
    """A database error on one bid (a deadlock, a lost connection) fails its batch's
    transaction; every other bid of the batch is still placed, in its own transaction, and
    only the failing bid's caller sees the error."""
    open_, _, anns, _ = market_round
    real = bid_writer.try_place_bid

    def flaky(conn, annotator: Account, *args):
        if annotator.id == anns[1].id:
            raise OperationalError("INSERT", {}, Exception("deadlock detected"))
        return real(conn, annotator, *args)

    monkeypatch.setattr(bid_writer, "try_place_bid", flaky)
    writer = BidWriter(engine)
    outcomes = writer.write([BidRequest(a, open_, 20 + k, 1, None) for k, a in enumerate(anns[:4])])
    assert isinstance(outcomes[1], OperationalError)
    assert [outcomes[k].ask_cents for k in (0, 2, 3)] == [20, 22, 23]
    assert writer.transactions == 1 + 4  # the failed batch, then each bid alone
    assert {aid: b.ask_cents for aid, b in _stored(engine, open_).items()} == {
        anns[0].id: 20, anns[2].id: 22, anns[3].id: 23}


def test_batches_are_bounded_and_a_later_bid_replaces_an_earlier_one(engine, market_round):
    open_, _, anns, _ = market_round
    writer = BidWriter(engine, max_batch=5)

    async def burst():
        return await asyncio.gather(*[writer.place(BidRequest(anns[k % 6], open_, 10 + k, 1, None))
                                      for k in range(18)])

    placed = asyncio.run(burst())
    assert [b.ask_cents for b in placed] == [10 + k for k in range(18)]
    assert writer.transactions == 4  # 18 bids in batches of at most 5
    # each annotator's last bid in arrival order is the one that stands
    assert {aid: b.ask_cents for aid, b in _stored(engine, open_).items()} == {
        anns[k].id: 10 + 12 + k for k in range(6)}


def test_the_server_factory_freezes_what_start_up_made(tmp_path, monkeypatch):
    """uvicorn's factory moves start-up's objects out of the collector's reach (full
    collections stalled every request for ~140 ms under load; ``bench http``)."""
    import gc

    from app.cli import create_app_from_env

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'm.db'}")
    monkeypatch.setenv("PREFMARKET_SWEEP_S", "0")
    gc.unfreeze()
    try:
        app = create_app_from_env()
        assert gc.get_freeze_count() > 0
        assert app.state.bids.engine is app.state.engine
    finally:
        gc.unfreeze()
        app.state.engine.dispose()

"""Sealed bids: an annotator's ask per label (integer cents) and capacity (labels).

One bid per annotator and round (a database constraint); placing again replaces it, and
it can be withdrawn, while the round is open. Nobody but its author reads a bid before
the round closes; the owner may read a closed round's bids for counterfactual replay.

Bids take a *shared* lock on the round row and closing takes an exclusive one, so on
Postgres a bid can never slip in while a round is being cleared (on SQLite the
``BEGIN IMMEDIATE`` write lock already serialises them).
"""

from __future__ import annotations

from sqlalchemy import bindparam, insert, update
from sqlmodel import Session, col, select

from market import clock, limits
from market import round as rounds
from market.errors import Conflict, Forbidden, Invalid, NotFound
from market.tables import Account, Bid, Campaign, Round


def _require_annotator(account: Account) -> None:
    if account.role != "annotator":
        raise Forbidden("only annotator accounts bid")


_BIDS = Bid.__table__
_ROUNDS = Round.__table__
_CAMPAIGNS = Campaign.__table__
# Built once: the hot path only binds parameters (statement construction costs more than
# SQLite takes to run them).
_ROUND_CHECK = (
    select(_ROUNDS.c.state, _ROUNDS.c.deadline, _ROUNDS.c.campaign_id, _CAMPAIGNS.c.max_price_cents)
    .join(_CAMPAIGNS, _CAMPAIGNS.c.id == _ROUNDS.c.campaign_id)
    .where(_ROUNDS.c.id == bindparam("round_id"))
    .with_for_update(read=True, of=_ROUNDS)
)
_REPLACE = (
    update(_BIDS)
    .where(_BIDS.c.round_id == bindparam("rid"), _BIDS.c.annotator_id == bindparam("aid"))
    .values(ask_cents=bindparam("ask"), capacity=bindparam("cap"), updated_at=bindparam("now"))
    .returning(_BIDS.c.id, _BIDS.c.created_at, _BIDS.c.won_units, _BIDS.c.quality)
)
_INSERT = insert(_BIDS).returning(_BIDS.c.id)


def _open_round(session: Session, round_id: int) -> tuple[int, int]:
    """``(campaign_id, max_price_cents)`` of a round that is open and before its deadline.

    One share-locked query on the hot path. An overdue round is closed lazily first
    (after letting go of the share lock, so locks are always taken campaign → round) and
    the bid refused."""
    row = session.connection().execute(_ROUND_CHECK, {"round_id": round_id}).first()
    if row is None:
        raise NotFound(f"round {round_id} not found")
    state, deadline, campaign_id, max_price = row
    if state == "open" and deadline <= clock.now():
        session.rollback()
        state = rounds.touch(session, rounds.get_round(session, round_id)).state
        session.commit()  # keep the lazy close (or its recorded failure) before refusing
        if state == "open":  # its clearing failed: still open, but past its deadline all the same
            raise Conflict(f"round {round_id} is past its deadline; bids are taken only while a round is open")
    if state != "open":
        raise Conflict(f"round {round_id} is {state}; bids are taken only while a round is open")
    return campaign_id, max_price


def place_bid(
    session: Session,
    annotator: Account,
    round_id: int,
    ask_cents: int,
    capacity: int = 1,
    campaign_id: int | None = None,
) -> Bid:
    """Place or replace the caller's bid on an open round. Caller commits.

    This is the market's hottest write, so it uses three plain statements (round check,
    UPDATE ... RETURNING, INSERT if there was nothing to update) rather than the ORM's
    unit of work; the returned ``Bid`` is a detached copy of the row."""
    _require_annotator(annotator)
    if type(ask_cents) is not int:  # noqa: E721 - bool and float refused
        raise Invalid(f"ask_cents: must be an integer number of cents (got {ask_cents!r})")
    if not 1 <= ask_cents <= limits.MAX_PRICE_CENTS:
        raise Invalid(f"ask_cents: must be between 1 and {limits.MAX_PRICE_CENTS} cents (got {ask_cents})")
    if type(capacity) is not int or not 1 <= capacity <= limits.MAX_CAPACITY:  # noqa: E721
        raise Invalid(f"capacity: must be an integer between 1 and {limits.MAX_CAPACITY} (got {capacity!r})")
    round_campaign, max_price = _open_round(session, round_id)
    if campaign_id is not None and campaign_id != round_campaign:
        raise Invalid(f"campaign_id: round {round_id} belongs to campaign {round_campaign}, not {campaign_id}")
    if ask_cents > max_price:
        raise Invalid(
            f"ask_cents: {ask_cents} is above campaign {round_campaign}'s maximum price per label "
            f"({max_price} cents); such a bid can never win"
        )
    now = clock.now()
    conn = session.connection()
    row = conn.execute(_REPLACE, {"rid": round_id, "aid": annotator.id, "ask": ask_cents, "cap": capacity,
                                  "now": now}).first()
    if row is None:
        quality = float(annotator.quality)
        bid_id = conn.execute(
            _INSERT,
            {"round_id": round_id, "annotator_id": annotator.id, "ask_cents": ask_cents, "capacity": capacity,
             "quality": quality, "won_units": 0, "units": 0, "paid_cents": [], "created_at": now, "updated_at": now},
        ).scalar_one()
        created, won = now, 0
    else:
        bid_id, created, won, quality = row
    return Bid(id=bid_id, round_id=round_id, annotator_id=annotator.id, ask_cents=ask_cents, capacity=capacity,
               quality=quality, won_units=won, created_at=created, updated_at=now)


def withdraw_bid(session: Session, annotator: Account, round_id: int) -> None:
    """Withdraw the caller's bid while the round is open. Caller commits."""
    _require_annotator(annotator)
    _open_round(session, round_id)
    session.expire_all()  # the bid may have been written through plain statements
    bid = session.exec(select(Bid).where(Bid.round_id == round_id, Bid.annotator_id == annotator.id)).first()
    if bid is None:
        raise NotFound(f"you have no bid on round {round_id}")
    session.delete(bid)
    session.flush()


def my_bid(session: Session, annotator: Account, round_id: int) -> Bid:
    _require_annotator(annotator)
    rounds.touch(session, rounds.get_round(session, round_id))
    bid = session.exec(select(Bid).where(Bid.round_id == round_id, Bid.annotator_id == annotator.id)).first()
    if bid is None:
        raise NotFound(f"you have no bid on round {round_id}")
    return bid


def closed_bids(session: Session, campaign: Campaign) -> list[tuple[Bid, Round]]:
    """Every bid of the campaign's closed rounds (for counterfactual replay), by round."""
    return list(
        session.exec(
            select(Bid, Round)
            .join(Round, Round.id == Bid.round_id)
            .where(Round.campaign_id == campaign.id, col(Round.state) != "open")
            .order_by(Round.id, Bid.id)
        ).all()
    )

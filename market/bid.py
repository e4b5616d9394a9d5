"""Sealed bids: an annotator's ask per label (integer cents) and capacity (labels).

One bid per annotator and round (a database constraint); placing again replaces it, and
it can be withdrawn, while the round is open. Nobody but its author reads a bid before
the round closes; the owner may read a closed round's bids for counterfactual replay.

Bids take a *shared* lock on the round row and closing takes an exclusive one, so on
Postgres a bid can never slip in while a round is being cleared (on SQLite the
``BEGIN IMMEDIATE`` write lock already serialises them).
"""

from __future__ import annotations

from typing import NoReturn

from sqlalchemy import bindparam, func, literal
from sqlalchemy.engine import Connection
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


def _upsert(dialect: str):
    """One statement that places or replaces a bid if, and only if, its round is open, before
    its deadline, of the campaign named (if any) and the ask within the campaign's price
    cap: an INSERT from a share-locked SELECT of the round, turned into an UPDATE of ask,
    capacity and time when the annotator already bid (``ON CONFLICT``; quality and creation
    time stay as first placed). It returns the row, or nothing when a condition failed."""
    from sqlalchemy.dialects import postgresql, sqlite

    typed = {c: bindparam(c, type_=_BIDS.c[c].type) for c in
             ("round_id", "annotator_id", "ask_cents", "capacity", "quality", "paid_cents", "created_at")}
    source = (
        select(typed["round_id"], typed["annotator_id"], typed["ask_cents"], typed["capacity"], typed["quality"],
               literal(0), literal(0), typed["paid_cents"], typed["created_at"], typed["created_at"])
        .select_from(_ROUNDS.join(_CAMPAIGNS, _CAMPAIGNS.c.id == _ROUNDS.c.campaign_id))
        .where(_ROUNDS.c.id == typed["round_id"], _ROUNDS.c.state == "open",
               _ROUNDS.c.deadline > typed["created_at"], _CAMPAIGNS.c.max_price_cents >= typed["ask_cents"],
               func.coalesce(bindparam("campaign_id", type_=_ROUNDS.c.campaign_id.type), _ROUNDS.c.campaign_id)
               == _ROUNDS.c.campaign_id)
        .with_for_update(read=True, of=_ROUNDS)
    )
    insert = (postgresql if dialect == "postgresql" else sqlite).insert
    stmt = insert(_BIDS).from_select(
        ["round_id", "annotator_id", "ask_cents", "capacity", "quality", "won_units", "units", "paid_cents",
         "created_at", "updated_at"], source)
    return stmt.on_conflict_do_update(
        index_elements=[_BIDS.c.round_id, _BIDS.c.annotator_id],
        set_={"ask_cents": stmt.excluded.ask_cents, "capacity": stmt.excluded.capacity,
              "updated_at": stmt.excluded.updated_at},
    ).returning(_BIDS.c.id, _BIDS.c.created_at, _BIDS.c.won_units, _BIDS.c.quality)


_UPSERT = {dialect: _upsert(dialect) for dialect in ("sqlite", "postgresql")}


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

    :func:`try_place_bid`, then :func:`refuse_bid` if it placed nothing."""
    bid = try_place_bid(session.connection(), annotator, round_id, ask_cents, capacity, campaign_id)
    if bid is None:
        refuse_bid(session, round_id, ask_cents, campaign_id)
    return bid


def try_place_bid(
    conn: Connection,
    annotator: Account,
    round_id: int,
    ask_cents: int,
    capacity: int = 1,
    campaign_id: int | None = None,
) -> Bid | None:
    """The bid placed or replaced, or None if its round refused it (:func:`refuse_bid` says
    why). Bad input raises at once. Caller commits.

    This is the market's hottest write, so it is one plain statement on a Core connection
    (see :func:`_upsert`) rather than a round check, an UPDATE and an INSERT through the
    ORM: on SQLite each statement is a wait for the GIL while holding the writer lock,
    which every other writer queues behind. The returned ``Bid`` is a detached copy of
    the row."""
    _require_annotator(annotator)
    if type(ask_cents) is not int:  # noqa: E721 - bool and float refused
        raise Invalid(f"ask_cents: must be an integer number of cents (got {ask_cents!r})")
    if not 1 <= ask_cents <= limits.MAX_PRICE_CENTS:
        raise Invalid(f"ask_cents: must be between 1 and {limits.MAX_PRICE_CENTS} cents (got {ask_cents})")
    if type(capacity) is not int or not 1 <= capacity <= limits.MAX_CAPACITY:  # noqa: E721
        raise Invalid(f"capacity: must be an integer between 1 and {limits.MAX_CAPACITY} (got {capacity!r})")
    now = clock.now()
    row = conn.execute(_UPSERT[conn.dialect.name], {
        "round_id": round_id, "annotator_id": annotator.id, "ask_cents": ask_cents, "capacity": capacity,
        "quality": float(annotator.quality), "paid_cents": [], "created_at": now, "campaign_id": campaign_id,
    }).first()
    if row is None:
        return None
    bid_id, created, won, quality = row
    # every field is known and checked, so no validation: pydantic's would cost more than the SQL
    return Bid.model_construct(id=bid_id, round_id=round_id, annotator_id=annotator.id, ask_cents=ask_cents,
                               capacity=capacity, quality=quality, won_units=won, units=0, paid_cents=[],
                               created_at=created, updated_at=now)


def refuse_bid(session: Session, round_id: int, ask_cents: int, campaign_id: int | None) -> NoReturn:
    """Why :func:`try_place_bid` placed nothing, as the error to answer with (closing the
    round first if it is overdue)."""
    round_campaign, max_price = _open_round(session, round_id)
    if campaign_id is not None and campaign_id != round_campaign:
        raise Invalid(f"campaign_id: round {round_id} belongs to campaign {round_campaign}, not {campaign_id}")
    if ask_cents > max_price:
        raise Invalid(
            f"ask_cents: {ask_cents} is above campaign {round_campaign}'s maximum price per label "
            f"({max_price} cents); such a bid can never win"
        )
    raise Conflict(f"round {round_id} changed while the bid was placed; nothing was placed, try again")


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

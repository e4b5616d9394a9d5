"""Sealed bids: an annotator's ask per label (integer cents) and capacity (labels).

One bid per annotator and round (a database constraint); placing again replaces it, and
it can be withdrawn, while the round is open. Nobody but its author reads a bid before
the round closes; the owner may read a closed round's bids for counterfactual replay.

Bids take a *shared* lock on the round row and closing takes an exclusive one, so on
Postgres a bid can never slip in while a round is being cleared (on SQLite the
``BEGIN IMMEDIATE`` write lock already serialises them).
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from market import clock, limits
from market import round as rounds
from market.errors import Conflict, Forbidden, Invalid, NotFound
from market.tables import Account, Bid, Campaign, Round


def _require_annotator(account: Account) -> None:
    if account.role != "annotator":
        raise Forbidden("only annotator accounts bid")


def _open_round(session: Session, round_id: int) -> Round:
    rnd = rounds.touch(session, rounds.get_round(session, round_id))
    if rnd.state != "open":
        # commit the lazy close before refusing, so the round's outcome is not lost
        session.commit()
        raise Conflict(f"round {round_id} is {rnd.state}; bids are taken only while a round is open")
    locked = session.exec(
        select(Round).where(Round.id == round_id).with_for_update(read=True).execution_options(populate_existing=True)
    ).first()
    if locked is None or locked.state != "open":
        raise Conflict(f"round {round_id} is closed; bids are taken only while a round is open")
    return locked


def place_bid(
    session: Session,
    annotator: Account,
    round_id: int,
    ask_cents: int,
    capacity: int = 1,
    campaign_id: int | None = None,
) -> Bid:
    """Place or replace the caller's bid on an open round. Caller commits."""
    _require_annotator(annotator)
    if type(ask_cents) is not int:  # noqa: E721 - bool and float refused
        raise Invalid(f"ask_cents: must be an integer number of cents (got {ask_cents!r})")
    if not 1 <= ask_cents <= limits.MAX_PRICE_CENTS:
        raise Invalid(f"ask_cents: must be between 1 and {limits.MAX_PRICE_CENTS} cents (got {ask_cents})")
    if type(capacity) is not int or not 1 <= capacity <= limits.MAX_CAPACITY:  # noqa: E721
        raise Invalid(f"capacity: must be an integer between 1 and {limits.MAX_CAPACITY} (got {capacity!r})")
    rnd = _open_round(session, round_id)
    if campaign_id is not None and campaign_id != rnd.campaign_id:
        raise Invalid(f"campaign_id: round {round_id} belongs to campaign {rnd.campaign_id}, not {campaign_id}")
    campaign = session.get(Campaign, rnd.campaign_id)
    if ask_cents > campaign.max_price_cents:
        raise Invalid(
            f"ask_cents: {ask_cents} is above campaign {campaign.id}'s maximum price per label "
            f"({campaign.max_price_cents} cents); such a bid can never win"
        )
    bid = session.exec(select(Bid).where(Bid.round_id == round_id, Bid.annotator_id == annotator.id)).first()
    if bid is None:
        bid = Bid(round_id=round_id, annotator_id=annotator.id, ask_cents=ask_cents, capacity=capacity,
                  quality=annotator.quality)
        session.add(bid)
    else:
        bid.ask_cents = ask_cents
        bid.capacity = capacity
        bid.updated_at = clock.now()
    session.flush()
    return bid


def withdraw_bid(session: Session, annotator: Account, round_id: int) -> None:
    """Withdraw the caller's bid while the round is open. Caller commits."""
    _require_annotator(annotator)
    _open_round(session, round_id)
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

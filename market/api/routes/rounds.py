"""Rounds (list, read, close, settle) and the caller's sealed bid on one."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from sqlmodel import Session, col, select

from market import bid as bids
from market import faults
from market import round as rounds
from market import round_access
from market.limits import MAX_ID
from market.api.bid_writer import BidRequest
from market.api.deps import PathId, Annotator, CurrentAccount, Requester, SessionDep, in_transaction
from market.api.schemas import BidIn, BidOut, RoundOut, RoundTermsOut
from market.tables import Account, Campaign, Round

router = APIRouter(tags=["rounds"])


# First: the router tries its routes in order, and a bid is the market's hottest request.
@router.put("/rounds/{round_id}/bid", response_model=BidOut)
async def place_bid(round_id: PathId, body: BidIn, request: Request, account: Annotator):
    """Place or replace your sealed bid while the round is open."""
    bid = await request.app.state.bids.place(
        BidRequest(account, round_id, body.ask_cents, body.capacity, body.campaign_id))  # group commit
    if bid is None:  # nothing placed: say why, in a transaction of its own
        await in_transaction(request, bids.refuse_bid, round_id, body.ask_cents, body.campaign_id)
    return bid


def round_out(session: Session, r: Round, viewer: Account, *, campaign: Campaign | None = None,
              past: list[int] | None = None) -> RoundOut:
    """A round in full (owner, worker, admin): never anyone's bids; bid count for owner/admin only."""
    campaign = campaign or session.get(Campaign, r.campaign_id)
    if past is None:
        past = rounds.past_clearing_prices(session, [r.campaign_id])[r.campaign_id]
    privileged = viewer.role == "admin" or campaign.owner_id == viewer.id
    return RoundOut(
        **_terms(r, campaign, past).model_dump(exclude={"past_clearing_prices_cents"}),
        campaign_name=campaign.name, n_items=len(r.item_ids), item_ids=list(r.item_ids), budget_cents=r.budget_cents,
        clearing_price_cents=r.clearing_price_cents, n_assignments=r.n_assignments,
        escrowed_cents=r.escrowed_cents, paid_cents=r.paid_cents, released_cents=r.released_cents, reason=r.reason,
        past_clearing_prices_cents=past, n_bids=r.n_bids if privileged and r.state != "open" else (
            _count_bids(session, r) if privileged else None),
    )


def _terms(r: Round, campaign: Campaign, past: list[int]) -> RoundTermsOut:
    return RoundTermsOut(
        id=r.id, campaign_id=r.campaign_id, state=r.state, rule=r.rule, demand=r.demand,
        max_price_cents=campaign.max_price_cents,
        posted_price_cents=campaign.posted_price_cents if campaign.rule == "posted_price" else None,
        opened_at=r.opened_at, deadline=r.deadline, closed_at=r.closed_at, label_deadline=r.label_deadline,
        settled_at=r.settled_at, past_clearing_prices_cents=past,
    )


def _count_bids(session: Session, r: Round) -> int:
    from sqlalchemy import func

    from market.tables import Bid

    return int(session.exec(select(func.count(Bid.id)).where(Bid.round_id == r.id)).one())


def _views(session: Session, rows: list[Round], viewer: Account) -> list[RoundOut | RoundTermsOut]:
    """Each round as ``viewer`` may see it (``market.round_access``)."""
    cids = sorted({r.campaign_id for r in rows})
    camps = {c.id: c for c in session.exec(select(Campaign).where(col(Campaign.id).in_(cids)))} if cids else {}
    if round_access.full_view(viewer):
        past = rounds.past_clearing_prices(session, cids)
        return [round_out(session, r, viewer, campaign=camps[r.campaign_id], past=past[r.campaign_id]) for r in rows]
    by_rule = round_access.past_prices_by_rule(session, sorted({r.rule for r in rows}))
    return [_terms(r, camps[r.campaign_id], by_rule[r.rule]) for r in rows]


@router.get("/rounds", response_model=list[RoundOut | RoundTermsOut])
def list_rounds(
    session: SessionDep,
    account: CurrentAccount,
    state: Literal["open", "cleared", "labeling", "settled"] | None = None,
    campaign_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
):
    """The rounds you may see, newest first (overdue ones are closed or settled first).
    Annotators: the terms of open rounds and of rounds they took part in, with past
    clearing prices by rule. Requesters and workers: their campaigns' rounds in full.
    Admins: every round."""
    if rounds.touch_due(session, campaign_id):
        session.commit()
    stmt = round_access.readable(select(Round), account).order_by(col(Round.id).desc()).limit(limit)
    if state is not None:
        stmt = stmt.where(Round.state == state)
    if campaign_id is not None:
        stmt = stmt.where(Round.campaign_id == campaign_id)
    return _views(session, list(session.exec(stmt).all()), account)


@router.get("/rounds/{round_id}", response_model=RoundOut | RoundTermsOut)
def get_round(round_id: PathId, session: SessionDep, account: CurrentAccount):
    """One round as you may see it (see ``GET /v1/rounds``); 404 if it is not one of yours."""
    r = rounds.touch(session, round_access.get_readable(session, account, round_id))
    session.commit()
    return _views(session, [r], account)[0]


@router.post("/rounds/{round_id}/close", response_model=RoundOut)
def close_round(round_id: PathId, session: SessionDep, account: Requester):
    """Close bidding now: clear through the campaign's rule, assign items, escrow payments."""
    r = rounds.close_round(session, account, round_id)
    faults.point("clear")
    session.commit()
    faults.point("clear.committed")
    return round_out(session, r, account)


@router.post("/rounds/{round_id}/settle", response_model=RoundOut)
def settle_round(round_id: PathId, session: SessionDep, account: Requester):
    """Release unfinished assignments and return their escrow to the campaign (idempotent)."""
    r = rounds.settle_round(session, account, round_id)
    faults.point("settle")
    session.commit()
    return round_out(session, r, account)


@router.delete("/rounds/{round_id}/bid", status_code=204)
def withdraw_bid(round_id: PathId, session: SessionDep, account: Annotator):
    bids.withdraw_bid(session, account, round_id)
    session.commit()
    return Response(status_code=204)


@router.get("/rounds/{round_id}/bid", response_model=BidOut)
def my_bid(round_id: PathId, session: SessionDep, account: Annotator):
    b = bids.my_bid(session, account, round_id)
    session.commit()
    return b

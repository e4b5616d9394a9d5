"""Quality control: gold items, annotators' skill, soft labels and integrity flags.

Mounted by ``market.api.routes.campaigns`` (its router includes this one), so the app
factory needs no change. Skill and flags are for the campaign's owner and admins; soft
labels also for the campaign's worker; nothing here is for annotators.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from sqlmodel import Session, select

from market import campaign as campaigns
from market.api.deps import Admin, CurrentAccount, PathId, Requester, SessionDep
from market.api.schemas import FlagOut, GoldIn, QualityOut, SoftLabelOut, UpdatedOut
from market.errors import Forbidden, Invalid
from market.quality import gold, report
from market.tables import Account, Campaign, Item

router = APIRouter(tags=["quality"])
Aggregation = Literal["skill", "mv", "ds", "bt"]


def _owner_or_admin(session: Session, account: Account, campaign_id: int) -> Campaign:
    c = campaigns.get_campaign(session, account, campaign_id)
    if account.role != "admin" and c.owner_id != account.id:
        raise Forbidden(f"only the owner of campaign {campaign_id} or an admin sees its quality control")
    return c


@router.put("/campaigns/{campaign_id}/gold", response_model=UpdatedOut)
def mark_gold(campaign_id: PathId, body: GoldIn, session: SessionDep, account: Requester):
    """Make fresh items gold checks with their known answers (never shown to annotators)."""
    c = campaigns.require_owner(session, account, campaign_id)
    answers: dict[int, str] = {}
    for row in body.items:
        if row.item_id in answers:
            raise Invalid(f"items: item_id {row.item_id} appears twice")
        answers[row.item_id] = row.answer
    n = gold.mark_gold(session, c, answers)
    session.commit()
    return UpdatedOut(updated=n)


@router.get("/campaigns/{campaign_id}/quality", response_model=QualityOut)
def campaign_quality(campaign_id: PathId, session: SessionDep, account: CurrentAccount):
    """The campaign's policy and every annotator's gold posterior, status and auction quality."""
    c = _owner_or_admin(session, account, campaign_id)
    n_gold = len(session.exec(select(Item.id).where(Item.campaign_id == c.id, Item.gold_check == True)).all())  # noqa: E712
    return QualityOut(
        campaign_id=c.id, gold_rate=c.gold_rate, min_gold_answers=c.min_gold_answers, quality_bar=c.quality_bar,
        quality_confidence=c.quality_confidence, probation_share=c.probation_share,
        gold_carry=c.gold_carry, gold_items=n_gold,
        annotators=report.annotators(session, c),
    )


@router.get("/campaigns/{campaign_id}/flags", response_model=list[FlagOut])
def campaign_flags(campaign_id: PathId, session: SessionDep, account: CurrentAccount):
    """Integrity flags: identical bids, degenerate label patterns, gold answered at chance."""
    return report.integrity_flags(session, _owner_or_admin(session, account, campaign_id))


@router.get("/flags", response_model=list[FlagOut])
def all_flags(session: SessionDep, _: Admin):
    """Integrity flags of every campaign (admins)."""
    return [f for c in session.exec(select(Campaign).order_by(Campaign.id)) for f in report.integrity_flags(session, c)]


@router.get("/campaigns/{campaign_id}/soft-labels", response_model=list[SoftLabelOut])
def soft_labels(campaign_id: PathId, session: SessionDep, account: CurrentAccount, aggregation: Aggregation = "skill"):
    """Per item, the posterior probability that completion a beats b, by the chosen aggregation."""
    c = campaigns.get_campaign(session, account, campaign_id)
    try:
        p_a, n_votes = report.soft_labels(session, c, aggregation)
    except ImportError:
        raise Invalid(f"aggregation: {aggregation!r} needs crowd-kit (install prefmarket[quality])") from None
    return [SoftLabelOut(item_id=int(i), p_a=float(p), votes=int(n_votes.get(i, 0)), aggregation=aggregation)
            for i, p in p_a.sort_index().items()]

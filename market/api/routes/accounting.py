"""What each win-rate point cost: ``GET /v1/campaigns/{id}/accounting``.

Built on ``market.accounting`` (the pure definitions) from two sources the market already
holds: the evaluations the policy worker posted (win rate and CI after some cumulative
spend) and the ledger's payments (who was paid how much). Mounted by
``market.api.routes.campaigns`` (its router includes this one), so the app factory needs
no change.

The curve starts at the reference itself: spend 0 and a win rate of exactly 0.5, because
at step 0 the policy *is* the reference (a zero LoRA adapter or a copy of the weights)
and its completions, drawn with the evaluation's seed, are the reference's own. That
point is marked ``measured: false``; every other point is an evaluation as posted.
"""

from __future__ import annotations

from typing import Annotated, Optional

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlmodel import Session, select

from market import accounting, campaign as campaigns, evaluation
from market import round as rounds
from market.api.deps import CurrentAccount, PathId, SessionDep
from market.errors import Invalid
from market.limits import MAX_ID
from market.summary import campaign_summary
from market.tables import Campaign, LedgerEntry

router = APIRouter(tags=["accounting"])


class CurvePointOut(BaseModel):
    round_id: Optional[int] = Field(description="the round whose labels this evaluation follows")
    spend_cents: int = Field(description="cumulative money paid for accepted labels when evaluated")
    win_rate: float
    ci_low: float
    ci_high: float
    n: int = Field(description="held-out prompts judged")
    measured: bool = Field(description="false only for the step-0 origin (spend 0, win rate 0.5 by construction)")


class PaidOut(BaseModel):
    annotator_id: int
    cents: int
    labels: int


class ComparisonOut(BaseModel):
    baseline_campaign_id: int
    final_win_rate: float
    baseline_final_win_rate: float
    dollars_per_point: Optional[float]
    baseline_dollars_per_point: Optional[float]
    dollars_to_baseline_final: Optional[float] = Field(
        description="this campaign's spend when its curve first reached the baseline's final win rate "
        "(linear between evaluations; null if it never did)")
    baseline_spend: float = Field(description="the baseline's spend at its final evaluation, dollars")
    beats_baseline: bool = Field(description="this campaign's final CI lies wholly above the baseline's final win rate")


class AccountingOut(BaseModel):
    campaign_id: int
    rule: str
    acquisition: str
    budget_cents: int
    spent_cents: int
    labels: int
    cost_per_label_cents: Optional[float]
    curve: list[CurvePointOut] = Field(description="win rate against cumulative spend, the step-0 origin first")
    final: Optional[CurvePointOut] = Field(description="the last evaluation (null before the first)")
    dollars_per_point: Optional[float] = Field(
        description="final spend in dollars per percentage point of win rate above 50% (null at or below 50%)")
    paid_by_annotator: list[PaidOut]
    comparison: Optional[ComparisonOut] = None


ORIGIN = CurvePointOut(round_id=None, spend_cents=0, win_rate=0.5, ci_low=0.5, ci_high=0.5, n=0, measured=False)


def win_rate_curve(session: Session, campaign: Campaign) -> list[CurvePointOut]:
    """The origin, then the campaign's evaluations ordered by spend (posting order breaks ties)."""
    evals = sorted(evaluation.list_evaluations(session, campaign), key=lambda e: (e.spend_cents, e.id))
    return [ORIGIN] + [
        CurvePointOut(round_id=e.round_id, spend_cents=e.spend_cents, win_rate=e.win_rate, ci_low=e.ci_low,
                      ci_high=e.ci_high, n=e.n, measured=True)
        for e in evals
    ]


def _points(curve: list[CurvePointOut]) -> list[accounting.CurvePoint]:
    return [accounting.CurvePoint(p.spend_cents, p.win_rate, p.ci_low, p.ci_high, p.n) for p in curve]


def paid_by_annotator(session: Session, campaign: Campaign) -> list[PaidOut]:
    """Cents paid to each annotator by this campaign (ledger ``pay`` postings), most paid first."""
    totals: dict[int, list[int]] = {}
    entries = session.exec(
        select(LedgerEntry.to_account, LedgerEntry.cents).where(
            LedgerEntry.campaign_id == campaign.id, LedgerEntry.reason == "pay")
    ).all()
    for account, cents in entries:
        row = totals.setdefault(int(account.rsplit(":", 1)[1]), [0, 0])
        row[0] += int(cents)
        row[1] += 1
    return [PaidOut(annotator_id=a, cents=c, labels=n)
            for a, (c, n) in sorted(totals.items(), key=lambda kv: (-kv[1][0], kv[0]))]


def campaign_accounting(session: Session, campaign: Campaign, baseline: Campaign | None = None) -> AccountingOut:
    summary = campaign_summary(session, campaign)
    curve = win_rate_curve(session, campaign)
    final = curve[-1] if len(curve) > 1 else None
    out = AccountingOut(
        campaign_id=campaign.id, rule=campaign.rule, acquisition=campaign.acquisition,
        budget_cents=campaign.budget_cents, spent_cents=summary["spent_cents"], labels=summary["labels"],
        cost_per_label_cents=summary["cost_per_label_cents"], curve=curve, final=final,
        dollars_per_point=accounting.dollars_per_point(final.spend_cents, final.win_rate) if final else None,
        paid_by_annotator=paid_by_annotator(session, campaign),
    )
    if baseline is not None:
        cmp = accounting.compare(_points(curve), _points(win_rate_curve(session, baseline)))
        out.comparison = ComparisonOut(baseline_campaign_id=baseline.id, **cmp.as_dict())
    return out


@router.get("/campaigns/{campaign_id}/accounting", response_model=AccountingOut)
def get_accounting(
    campaign_id: PathId,
    session: SessionDep,
    account: CurrentAccount,
    compare_to: Annotated[Optional[int], Query(ge=1, le=MAX_ID, description="a baseline campaign the caller may read")] = None,
):
    """Win rate against spend, dollars per win-rate point, payments per annotator, and
    optionally the comparison with a baseline campaign (owner, its worker, admin)."""
    c = campaigns.get_campaign(session, account, campaign_id)
    if compare_to == campaign_id:
        raise Invalid("compare_to: compare the campaign with another one")
    baseline = campaigns.get_campaign(session, account, compare_to) if compare_to is not None else None
    for cid in {campaign_id, compare_to} - {None}:
        if rounds.touch_campaign(session, cid):  # settle overdue rounds first, as every money-reading route does
            session.commit()
    return campaign_accounting(session, c, baseline)

"""What each point of a metric cost: ``GET /v1/campaigns/{id}/accounting?metric=&target=``.

Built on ``market.accounting`` (the pure definitions, and the one place "cents per point"
is defined) from two sources the market already holds: the evaluations the policy worker
posted (a metric and its CI after some cumulative spend) and the ledger's payments (who
was paid how much). The portal, the CLI and the demo report show these figures rather
than compute their own. Mounted by ``market.api.routes.campaigns`` (its router includes
this one), so the app factory needs no change.

The curve starts at the reference itself: spend 0 and exactly 0.5, because at step 0 the
policy *is* the reference (a zero LoRA adapter or a copy of the weights): the judge ties
its completions with the reference's own, and its implicit reward is zero on every
held-out pair. That point is marked ``measured: false``; every other point is an
evaluation as posted.
"""

from __future__ import annotations

from typing import Annotated, Literal, Optional

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


MetricName = Literal[tuple(accounting.METRICS)]  # the query's choices are the metrics the core defines


class CurvePointOut(BaseModel):
    round_id: Optional[int] = Field(description="the round whose labels this evaluation follows")
    spend_cents: int = Field(description="cumulative money paid for accepted labels when evaluated")
    value: float = Field(description="the metric, a fraction in [0, 1] (0.5: no gain over the reference)")
    ci_low: float
    ci_high: float
    n: int = Field(description="held-out prompts (win rate) or pairs (held-out accuracy) measured")
    measured: bool = Field(description="false only for the step-0 origin (spend 0, 0.5 by construction)")


class PaidOut(BaseModel):
    annotator_id: int
    cents: int
    labels: int


class ComparisonOut(BaseModel):
    baseline_campaign_id: int
    final_value: float
    baseline_final_value: float
    cents_per_point: Optional[float] = Field(description="this campaign's cents per point, all its spend charged")
    baseline_cents_per_point: Optional[float] = Field(description="the baseline's, all its spend charged")
    cents_to_baseline_final: Optional[float] = Field(
        description="this campaign's spend when its curve first reached the baseline's final value "
        "(linear between evaluations; null if it never did)")
    baseline_final_spend_cents: int = Field(description="the baseline's spend at its final evaluation")
    beats_baseline: bool = Field(description="this campaign's final CI lies wholly above the baseline's final value")


class AccountingOut(BaseModel):
    campaign_id: int
    rule: str
    acquisition: str
    budget_cents: int
    spent_cents: int
    labels: int
    cost_per_label_cents: Optional[float]
    metric: str = Field(description="the metric priced: win_rate or heldout_accuracy")
    curve: list[CurvePointOut] = Field(description="the metric against cumulative spend, the step-0 origin first")
    final: Optional[CurvePointOut] = Field(description="the last evaluation carrying the metric (null before one)")
    cents_per_point: Optional[float] = Field(
        description="all the campaign spent, in cents, per percentage point of the metric above 50% at its last "
        "evaluation (null at or below 50%); rounds bought after that evaluation still cost money")
    target: float = Field(description="the level priced by cents_to_target, in percent")
    cents_to_target: Optional[float] = Field(
        description="spend when the curve first reached the target (linear between evaluations; null if never)")
    paid_by_annotator: list[PaidOut]
    comparison: Optional[ComparisonOut] = None


def metric_curve(session: Session, campaign: Campaign, metric: accounting.Metric) -> list[CurvePointOut]:
    """The origin, then the campaign's evaluations carrying ``metric``, ordered by spend
    (posting order breaks ties)."""
    evals = sorted(evaluation.list_evaluations(session, campaign), key=lambda e: (e.spend_cents, e.id))
    out = [CurvePointOut(round_id=None, spend_cents=0, value=accounting.NO_GAIN, ci_low=accounting.NO_GAIN,
                         ci_high=accounting.NO_GAIN, n=0, measured=False)]
    for e in evals:
        p = metric.point(e.model_dump())
        if p is not None:
            out.append(CurvePointOut(round_id=e.round_id, spend_cents=p.spend_cents, value=p.value, ci_low=p.ci_low,
                                     ci_high=p.ci_high, n=p.n, measured=True))
    return out


def _points(curve: list[CurvePointOut]) -> list[accounting.CurvePoint]:
    return [accounting.CurvePoint(p.spend_cents, p.value, p.ci_low, p.ci_high, p.n) for p in curve]


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


def campaign_accounting(session: Session, campaign: Campaign, metric: accounting.Metric, target: float,
                        baseline: Campaign | None = None) -> AccountingOut:
    summary = campaign_summary(session, campaign)
    curve = metric_curve(session, campaign, metric)
    final = curve[-1] if len(curve) > 1 else None
    out = AccountingOut(
        campaign_id=campaign.id, rule=campaign.rule, acquisition=campaign.acquisition,
        budget_cents=campaign.budget_cents, spent_cents=summary["spent_cents"], labels=summary["labels"],
        cost_per_label_cents=summary["cost_per_label_cents"], metric=metric.name, curve=curve, final=final,
        cents_per_point=accounting.cents_per_point(summary["spent_cents"], final.value) if final else None,
        target=target, cents_to_target=accounting.cents_to_reach(_points(curve), target / 100),
        paid_by_annotator=paid_by_annotator(session, campaign),
    )
    if baseline is not None:
        cmp = accounting.compare(_points(curve), _points(metric_curve(session, baseline, metric)),
                                 summary["spent_cents"], campaign_summary(session, baseline)["spent_cents"])
        out.comparison = ComparisonOut(baseline_campaign_id=baseline.id, **cmp.as_dict())
    return out


@router.get("/campaigns/{campaign_id}/accounting", response_model=AccountingOut)
def get_accounting(
    campaign_id: PathId,
    session: SessionDep,
    account: CurrentAccount,
    metric: Annotated[MetricName, Query(description="the evaluation metric to price")] = "win_rate",
    target: Annotated[float, Query(gt=50, le=100, description="the level, in percent, that cents_to_target prices")] = 60.0,
    compare_to: Annotated[Optional[int], Query(ge=1, le=MAX_ID, description="a baseline campaign the caller may read")] = None,
):
    """One metric (win rate by default, or held-out accuracy) against spend: its curve,
    cents per point, cents to reach ``target``; payments per annotator; and optionally the
    comparison with a baseline campaign (owner, its worker, admin)."""
    c = campaigns.get_campaign(session, account, campaign_id)
    if compare_to == campaign_id:
        raise Invalid("compare_to: compare the campaign with another one")
    baseline = campaigns.get_campaign(session, account, compare_to) if compare_to is not None else None
    for cid in {campaign_id, compare_to} - {None}:
        if rounds.touch_campaign(session, cid):  # settle overdue rounds first, as every money-reading route does
            session.commit()
    return campaign_accounting(session, c, accounting.METRICS[metric], target, baseline)

"""Campaigns: a requester's budget, price cap, auction rule and labelling settings.

Creating a campaign funds it: the whole budget is posted from ``external`` to the
campaign's ledger account at once, so every later round draws on money the books already
hold. Who may see what is decided here (``can_read``/``require_*``), so every route asks
the same question the same way: the owner and admins see a campaign, and so does the
worker it names; other callers get 404 (a campaign's existence is not leaked).
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlmodel import Session, select

from market import ledger
from market.errors import Forbidden, Invalid, NotFound
from market.mechanisms import RULES
from market.tables import Account, Campaign, CampaignTerms


def known_rules() -> tuple[str, ...]:
    """The rules the mechanism core implements: one list, owned by the core."""
    return RULES


def validate_terms(fields: dict[str, Any]) -> CampaignTerms:
    """Campaign terms checked against their declaration (``CampaignTerms``): each field's
    type and bounds, the rule and the acquisition method. ``Invalid`` names every offending
    field (the first five), including a name that is not a term at all."""
    unknown = sorted(set(fields) - set(CampaignTerms.model_fields))
    if unknown:
        raise Invalid(f"{unknown[0]}: not a campaign term; the terms are {', '.join(CampaignTerms.model_fields)}")
    try:
        return CampaignTerms.model_validate(fields)
    except ValidationError as exc:
        raise Invalid("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])) from None


def create_campaign(session: Session, owner: Account, **fields: Any) -> Campaign:
    """Validate, create and fund a campaign. Caller commits.

    ``fields`` are the terms of ``CampaignTerms`` (the omitted ones take their defaults);
    each term's own bounds are checked there, and the rules that relate terms here.

    Quality control (``market.quality``): ``gold_rate`` is the share of a qualified
    annotator's work that is gold checks (0 turns quality control off); an annotator is
    judged after ``min_gold_answers`` gold answers and is on probation (gold checks only)
    until the evidence is decisive; with a ``quality_bar``, labels of annotators whose
    accuracy is below it with probability ``quality_confidence`` are rejected and not
    paid; annotators on probation together take at most ``probation_share`` of a round;
    ``gold_carry`` is what an annotator's gold answers on the owner's other campaigns count
    here, per answer (0: nothing, each campaign vets from scratch; 1: as much as this
    campaign's own; ``market.quality.gold.records``)."""
    if owner.role != "requester":
        raise Forbidden("only requester accounts create campaigns")
    terms = validate_terms(fields)
    if terms.posted_price_cents is not None and terms.posted_price_cents > terms.max_price_cents:
        raise Invalid(f"posted_price_cents: {terms.posted_price_cents} is above max_price_cents "
                      f"({terms.max_price_cents}); post at most the price cap")
    if terms.posted_price_cents is None and terms.rule == "posted_price":
        terms.posted_price_cents = terms.max_price_cents
    unit_price = terms.posted_price_cents if terms.rule == "posted_price" else terms.max_price_cents
    if terms.budget_cents < unit_price:
        raise Invalid(
            f"budget_cents: {terms.budget_cents} is below one label's price ({unit_price} cents); "
            "raise the budget or lower the price"
        )
    if terms.round_budget_cents is not None:
        if terms.round_budget_cents > terms.budget_cents:
            raise Invalid(f"round_budget_cents: {terms.round_budget_cents} is above the whole budget "
                          f"(budget_cents {terms.budget_cents})")
        floor_price = terms.posted_price_cents if terms.rule == "posted_price" else 1
        if terms.round_budget_cents < floor_price:
            raise Invalid(
                f"round_budget_cents: {terms.round_budget_cents} is below one label's price ({floor_price} cents)"
            )
    if terms.quality_bar is not None and terms.gold_rate == 0.0:
        raise Invalid("quality_bar: needs gold checks to judge by; set gold_rate above 0 too")
    if terms.gold_carry > 0.0 and terms.gold_rate == 0.0:
        raise Invalid("gold_carry: carried gold records judge annotators only with quality control on; "
                      "set gold_rate above 0 too")
    if terms.worker_id is not None:
        worker = session.get(Account, terms.worker_id)
        if worker is None or worker.role != "worker":
            raise Invalid(f"worker_id: account {terms.worker_id} is not a worker account")
    campaign = Campaign(**terms.model_dump(), owner_id=owner.id)
    session.add(campaign)
    session.flush()
    ledger.post_fund(session, campaign)
    return campaign


def can_read(account: Account, campaign: Campaign) -> bool:
    return (
        account.role == "admin"
        or campaign.owner_id == account.id
        or (campaign.worker_id is not None and campaign.worker_id == account.id)
    )


def get_campaign(session: Session, account: Account, campaign_id: int, *, lock: bool = False) -> Campaign:
    """A campaign the caller may read (owner, its worker, admin); 404 otherwise.

    ``lock=True`` takes the row lock (FOR UPDATE on Postgres) before any money moves."""
    stmt = select(Campaign).where(Campaign.id == campaign_id)
    if lock:
        stmt = stmt.with_for_update()
    campaign = session.exec(stmt).first()
    if campaign is None or not can_read(account, campaign):
        raise NotFound(f"campaign {campaign_id} not found")
    return campaign


def require_owner(session: Session, account: Account, campaign_id: int, *, lock: bool = False) -> Campaign:
    """The campaign if the caller owns it; 404 if invisible, 403 if visible but not owned."""
    campaign = get_campaign(session, account, campaign_id, lock=lock)
    if campaign.owner_id != account.id:
        raise Forbidden(f"only the owner of campaign {campaign_id} may do this")
    return campaign


def lock_campaign(session: Session, campaign_id: int) -> Campaign:
    """Take the campaign's row lock without an access check (internal lifecycle work)."""
    campaign = session.exec(select(Campaign).where(Campaign.id == campaign_id).with_for_update()).first()
    if campaign is None:
        raise NotFound(f"campaign {campaign_id} not found")
    return campaign


def list_campaigns(session: Session, account: Account) -> list[Campaign]:
    stmt = select(Campaign).order_by(Campaign.id)
    if account.role == "admin":
        pass
    elif account.role == "requester":
        stmt = stmt.where(Campaign.owner_id == account.id)
    elif account.role == "worker":
        stmt = stmt.where(Campaign.worker_id == account.id)
    else:
        raise Forbidden("annotators see rounds, not campaigns; use GET /v1/rounds")
    return list(session.exec(stmt).all())


def remaining_cents(session: Session, campaign: Campaign) -> int:
    """Budget not yet committed to any round (the campaign's ledger balance)."""
    return ledger.balance(session, ledger.campaign_account(campaign.id))

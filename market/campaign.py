"""Campaigns: a requester's budget, price cap, auction rule and labelling settings.

Creating a campaign funds it: the whole budget is posted from ``external`` to the
campaign's ledger account at once, so every later round draws on money the books already
hold. Who may see what is decided here (``can_read``/``require_*``), so every route asks
the same question the same way: the owner and admins see a campaign, and so does the
worker it names; other callers get 404 (a campaign's existence is not leaked).
"""

from __future__ import annotations

import math
import re
from typing import Any

from sqlmodel import Session, select

from market import ledger, limits
from market.errors import Forbidden, Invalid, NotFound
from market.mechanisms import RULES
from market.tables import Account, Campaign

_ACQUISITION_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


def known_rules() -> tuple[str, ...]:
    """The rules the mechanism core implements: one list, owned by the core."""
    return RULES


def _int_field(name: str, value: Any, lo: int, hi: int) -> int:
    if type(value) is not int:  # noqa: E721 - refuse bool and float alike
        raise Invalid(f"{name}: must be an integer number of cents or units (got {value!r})")
    if not lo <= value <= hi:
        raise Invalid(f"{name}: must be between {lo} and {hi} (got {value})")
    return value


def _fraction(name: str, value: Any, lo: float, hi: float, *, lo_open: bool = False, hi_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise Invalid(f"{name}: must be a finite number (got {value!r})")
    if value < lo or value > hi or (lo_open and value == lo) or (hi_open and value == hi):
        span = f"{'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
        raise Invalid(f"{name}: must lie in {span} (got {value})")
    return float(value)


def _duration(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise Invalid(f"{name}: must be a finite number of seconds (got {value!r})")
    if not limits.MIN_DURATION_S <= value <= limits.MAX_DURATION_S:
        raise Invalid(f"{name}: must be between {limits.MIN_DURATION_S} and {limits.MAX_DURATION_S} seconds")
    return float(value)


def create_campaign(
    session: Session,
    owner: Account,
    *,
    name: str,
    budget_cents: int,
    max_price_cents: int,
    rule: str,
    acquisition: str = "random",
    labels_per_item: int = 1,
    round_size: int = 50,
    round_budget_cents: int | None = None,
    round_duration_s: float = 300.0,
    label_duration_s: float = 3600.0,
    posted_price_cents: int | None = None,
    worker_id: int | None = None,
    gold_rate: float = 0.0,
    min_gold_answers: int = 4,
    quality_bar: float | None = None,
    quality_confidence: float = 0.8,
    probation_share: float = 0.2,
    gold_carry: float = 0.0,
) -> Campaign:
    """Validate, create and fund a campaign. Caller commits.

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
    name = (name or "").strip()
    if not name or len(name) > limits.MAX_NAME_CHARS:
        raise Invalid(f"name: must be 1 to {limits.MAX_NAME_CHARS} characters")
    budget_cents = _int_field("budget_cents", budget_cents, 1, limits.MAX_BUDGET_CENTS)
    max_price_cents = _int_field("max_price_cents", max_price_cents, 1, limits.MAX_PRICE_CENTS)
    rules = known_rules()
    if rule not in rules:
        raise Invalid(f"rule: unknown rule {rule!r}; choose one of {', '.join(rules)}")
    if not isinstance(acquisition, str) or not _ACQUISITION_RE.match(acquisition):
        raise Invalid("acquisition: must be a short name such as random, sharp, wsharp, apl or adpo")
    labels_per_item = _int_field("labels_per_item", labels_per_item, 1, limits.MAX_LABELS_PER_ITEM)
    round_size = _int_field("round_size", round_size, 1, limits.MAX_ROUND_SIZE)
    round_duration_s = _duration("round_duration_s", round_duration_s)
    label_duration_s = _duration("label_duration_s", label_duration_s)
    if posted_price_cents is not None:
        posted_price_cents = _int_field("posted_price_cents", posted_price_cents, 1, max_price_cents)
    elif rule == "posted_price":
        posted_price_cents = max_price_cents
    unit_price = posted_price_cents if rule == "posted_price" else max_price_cents
    if budget_cents < unit_price:
        raise Invalid(
            f"budget_cents: {budget_cents} is below one label's price ({unit_price} cents); "
            "raise the budget or lower the price"
        )
    if round_budget_cents is not None:
        round_budget_cents = _int_field("round_budget_cents", round_budget_cents, 1, budget_cents)
        floor_price = posted_price_cents if rule == "posted_price" else 1
        if round_budget_cents < floor_price:
            raise Invalid(
                f"round_budget_cents: {round_budget_cents} is below one label's price ({floor_price} cents)"
            )
    gold_rate = _fraction("gold_rate", gold_rate, 0.0, 1.0, hi_open=True)
    min_gold_answers = _int_field("min_gold_answers", min_gold_answers, 1, limits.MAX_GOLD_ANSWERS)
    if quality_bar is not None:
        quality_bar = _fraction("quality_bar", quality_bar, 0.5, 1.0, lo_open=True, hi_open=True)
        if gold_rate == 0.0:
            raise Invalid("quality_bar: needs gold checks to judge by; set gold_rate above 0 too")
    quality_confidence = _fraction("quality_confidence", quality_confidence, 0.5, 1.0, lo_open=True, hi_open=True)
    probation_share = _fraction("probation_share", probation_share, 0.0, 1.0, lo_open=True)
    gold_carry = _fraction("gold_carry", gold_carry, 0.0, 1.0)
    if gold_carry > 0.0 and gold_rate == 0.0:
        raise Invalid("gold_carry: carried gold records judge annotators only with quality control on; "
                      "set gold_rate above 0 too")
    if worker_id is not None:
        if type(worker_id) is not int:  # noqa: E721
            raise Invalid("worker_id: must be an account id")
        worker = session.get(Account, worker_id)
        if worker is None or worker.role != "worker":
            raise Invalid(f"worker_id: account {worker_id} is not a worker account")
    campaign = Campaign(
        owner_id=owner.id,
        name=name,
        budget_cents=budget_cents,
        max_price_cents=max_price_cents,
        rule=rule,
        acquisition=acquisition,
        labels_per_item=labels_per_item,
        round_size=round_size,
        round_budget_cents=round_budget_cents,
        round_duration_s=round_duration_s,
        label_duration_s=label_duration_s,
        posted_price_cents=posted_price_cents,
        worker_id=worker_id,
        gold_rate=gold_rate,
        min_gold_answers=min_gold_answers,
        quality_bar=quality_bar,
        quality_confidence=quality_confidence,
        probation_share=probation_share,
        gold_carry=gold_carry,
    )
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

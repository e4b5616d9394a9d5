"""The market's tables (SQLModel), one class per domain noun of docs/architecture.md.

Why one module: the tables reference each other by foreign key and SQLModel keeps a
single metadata; keeping them together avoids import cycles while the behaviour lives in
small modules named after the domain (campaign, round, bid, label, ledger, ...).

Conventions that matter for correctness:
- money is ``int`` cents, always (``*_cents`` columns); no floats touch the ledger;
- times are aware UTC (see ``market.clock``);
- uniqueness that protects money is a database constraint, not only a check in code:
  one label per assignment, one ledger posting per ``key``, one bid per annotator and
  round, one token hash per token. Postgres and SQLite enforce these alike.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Optional

from pydantic import AfterValidator, StringConstraints
from pydantic_core import PydanticCustomError
from sqlalchemy import JSON, BigInteger, Column, Integer, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from market import acquisition as acquisition_methods
from market import clock, limits
from market.mechanisms.clearing import RULES

# Ids are 64-bit in every database (BIGINT on Postgres, so an id the API accepts, up to
# 2**63 - 1, is never out of range); SQLite keeps INTEGER, its 64-bit rowid alias.
ID = BigInteger().with_variant(Integer(), "sqlite")

ROLES = ("admin", "requester", "annotator", "worker")
ROUND_STATES = ("open", "cleared", "labeling", "settled")
ASSIGNMENT_STATES = ("open", "done", "released")
CHOICES = ("a", "b", "tie")


class Account(SQLModel, table=True):
    """A person or program with a role. ``quality`` is the annotator's label quality
    q in (0, 1]; 1.0 until quality control estimates it."""

    id: Optional[int] = Field(sa_type=ID, default=None, primary_key=True)
    name: str = Field(max_length=200)
    role: str = Field(max_length=20, index=True)
    quality: float = 1.0
    created_at: datetime = Field(default_factory=clock.now)


class ApiToken(SQLModel, table=True):
    """A bearer token, stored only as the sha256 of its secret (shown once at creation).

    It works until ``expires_at`` (if set) and until it is revoked (``revoked_at``, also set
    when it is rotated); rows are kept, so the account's list shows what was retired."""

    id: Optional[int] = Field(sa_type=ID, default=None, primary_key=True)
    account_id: int = Field(sa_type=ID, foreign_key="account.id", index=True)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    created_at: datetime = Field(default_factory=clock.now)
    expires_at: Optional[datetime] = None
    revoked_at: Optional[datetime] = None


def _known_rule(rule: str) -> str:
    if rule not in RULES:
        raise PydanticCustomError("unknown_rule", f"unknown rule {rule!r}; choose one of {', '.join(RULES)}")
    return rule


def _known_acquisition(name: str) -> str:
    if name not in acquisition_methods.METHODS:
        raise PydanticCustomError("unknown_acquisition", acquisition_methods.unknown_message(name))
    return name


# validation only (table models do not validate): refuse 1.5, "100" and true for counts and
# money, NaN and infinity for fractions and durations
_STRICT = {"strict": True}
_FINITE = {"allow_inf_nan": False}


class CampaignTerms(SQLModel):
    """A campaign's terms, declared once: the table ``Campaign``, the API's ``CampaignCreate``
    and ``CampaignOut`` and the CLI's ``campaign create`` options all derive from these fields.

    Each field carries its bounds (checked when the terms are validated: by the API on a
    request, by ``market.campaign.create_campaign`` for any caller), its column settings
    (read only by the table) and its help text. Rules that relate two terms (a posted price
    under the price cap, a quality bar needs gold checks, ...) live in ``market.campaign``."""

    name: Annotated[str, StringConstraints(strip_whitespace=True)] = Field(
        min_length=1, max_length=limits.MAX_NAME_CHARS, description="campaign name, shown to annotators")
    budget_cents: int = Field(
        sa_type=BigInteger, ge=1, le=limits.MAX_BUDGET_CENTS, schema_extra=_STRICT,
        description="the whole campaign budget, integer cents (2000 = $20); funded at creation")
    max_price_cents: int = Field(
        ge=1, le=limits.MAX_PRICE_CENTS, schema_extra=_STRICT,
        description="most the requester pays for one label, integer cents; no ask above it can win")
    rule: Annotated[str, AfterValidator(_known_rule)] = Field(
        max_length=40, schema_extra={"json_schema_extra": {"enum": list(RULES)}},
        description=f"auction rule: {', '.join(RULES)}")
    acquisition: Annotated[str, AfterValidator(_known_acquisition)] = Field(
        default=acquisition_methods.DEFAULT, max_length=64,
        schema_extra={"json_schema_extra": {"enum": list(acquisition_methods.METHODS)}},
        description="how the policy worker scores items; the highest scored are offered first. Scores (the "
        "worker's, or the requester's own) become item values by rank under an ordinal method, in proportion "
        "under a cardinal one. " + acquisition_methods.help_text())
    labels_per_item: int = Field(
        default=1, ge=1, le=limits.MAX_LABELS_PER_ITEM, schema_extra=_STRICT,
        description="labels wanted per item (from different annotators)")
    round_size: int = Field(
        default=50, ge=1, le=limits.MAX_ROUND_SIZE, schema_extra=_STRICT, description="items offered per round")
    round_budget_cents: Optional[int] = Field(
        default=None, sa_type=BigInteger, ge=1, le=limits.MAX_BUDGET_CENTS, schema_extra=_STRICT,
        description="most one round may spend, integer cents (at most the budget); unset: what remains")
    round_duration_s: float = Field(
        default=300.0, ge=limits.MIN_DURATION_S, le=limits.MAX_DURATION_S, schema_extra=_FINITE,
        description="bidding window of a round, seconds")
    label_duration_s: float = Field(
        default=3600.0, ge=limits.MIN_DURATION_S, le=limits.MAX_DURATION_S, schema_extra=_FINITE,
        description="labelling window after a round clears, seconds; open work is released after it")
    posted_price_cents: Optional[int] = Field(
        default=None, ge=1, le=limits.MAX_PRICE_CENTS, schema_extra=_STRICT,
        description="the price per label of the posted_price rule, integer cents (at most max_price_cents; "
        "default: max_price_cents)")
    worker_id: Optional[int] = Field(
        default=None, sa_type=ID, foreign_key="account.id", index=True, ge=1, le=limits.MAX_ID,
        description="the policy worker account that may read the campaign and score its items")
    # quality control (market.quality): gold checks are mixed in when gold_rate > 0; labels
    # of annotators confidently below quality_bar are rejected when a bar is set
    gold_rate: float = Field(
        default=0.0, ge=0, lt=1, schema_extra=_FINITE, sa_column_kwargs={"server_default": "0"},
        description="share of a qualified annotator's work that is gold checks; 0 turns quality control off")
    min_gold_answers: int = Field(
        default=4, ge=1, le=limits.MAX_GOLD_ANSWERS, schema_extra=_STRICT, sa_column_kwargs={"server_default": "4"},
        description="gold answers before an annotator is judged (on probation until then)")
    quality_bar: Optional[float] = Field(
        default=None, gt=0.5, lt=1, schema_extra=_FINITE,
        description="reject (and do not pay) labels of annotators whose gold accuracy is below this with "
        "probability quality_confidence; needs gold_rate above 0")
    quality_confidence: float = Field(
        default=0.8, gt=0.5, lt=1, schema_extra=_FINITE, sa_column_kwargs={"server_default": "0.8"},
        description="how sure the posterior must be to qualify or to reject an annotator")
    probation_share: float = Field(
        default=0.2, gt=0, le=1, schema_extra=_FINITE, sa_column_kwargs={"server_default": "0.2"},
        description="most of a round that annotators on probation take together")
    gold_carry: float = Field(
        default=0.0, ge=0, le=1, schema_extra=_FINITE, sa_column_kwargs={"server_default": "0"},
        description="what each gold answer an annotator gave on this requester's other campaigns counts here "
        "(0: nothing, vet from scratch; 1: as much as this campaign's own); needs gold_rate above 0")
    exclude_flagged: bool = Field(
        default=False, schema_extra=_STRICT, sa_column_kwargs={"server_default": "0"},
        description="keep annotators out of this campaign's rounds while an integrity flag links them to "
        "another account (near-identical asks, agreeing answers, lockstep timing: market.quality.flags)")


class Campaign(CampaignTerms, table=True):
    """A requester's purchase order: its terms, its owner and its status."""

    id: Optional[int] = Field(sa_type=ID, default=None, primary_key=True)
    owner_id: int = Field(sa_type=ID, foreign_key="account.id", index=True)
    status: str = Field(default="active", max_length=20)
    created_at: datetime = Field(default_factory=clock.now)


class Item(SQLModel, table=True):
    """A prompt with (eventually) two completions to compare.

    ``round_id`` is set while the item is offered in an open round; ``n_labels`` counts
    accepted labels and ``n_open`` open assignments, so the units an item still needs are
    ``labels_per_item - n_labels - n_open`` (kept up to date under the round's lock).

    ``gold_check`` marks a gold item: a control question whose known answer is ``gold``;
    it is mixed into assignments (never offered as such) and scores annotators."""

    id: Optional[int] = Field(sa_type=ID, default=None, primary_key=True)
    campaign_id: int = Field(sa_type=ID, foreign_key="campaign.id", index=True)
    position: int = 0
    prompt: str = Field(sa_type=Text)
    completion_a: Optional[str] = Field(default=None, sa_type=Text)
    completion_b: Optional[str] = Field(default=None, sa_type=Text)
    score: Optional[float] = None
    gold: Optional[str] = Field(default=None, max_length=4)
    gold_check: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})
    source_format: str = Field(default="pair", max_length=20)
    external_id: Optional[str] = Field(default=None, max_length=200)
    round_id: Optional[int] = Field(sa_type=ID, default=None, index=True)
    n_labels: int = 0
    n_open: int = 0
    created_at: datetime = Field(default_factory=clock.now)


class Round(SQLModel, table=True):
    """One sealed-bid auction of a campaign: offered items, demand (units), budget, outcome."""

    id: Optional[int] = Field(sa_type=ID, default=None, primary_key=True)
    campaign_id: int = Field(sa_type=ID, foreign_key="campaign.id", index=True)
    state: str = Field(default="open", max_length=20, index=True)
    rule: str = Field(max_length=40)
    demand: int
    budget_cents: int = Field(sa_type=BigInteger)
    item_ids: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    opened_at: datetime = Field(default_factory=clock.now)
    deadline: datetime
    closed_at: Optional[datetime] = None
    label_deadline: Optional[datetime] = None
    settled_at: Optional[datetime] = None
    n_bids: int = 0
    n_units_offered: int = 0
    n_assignments: int = 0
    clearing_price_cents: Optional[int] = None
    escrowed_cents: int = Field(default=0, sa_type=BigInteger)
    paid_cents: int = Field(default=0, sa_type=BigInteger)
    released_cents: int = Field(default=0, sa_type=BigInteger)
    reason: Optional[str] = Field(default=None, sa_type=Text)
    # what the clearing saw, for counterfactual replay: one value per unit demanded, and
    # the budget it used (the round budget, or what was left of the campaign if less)
    values_cents: Optional[list[float]] = Field(default=None, sa_column=Column(JSON, nullable=True))
    clearing_budget_cents: Optional[int] = Field(default=None, sa_type=BigInteger)
    # a clearing or settlement that raised: how many times in a row, and the last error
    # (market.round retries it on later sweeps, then parks it; see round.MAX_FAILURES)
    failures: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    last_error: Optional[str] = Field(default=None, sa_type=Text)


class Bid(SQLModel, table=True):
    """A sealed ask: price per label in cents and how many labels (capacity).

    ``quality`` is the annotator's quality when the bid was placed (what the mechanism
    saw); ``won_units`` is filled in at clearing."""

    __table_args__ = (UniqueConstraint("round_id", "annotator_id", name="uq_bid_round_annotator"),)

    id: Optional[int] = Field(sa_type=ID, default=None, primary_key=True)
    round_id: int = Field(sa_type=ID, foreign_key="round.id", index=True)
    annotator_id: int = Field(sa_type=ID, foreign_key="account.id", index=True)
    ask_cents: int
    capacity: int = 1
    quality: float = 1.0
    won_units: int = 0
    units: int = 0  # units it entered the clearing with: min(capacity, items it may take)
    paid_cents: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))  # per winning unit
    created_at: datetime = Field(default_factory=clock.now)
    updated_at: datetime = Field(default_factory=clock.now)


class Assignment(SQLModel, table=True):
    """One winning unit matched to one item: the annotator owes a label, the market owes ``price_cents``."""

    __table_args__ = (
        UniqueConstraint("round_id", "item_id", "annotator_id", name="uq_assignment_round_item_annotator"),
    )

    id: Optional[int] = Field(sa_type=ID, default=None, primary_key=True)
    round_id: int = Field(sa_type=ID, foreign_key="round.id", index=True)
    campaign_id: int = Field(sa_type=ID, foreign_key="campaign.id", index=True)
    annotator_id: int = Field(sa_type=ID, foreign_key="account.id", index=True)
    item_id: int = Field(sa_type=ID, foreign_key="item.id", index=True)
    price_cents: int
    state: str = Field(default="open", max_length=20, index=True)
    created_at: datetime = Field(default_factory=clock.now)
    deadline: Optional[datetime] = None
    # its annotator was on probation when the round cleared: the label is held, unpaid and
    # not exported, until the annotator's gold test ends (``market.quality.acceptance``)
    held: bool = False


class Label(SQLModel, table=True):
    """An annotator's answer for one assignment (at most one: unique ``assignment_id``).

    ``gold_credit`` is set on a gold item's label (1 right, 0 wrong, 0.5 for a tie);
    ``reject_reason`` says why a label was not accepted (and so not paid)."""

    __table_args__ = (UniqueConstraint("annotator_id", "idempotency_key", name="uq_label_annotator_key"),)

    id: Optional[int] = Field(sa_type=ID, default=None, primary_key=True)
    assignment_id: int = Field(sa_type=ID, foreign_key="assignment.id", unique=True)
    campaign_id: int = Field(sa_type=ID, foreign_key="campaign.id", index=True)
    item_id: int = Field(sa_type=ID, foreign_key="item.id", index=True)
    annotator_id: int = Field(sa_type=ID, foreign_key="account.id", index=True)
    choice: str = Field(max_length=4)
    confidence: Optional[float] = None
    idempotency_key: Optional[str] = Field(default=None, max_length=200)
    accepted: bool = True
    gold_credit: Optional[float] = None
    reject_reason: Optional[str] = Field(default=None, sa_type=Text)
    created_at: datetime = Field(default_factory=clock.now)


class AnnotatorSkill(SQLModel, table=True):
    """An annotator's accuracy on one campaign's gold items: the Beta posterior
    ``Beta(alpha, beta)`` (prior included) after ``gold_answers`` gold answers.

    One row per (campaign, annotator), created at the first gold answer and only changed
    under the campaign's lock, so concurrent labels cannot lose an update."""

    __table_args__ = (UniqueConstraint("campaign_id", "annotator_id", name="uq_skill_campaign_annotator"),)

    id: Optional[int] = Field(sa_type=ID, default=None, primary_key=True)
    campaign_id: int = Field(sa_type=ID, foreign_key="campaign.id", index=True)
    annotator_id: int = Field(sa_type=ID, foreign_key="account.id", index=True)
    alpha: float
    beta: float
    gold_answers: int = 0
    updated_at: datetime = Field(default_factory=clock.now)


class LedgerEntry(SQLModel, table=True):
    """One double-entry posting: ``cents`` move from ``from_account`` to ``to_account``.

    Ledger accounts are strings: ``external`` (outside money), ``campaign:<id>``
    (unescrowed budget), ``escrow:round:<id>``, ``annotator:<id>``. ``key`` is unique, so
    the same posting (say, the payment for assignment 7) can never be written twice.
    ``note`` says why, where the reason alone does not (a rejected label's release)."""

    id: Optional[int] = Field(sa_type=ID, default=None, primary_key=True)
    from_account: str = Field(max_length=64, index=True)
    to_account: str = Field(max_length=64, index=True)
    cents: int = Field(sa_type=BigInteger)
    reason: str = Field(max_length=20)
    key: str = Field(max_length=100, unique=True)
    campaign_id: int = Field(sa_type=ID, foreign_key="campaign.id", index=True)
    round_id: Optional[int] = Field(sa_type=ID, default=None, foreign_key="round.id")
    assignment_id: Optional[int] = Field(sa_type=ID, default=None, foreign_key="assignment.id")
    label_id: Optional[int] = Field(sa_type=ID, default=None, foreign_key="label.id")
    note: Optional[str] = Field(default=None, sa_type=Text)
    created_at: datetime = Field(default_factory=clock.now)


class Evaluation(SQLModel, table=True):
    """The policy's win rate after some spend (what each win-rate point cost)."""

    id: Optional[int] = Field(sa_type=ID, default=None, primary_key=True)
    campaign_id: int = Field(sa_type=ID, foreign_key="campaign.id", index=True)
    round_id: Optional[int] = Field(sa_type=ID, default=None, foreign_key="round.id")
    spend_cents: int = Field(sa_type=BigInteger)
    win_rate: float
    ci_low: float
    ci_high: float
    n: int = Field(sa_type=BigInteger)
    metrics: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=clock.now)


class ServerSecret(SQLModel, table=True):
    """The server's secret (one row, written at first start unless ``PREFMARKET_SECRET`` is
    set): the key of every draw and shuffle that decides gold (``market.secret``). No route
    serves it; without it, ids and round numbers would tell which work is gold."""

    id: Optional[int] = Field(sa_type=ID, default=None, primary_key=True)
    value: str = Field(max_length=128)
    created_at: datetime = Field(default_factory=clock.now)


class HeldOutPair(SQLModel, table=True):
    """A pair of a campaign's held-out labelled set, with its logged preference.

    Kept in its own table, apart from ``Item``, so that no round, assignment, training
    export or gold check can ever reach it: it exists only for the policy worker to
    measure held-out preference accuracy (a metric without a judge). ``chosen`` may be
    empty: nobody is shown these pairs (docs/contract.md, "Empty replies")."""

    id: Optional[int] = Field(sa_type=ID, default=None, primary_key=True)
    campaign_id: int = Field(sa_type=ID, foreign_key="campaign.id", index=True)
    position: int = 0
    prompt: str = Field(sa_type=Text)
    chosen: str = Field(sa_type=Text)
    rejected: str = Field(sa_type=Text)
    source_format: str = Field(max_length=20)
    external_id: Optional[str] = Field(default=None, max_length=200)
    created_at: datetime = Field(default_factory=clock.now)

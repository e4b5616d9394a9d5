"""The market's tables (SQLModel), one class per domain noun of design.md.

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
from typing import Any, Optional

from sqlalchemy import JSON, BigInteger, Column, Integer, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from market import clock

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
    """A bearer token, stored only as the sha256 of its secret (shown once at creation)."""

    id: Optional[int] = Field(sa_type=ID, default=None, primary_key=True)
    account_id: int = Field(sa_type=ID, foreign_key="account.id", index=True)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    created_at: datetime = Field(default_factory=clock.now)


class Campaign(SQLModel, table=True):
    """A requester's purchase order: budget, price cap, auction rule, acquisition function."""

    id: Optional[int] = Field(sa_type=ID, default=None, primary_key=True)
    owner_id: int = Field(sa_type=ID, foreign_key="account.id", index=True)
    name: str = Field(max_length=200)
    budget_cents: int = Field(sa_type=BigInteger)
    max_price_cents: int
    rule: str = Field(max_length=40)
    acquisition: str = Field(default="random", max_length=64)
    labels_per_item: int = 1
    round_size: int = 50
    round_budget_cents: Optional[int] = Field(default=None, sa_type=BigInteger)
    round_duration_s: float = 300.0
    label_duration_s: float = 3600.0
    posted_price_cents: Optional[int] = None
    worker_id: Optional[int] = Field(sa_type=ID, default=None, foreign_key="account.id", index=True)
    status: str = Field(default="active", max_length=20)
    created_at: datetime = Field(default_factory=clock.now)
    # quality control (market.quality): gold checks are mixed in when gold_rate > 0; labels
    # of annotators confidently below quality_bar are rejected when a bar is set
    gold_rate: float = Field(default=0.0, sa_column_kwargs={"server_default": "0"})
    min_gold_answers: int = Field(default=4, sa_column_kwargs={"server_default": "4"})
    quality_bar: Optional[float] = None
    quality_confidence: float = Field(default=0.8, sa_column_kwargs={"server_default": "0.8"})
    probation_share: float = Field(default=0.2, sa_column_kwargs={"server_default": "0.2"})
    gold_carry: float = Field(default=0.0, sa_column_kwargs={"server_default": "0"})


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

"""Request and response models (pydantic), with the examples shown in /openapi.json.

Money fields are strict integers (``1.5`` or ``"100"`` are refused, so are NaN and
infinity) and every float that reaches the database must be finite.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Optional

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from market import limits
from market.tables import CampaignTerms


def _utc(d: datetime | None) -> datetime | None:
    if d is not None and d.tzinfo is None:
        return d.replace(tzinfo=UTC)
    return d


UTCDatetime = Annotated[datetime, AfterValidator(_utc)]
PriceCents = Annotated[int, Field(strict=True, ge=1, le=limits.MAX_PRICE_CENTS)]
Seconds = Annotated[float, Field(gt=0, le=limits.MAX_DURATION_S, allow_inf_nan=False)]
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
Prob = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
Id = Annotated[int, Field(ge=1, le=limits.MAX_ID)]


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# --- accounts -------------------------------------------------------------------------


ExpiresAt = Annotated[Optional[UTCDatetime], Field(
    default=None, description="when the token stops working (ISO 8601; UTC if no offset); never if omitted")]


class AccountCreate(BaseModel):
    name: str = Field(min_length=1, max_length=limits.MAX_NAME_CHARS, examples=["alice"])
    role: Literal["admin", "requester", "annotator", "worker"] = Field(examples=["annotator"])
    expires_at: ExpiresAt = None
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "alice", "role": "annotator"}]})


class AccountOut(Out):
    id: int
    name: str
    role: str
    quality: float
    created_at: UTCDatetime


class AccountCreated(AccountOut):
    token: str = Field(description="bearer token; shown once, store it now")


class TokenIn(BaseModel):
    """A new token's terms (all optional)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"expires_at": "2027-01-31T00:00:00Z"}]})
    expires_at: ExpiresAt = None


class TokenOut(BaseModel):
    account_id: int
    token: str = Field(description="bearer token; shown once, store it now")
    id: Optional[int] = Field(default=None, description="the token's id (to list, revoke or rotate it)")
    expires_at: Optional[UTCDatetime] = None


class TokenInfoOut(Out):
    """A token as its account's list shows it: never the secret, which is not stored."""

    id: int
    account_id: int
    created_at: UTCDatetime
    expires_at: Optional[UTCDatetime]
    revoked_at: Optional[UTCDatetime]
    status: Literal["active", "expired", "revoked"]
    current: bool = Field(description="the token this request was made with")


# --- campaigns ------------------------------------------------------------------------


class CampaignCreate(CampaignTerms):
    """A new campaign's terms (declared once, with their bounds and help, in ``market.tables.CampaignTerms``)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "movie reviews",
                    "budget_cents": 2000,
                    "max_price_cents": 50,
                    "rule": "budget_feasible",
                    "acquisition": "sharp",
                    "labels_per_item": 1,
                    "round_size": 25,
                    "round_duration_s": 300,
                }
            ]
        },
    )


class CampaignOut(CampaignTerms):
    """A campaign as the API shows it: its terms, owner and status."""

    id: int
    owner_id: int
    # any stored name reads back, including one accepted before the registry checked names
    acquisition: str = Field(description=CampaignTerms.model_fields["acquisition"].description)
    status: str
    created_at: UTCDatetime


class RefusedLine(BaseModel):
    line: int  # 1-based line number in the upload
    reason: str


class UploadOut(BaseModel):
    campaign_id: int
    imported: int
    format: Literal["trl", "pair", "hh", "prompt"]
    refused: list[RefusedLine] = []  # only with skip_invalid; otherwise a bad line refuses the upload


class ItemOut(Out):
    id: int
    campaign_id: int
    position: int
    prompt: str
    completion_a: Optional[str]
    completion_b: Optional[str]
    score: Optional[float]
    gold: Optional[str]
    gold_check: bool
    source_format: str
    external_id: Optional[str]
    round_id: Optional[int]
    n_labels: int
    n_open: int


class HeldOutOut(Out):
    id: int
    campaign_id: int
    position: int
    prompt: str
    chosen: str  # may be empty: an empty reply can be the logged preference (docs/contract.md)
    rejected: str
    source_format: str
    external_id: Optional[str]


class CompletionRow(BaseModel):
    item_id: Id
    completion_a: str = Field(min_length=1, max_length=limits.MAX_TEXT_CHARS)
    completion_b: str = Field(min_length=1, max_length=limits.MAX_TEXT_CHARS)


class CompletionsIn(BaseModel):
    completions: list[CompletionRow] = Field(
        min_length=1, examples=[[{"item_id": 1, "completion_a": "A fine film.", "completion_b": "Dull."}]]
    )


class ScoreRow(BaseModel):
    item_id: Id
    score: FiniteFloat


class ScoresIn(BaseModel):
    scores: list[ScoreRow] = Field(min_length=1, examples=[[{"item_id": 1, "score": 2.31}]])


class UpdatedOut(BaseModel):
    updated: int


class SummaryOut(BaseModel):
    campaign_id: int
    rule: str
    budget_cents: int
    spent_cents: int
    escrowed_cents: int
    remaining_cents: int
    released_cents: int
    labels: int
    items: int  # the campaign's own items; gold items are counted apart
    items_labelled: int
    gold_items: int
    gold_checks: int  # accepted labels on gold items (in labels and the spend)
    rounds: int
    rounds_by_state: dict[str, int]
    cost_per_label_cents: Optional[float]
    balanced: bool


class LedgerEntryOut(Out):
    id: int
    from_account: str
    to_account: str
    cents: int
    reason: str
    key: str
    round_id: Optional[int]
    assignment_id: Optional[int]
    label_id: Optional[int]
    note: Optional[str] = None
    created_at: UTCDatetime


class BooksOut(BaseModel):
    funded_cents: int
    available_cents: int
    escrowed_cents: int
    paid_cents: int
    released_cents: int
    n_payments: int
    balanced: bool


class LedgerOut(BaseModel):
    campaign_id: int
    books: BooksOut
    entries: list[LedgerEntryOut]


class CampaignBidOut(BaseModel):
    """One bid of a closed round, with the round's clearing terms repeated on each row:
    everything ``bidders.replay`` needs to re-clear the round under another rule."""

    round_id: int
    annotator_id: int
    ask_cents: int
    capacity: int
    units: int = Field(description="units the bid entered the clearing with: min(capacity, items it may take)")
    quality: float
    won_units: int
    paid_cents: list[int] = Field(description="the clearing's payment to each of this bid's winning units")
    rule: str
    values_cents: list[float] = Field(description="one value per unit demanded, as the clearing saw them")
    budget_cents: int = Field(description="the budget the clearing used")
    price_cents: int | None = Field(description="the posted price (posted_price rounds), else null")


class EvaluationIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"round_id": 3, "spend_cents": 1200, "win_rate": 0.61, "ci_low": 0.55, "ci_high": 0.67, "n": 200}]
        }
    )
    round_id: Optional[Id] = None
    spend_cents: int = Field(strict=True, ge=0, le=limits.MAX_BUDGET_CENTS)
    win_rate: Prob
    ci_low: Prob
    ci_high: Prob
    n: int = Field(strict=True, ge=0, le=limits.MAX_COUNT)
    metrics: dict[str, Any] = Field(default_factory=dict)


class EvaluationOut(Out):
    id: int
    campaign_id: int
    round_id: Optional[int]
    spend_cents: int
    win_rate: float
    ci_low: float
    ci_high: float
    n: int
    metrics: dict[str, Any]
    created_at: UTCDatetime


# --- rounds, bids, assignments, labels -------------------------------------------------


class OpenRoundIn(BaseModel):
    duration_s: Optional[Seconds] = Field(default=None, description="bidding window; campaign default if omitted")


class RoundTermsOut(BaseModel):
    """What an annotator sees of a round: the public terms it bids on (``market.round_access``)."""

    id: int
    campaign_id: int
    state: str
    rule: str
    demand: int = Field(description="label units wanted")
    max_price_cents: int = Field(description="no ask above this can win")
    posted_price_cents: Optional[int]
    opened_at: UTCDatetime
    deadline: UTCDatetime
    closed_at: Optional[UTCDatetime]
    label_deadline: Optional[UTCDatetime]
    settled_at: Optional[UTCDatetime]
    past_clearing_prices_cents: list[int] = Field(
        description="recent clearing prices of rounds under this round's rule, across the market, oldest first")


class RoundOut(RoundTermsOut):
    """A round in full: for its campaign's owner and worker, and admins."""

    campaign_name: str
    n_items: int
    item_ids: list[int]
    budget_cents: int
    clearing_price_cents: Optional[int]
    n_assignments: int
    escrowed_cents: int
    paid_cents: int
    released_cents: int
    reason: Optional[str]
    past_clearing_prices_cents: list[int] = Field(description="this campaign's recent clearing prices, oldest first")
    n_bids: Optional[int] = Field(default=None, description="owner and admin only")


class BidIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"ask_cents": 12, "capacity": 3}]})
    ask_cents: PriceCents = Field(description="price per label, integer cents")
    capacity: int = Field(default=1, strict=True, ge=1, le=limits.MAX_CAPACITY, description="labels offered")
    campaign_id: Optional[Id] = Field(default=None, description="optional check: the round's campaign")


class BidOut(Out):
    id: int
    round_id: int
    annotator_id: int
    ask_cents: int
    capacity: int
    won_units: int
    created_at: UTCDatetime
    updated_at: UTCDatetime


def _lower(v: Any) -> Any:
    return v.lower() if isinstance(v, str) else v


class LabelIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"choice": "a", "confidence": 0.8, "idempotency_key": "a7-1"}]}
    )
    choice: Annotated[Literal["a", "b", "tie"], BeforeValidator(_lower)]
    confidence: Optional[Prob] = None
    idempotency_key: Optional[str] = Field(default=None, min_length=1, max_length=200)


class LabelOut(Out):
    id: int
    assignment_id: int
    item_id: Optional[int] = Field(description="hidden (null) in campaigns with gold checks")
    choice: str
    confidence: Optional[float]
    accepted: bool
    reject_reason: Optional[str] = Field(default=None, description="why the label was not accepted (not paid)")
    idempotency_key: Optional[str]
    created_at: UTCDatetime
    paid_cents: int = 0
    replayed: bool = False


class AssignmentOut(BaseModel):
    id: int
    round_id: int
    campaign_id: int
    item_id: Optional[int] = Field(description="hidden (null) in campaigns with gold checks, where recurring "
                                   "ids would give the checks away")
    prompt: str
    completion_a: Optional[str]
    completion_b: Optional[str]
    price_cents: int
    state: str
    deadline: Optional[UTCDatetime]
    label: Optional[LabelOut] = None


class EarningsOut(BaseModel):
    account_id: int
    earned_cents: int
    pending_cents: int
    labels: int = Field(description="accepted labels")
    open_assignments: int
    released_assignments: int
    by_campaign: dict[int, int] = Field(description="cents earned per campaign")
    rejected_labels: int = Field(default=0, description="labels rejected by a campaign's quality policy (not paid)")
    rejected_cents: int = Field(default=0, description="what the rejected labels would have paid")


class Problem(BaseModel):
    detail: str = Field(examples=["ask_cents: must be between 1 and 100000 cents"])


# --- quality control ------------------------------------------------------------------


class GoldRow(BaseModel):
    item_id: Id
    answer: Literal["a", "b"] = Field(description="the completion a careful annotator prefers")


class GoldIn(BaseModel):
    items: list[GoldRow] = Field(min_length=1, examples=[[{"item_id": 1, "answer": "a"}]])


class AnnotatorSkillOut(BaseModel):
    annotator_id: int
    alpha: float = Field(description="Beta posterior of gold accuracy (prior Beta(2, 1) included)")
    beta: float
    accuracy: float = Field(description="posterior mean")
    accuracy_low: float = Field(description="5% posterior quantile")
    accuracy_high: float = Field(description="95% posterior quantile")
    gold_answers: int = Field(description="gold answers on this campaign")
    carried_answers: float = Field(description="gold answers on the requester's other campaigns, times the "
                                   "campaign's gold_carry (alpha and beta include them, as does the status)")
    status: Literal["probation", "provisional", "qualified", "below_bar"] = Field(
        description="probation: all work is gold checks until the evidence is decisive; provisional: labels "
        "accepted but half the work is gold checks, either passed with fewer than 4 x min_gold_answers answers "
        "or undecided after 8 x min_gold_answers with the mean above the bar; qualified: passed with at least "
        "4 x min_gold_answers answers, checked at the campaign's gold_rate")
    quality: float = Field(description="q for the quality-weighted rules: 2·accuracy − 1, floored at 0.05")
    labels: int
    accepted: int
    rejected: int
    choices: dict[str, int]


class QualityOut(BaseModel):
    campaign_id: int
    gold_rate: float
    min_gold_answers: int
    quality_bar: Optional[float]
    quality_confidence: float
    probation_share: float
    gold_carry: float
    gold_items: int
    annotators: list[AnnotatorSkillOut]


class FlagOut(BaseModel):
    kind: Literal["similar_bids", "shared_answers", "lockstep_timing", "degenerate_labels", "gold_at_chance",
                  "gold_inverted"]
    campaign_id: int
    annotator_ids: list[int]
    detail: str
    model_config = ConfigDict(extra="allow")


class SoftLabelOut(BaseModel):
    item_id: int
    p_a: float = Field(description="posterior probability that completion_a beats completion_b")
    votes: int
    aggregation: str

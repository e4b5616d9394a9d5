"""Campaigns and what hangs off them: items, scores, rounds opening, money, export, evaluations."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import PlainTextResponse

from market import bidlog, campaign, evaluation, export, held_out, items, ledger, limits, summary
from market import round as rounds
from market.api.deps import PathId, CurrentAccount, Requester, SessionDep
from market.api.routes import accounting, quality
from market.api.routes.rounds import round_out
from market.api.schemas import (
    CampaignBidOut,
    CampaignCreate,
    CampaignOut,
    CompletionsIn,
    EvaluationIn,
    EvaluationOut,
    HeldOutOut,
    ItemOut,
    LedgerOut,
    OpenRoundIn,
    RefusedLine,
    RoundOut,
    ScoresIn,
    SummaryOut,
    UpdatedOut,
    UploadOut,
)
from market.errors import Invalid, MarketProblem

router = APIRouter(tags=["campaigns"])
router.include_router(quality.router)  # quality control's routes hang off campaigns; no app change needed
router.include_router(accounting.router)  # GET /campaigns/{id}/accounting, likewise


class TooLarge(MarketProblem):
    status = 413


async def jsonl_body(request: Request) -> str:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limits.MAX_UPLOAD_BYTES:
        raise TooLarge(f"body: uploads are limited to {limits.MAX_UPLOAD_BYTES} bytes; split the file")
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > limits.MAX_UPLOAD_BYTES:
            raise TooLarge(f"body: uploads are limited to {limits.MAX_UPLOAD_BYTES} bytes; split the file")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Invalid(f"body: not UTF-8 text (byte {exc.start})") from None


UPLOAD_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-ndjson": {
                "schema": {"type": "string"},
                "examples": {
                    "pair": {"value": '{"prompt": "Review Up", "completion_a": "Lovely.", "completion_b": "Meh."}\n'},
                    "trl": {"value": '{"prompt": "Review Up", "chosen": "Lovely.", "rejected": "Meh."}\n'},
                    "hh": {"value": '{"chosen": "\\n\\nHuman: Hi\\n\\nAssistant: Hello!", '
                           '"rejected": "\\n\\nHuman: Hi\\n\\nAssistant: Go away."}\n'},
                    "prompt": {"value": '{"prompt": "Write a short positive review of Up."}\n'},
                },
            }
        },
    }
}


def _held_out_doc() -> dict:
    """UPLOAD_DOC's examples that carry a logged preference (a held-out line must)."""
    body = UPLOAD_DOC["requestBody"]["content"]["application/x-ndjson"]
    examples = {k: v for k, v in body["examples"].items() if k in ("trl", "hh")}
    examples["pair"] = {"value": '{"prompt": "Review Up", "completion_a": "Lovely.", "completion_b": "Meh.", '
                                 '"gold": "a"}\n'}
    return {"requestBody": {"required": True, "content": {"application/x-ndjson": {**body, "examples": examples}}}}


HELD_OUT_DOC = _held_out_doc()


@router.post("/campaigns", response_model=CampaignOut, status_code=201)
def create_campaign(body: CampaignCreate, session: SessionDep, account: Requester):
    """Create and fund a campaign (the whole budget is posted to its ledger account)."""
    c = campaign.create_campaign(session, account, **body.model_dump())
    session.commit()
    return c


@router.get("/campaigns", response_model=list[CampaignOut])
def list_campaigns(session: SessionDep, account: CurrentAccount):
    return campaign.list_campaigns(session, account)


@router.get("/campaigns/{campaign_id}", response_model=CampaignOut)
def get_campaign(campaign_id: PathId, session: SessionDep, account: CurrentAccount):
    return campaign.get_campaign(session, account, campaign_id)


SkipInvalid = Annotated[bool, Query(description="import the good lines and list every bad one in `refused` "
                                                "(default: a bad line refuses the whole upload)")]


def upload_out(campaign_id: int, parsed) -> UploadOut:
    return UploadOut(campaign_id=campaign_id, imported=len(parsed.pairs), format=parsed.format,
                     refused=[RefusedLine(line=n, reason=r) for n, r in parsed.refused])


@router.post("/campaigns/{campaign_id}/items", response_model=UploadOut, status_code=201, openapi_extra=UPLOAD_DOC)
def upload_items(campaign_id: PathId, session: SessionDep, account: Requester,
                 text: Annotated[str, Depends(jsonl_body)], skip_invalid: SkipInvalid = False):
    """Import JSONL (trl, pair, hh or prompt format); a bad line names itself and nothing is
    imported, unless ``skip_invalid``: then the good lines are imported and every bad line is
    returned in ``refused`` with its number and reason. Empty replies are refused (annotators
    cannot judge them); a held-out set keeps them."""
    c = campaign.require_owner(session, account, campaign_id)
    parsed = items.import_items(session, c, text, skip_invalid=skip_invalid)
    session.commit()
    return upload_out(c.id, parsed)


@router.post("/campaigns/{campaign_id}/held-out", response_model=UploadOut, status_code=201, openapi_extra=HELD_OUT_DOC)
def upload_held_out(campaign_id: PathId, session: SessionDep, account: Requester,
                    text: Annotated[str, Depends(jsonl_body)], skip_invalid: SkipInvalid = False):
    """Append to the campaign's held-out labelled set (trl, hh, or pair with ``gold``): never
    offered to annotators, trained on or exported; the worker reports accuracy on it. Empty
    replies are kept; a pair already in the pool is refused."""
    c = campaign.require_owner(session, account, campaign_id)
    parsed = held_out.import_held_out(session, c, text, skip_invalid=skip_invalid)
    session.commit()
    return upload_out(c.id, parsed)


@router.get("/campaigns/{campaign_id}/held-out", response_model=list[HeldOutOut])
def list_held_out(
    campaign_id: PathId,
    session: SessionDep,
    account: CurrentAccount,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int | None, Query(ge=1, le=limits.MAX_UPLOAD_LINES)] = None,
):
    """The held-out set with its logged preferences (owner, the campaign's worker, admin)."""
    c = campaign.get_campaign(session, account, campaign_id)
    return held_out.list_held_out(session, c, offset=offset, limit=limit)


@router.get("/campaigns/{campaign_id}/items", response_model=list[ItemOut])
def list_items(
    campaign_id: PathId,
    session: SessionDep,
    account: CurrentAccount,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int | None, Query(ge=1, le=limits.MAX_UPLOAD_LINES)] = None,
):
    c = campaign.get_campaign(session, account, campaign_id)
    return items.list_items(session, c, offset=offset, limit=limit)


@router.put("/campaigns/{campaign_id}/completions", response_model=UpdatedOut)
def set_completions(campaign_id: PathId, body: CompletionsIn, session: SessionDep, account: CurrentAccount):
    """Write the policy's two completions for items (frozen once offered or labelled)."""
    c = campaign.get_campaign(session, account, campaign_id)
    n = items.set_completions(session, c, [(r.item_id, r.completion_a, r.completion_b) for r in body.completions])
    session.commit()
    return UpdatedOut(updated=n)


@router.put("/campaigns/{campaign_id}/scores", response_model=UpdatedOut)
def post_scores(campaign_id: PathId, body: ScoresIn, session: SessionDep, account: CurrentAccount):
    """Write acquisition scores; the next round offers the highest-scored items first."""
    c = campaign.get_campaign(session, account, campaign_id)
    scores = {}
    for r in body.scores:
        if r.item_id in scores:
            raise Invalid(f"scores: item_id {r.item_id} appears twice")
        scores[r.item_id] = r.score
    n = items.set_scores(session, c, scores)
    session.commit()
    return UpdatedOut(updated=n)


@router.post("/campaigns/{campaign_id}/rounds", response_model=RoundOut, status_code=201)
def open_round(campaign_id: PathId, session: SessionDep, account: Requester, body: OpenRoundIn | None = None):
    """Open a sealed-bid round over the best available items."""
    r = rounds.open_round(session, account, campaign_id, body.duration_s if body else None)
    session.commit()
    return round_out(session, r, account)


@router.get("/campaigns/{campaign_id}/summary", response_model=SummaryOut)
def campaign_summary(campaign_id: PathId, session: SessionDep, account: CurrentAccount):
    c = campaign.get_campaign(session, account, campaign_id)
    if rounds.touch_campaign(session, c.id):
        session.commit()
    return summary.campaign_summary(session, c)


@router.get("/campaigns/{campaign_id}/export", response_class=PlainTextResponse,
            responses={200: {"content": {"application/x-ndjson": {}}}})
def export_labels(campaign_id: PathId, session: SessionDep, account: CurrentAccount, include_ties: bool = False,
                  aggregation: Literal["skill", "mv", "ds", "bt"] = "skill"):
    """Accepted labels as TRL JSONL: prompt, chosen, rejected, item_id, label_id, confidence, annotator_id,
    choice, and quality control's soft_label, weight (QA-DPO), aggregation, annotator_accuracy, votes."""
    c = campaign.get_campaign(session, account, campaign_id)
    body = export.to_jsonl(export.export_rows(session, c, include_ties=include_ties, aggregation=aggregation))
    return PlainTextResponse(body, media_type="application/x-ndjson")


@router.get("/campaigns/{campaign_id}/ledger", response_model=LedgerOut)
def campaign_ledger(campaign_id: PathId, session: SessionDep, account: CurrentAccount):
    """Every posting of the campaign, and its books re-derived from them."""
    c = campaign.require_owner(session, account, campaign_id)
    from sqlmodel import select

    from market.tables import LedgerEntry

    entries = session.exec(select(LedgerEntry).where(LedgerEntry.campaign_id == c.id).order_by(LedgerEntry.id)).all()
    return {"campaign_id": c.id, "books": ledger.books(session, c.id).as_dict(), "entries": entries}


@router.get("/campaigns/{campaign_id}/bids", response_model=list[CampaignBidOut])
def campaign_bids(campaign_id: PathId, session: SessionDep, account: CurrentAccount):
    """Bids of the campaign's closed rounds only, each with its round's clearing terms
    (rule, values, budget, posted price) and its units and payments: what counterfactual
    replay (``bidders.replay``) needs to re-clear the round under another rule."""
    c = campaign.require_owner(session, account, campaign_id)
    return [CampaignBidOut(**row) for row in bidlog.bid_rows(session, c)]


@router.post("/campaigns/{campaign_id}/evaluations", response_model=EvaluationOut, status_code=201)
def post_evaluation(campaign_id: PathId, body: EvaluationIn, session: SessionDep, account: CurrentAccount):
    c = campaign.get_campaign(session, account, campaign_id)
    ev = evaluation.add_evaluation(session, c, **body.model_dump())
    session.commit()
    return ev


@router.get("/campaigns/{campaign_id}/evaluations", response_model=list[EvaluationOut])
def list_evaluations(campaign_id: PathId, session: SessionDep, account: CurrentAccount):
    c = campaign.get_campaign(session, account, campaign_id)
    return evaluation.list_evaluations(session, c)

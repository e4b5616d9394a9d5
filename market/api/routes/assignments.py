"""The annotator's work: assignments to label, and label submission (which pays).

In a campaign with gold checks (quality control on), item ids are left out (null) of
what annotators see: a gold item recurs across annotators and rounds, so its id would
give the check away."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Response
from sqlmodel import Session, col, select

from market import assignment, faults, label
from market.api.deps import PathId, Annotator, SessionDep
from market.api.schemas import AssignmentOut, LabelIn, LabelOut
from market.quality import admission
from market.tables import Assignment, Campaign, Label

router = APIRouter(tags=["assignments"])


def label_out(lab: Label, a: Assignment, *, replayed: bool = False, hide_item: bool = False) -> LabelOut:
    out = LabelOut.model_validate(lab)
    out.paid_cents = a.price_cents if lab.accepted else 0
    out.replayed = replayed
    if hide_item:
        out.item_id = None
    return out


def _gold_campaigns(session: Session, campaign_ids: set[int]) -> set[int]:
    """Which of these campaigns mix in gold checks (and so hide item ids from annotators)."""
    if not campaign_ids:
        return set()
    return {c.id for c in session.exec(select(Campaign).where(col(Campaign.id).in_(campaign_ids)))
            if admission.enabled(c)}


@router.get("/assignments", response_model=list[AssignmentOut])
def my_assignments(session: SessionDep, account: Annotator,
                   state: Literal["open", "done", "released"] | None = None):
    """Your assignments with the prompt and both completions (open ones are still to label)."""
    rows = assignment.my_assignments(session, account, state)
    session.commit()
    hidden = _gold_campaigns(session, {a.campaign_id for a, _, _ in rows})
    return [
        AssignmentOut(
            id=a.id, round_id=a.round_id, campaign_id=a.campaign_id,
            item_id=None if a.campaign_id in hidden else a.item_id, prompt=it.prompt,
            completion_a=it.completion_a, completion_b=it.completion_b, price_cents=a.price_cents, state=a.state,
            deadline=a.deadline,
            label=label_out(lab, a, hide_item=a.campaign_id in hidden) if lab is not None else None,
        )
        for a, it, lab in rows
    ]


@router.post("/assignments/{assignment_id}/label", response_model=LabelOut, status_code=201,
             responses={200: {"model": LabelOut, "description": "replay of an earlier submission with the same key"}})
def submit_label(assignment_id: PathId, body: LabelIn, session: SessionDep, account: Annotator, response: Response):
    """Label an assignment (a, b or tie); you are paid its price at once, unless the campaign's
    quality policy rejects the label (``accepted: false`` and ``reject_reason`` say so). Idempotent by key."""
    lab, created = label.submit_label(session, account, assignment_id, body.choice, body.confidence,
                                      body.idempotency_key)
    if created:
        faults.point("label")
    session.commit()
    a = session.get(Assignment, lab.assignment_id)
    if not created:
        response.status_code = 200
    return label_out(lab, a, replayed=not created, hide_item=bool(_gold_campaigns(session, {a.campaign_id})))

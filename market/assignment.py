"""An annotator's view of its work: assignments (with the pair to judge) and earnings."""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import Session, col, select

from market import ledger
from market import round as rounds
from market.errors import Forbidden, Invalid
from market.tables import ASSIGNMENT_STATES, Account, Assignment, Item, Label, LedgerEntry


def my_assignments(
    session: Session, annotator: Account, state: str | None = None
) -> list[tuple[Assignment, Item, Label | None]]:
    """The caller's assignments, oldest first, each with its item and label (if any).

    Overdue rounds are settled first, so an assignment past its deadline shows as released."""
    if annotator.role != "annotator":
        raise Forbidden("only annotator accounts have assignments")
    if state is not None and state not in ASSIGNMENT_STATES:
        raise Invalid(f"state: must be one of {', '.join(ASSIGNMENT_STATES)} (got {state!r})")
    round_ids = session.exec(
        select(Assignment.round_id).where(Assignment.annotator_id == annotator.id, Assignment.state == "open").distinct()
    ).all()
    for rid in round_ids:
        rounds.touch(session, rounds.get_round(session, rid))
    stmt = (
        select(Assignment, Item, Label)
        .join(Item, Item.id == Assignment.item_id)
        .join(Label, Label.assignment_id == Assignment.id, isouter=True)
        .where(Assignment.annotator_id == annotator.id)
        .order_by(Assignment.id)
    )
    if state is not None:
        stmt = stmt.where(Assignment.state == state)
    return [(a, it, lab) for a, it, lab in session.exec(stmt).all()]


def earnings(session: Session, annotator: Account) -> dict:
    """Paid (ledger balance), pending (the escrow of open assignments and of held labels),
    label counts, and what a campaign's quality policy rejected (labelled, not paid)."""
    if annotator.role != "annotator":
        raise Forbidden("only annotator accounts have earnings")
    account = ledger.annotator_account(annotator.id)
    paid = ledger.balance(session, account)
    rows = session.exec(
        select(Assignment.state, func.count(Assignment.id), func.coalesce(func.sum(Assignment.price_cents), 0))
        .where(Assignment.annotator_id == annotator.id)
        .group_by(Assignment.state)
    ).all()
    by_state = {s: (int(n), int(c)) for s, n, c in rows}
    per_campaign = session.exec(
        select(LedgerEntry.campaign_id, func.coalesce(func.sum(LedgerEntry.cents), 0))
        .where(LedgerEntry.to_account == account, LedgerEntry.reason == "pay")
        .group_by(LedgerEntry.campaign_id)
    ).all()
    held_label = col(Label.reject_reason).is_(None)  # not accepted, no reason: held (market.quality.acceptance)
    unaccepted = {bool(h): (int(n), int(c)) for h, n, c in session.exec(
        select(held_label, func.count(Label.id), func.coalesce(func.sum(Assignment.price_cents), 0))
        .join(Assignment, Assignment.id == Label.assignment_id)
        .where(Label.annotator_id == annotator.id, col(Label.accepted) == False)  # noqa: E712
        .group_by(held_label)
    ).all()}
    rejected, rejected_cents = unaccepted.get(False, (0, 0))
    held, held_cents = unaccepted.get(True, (0, 0))
    return {
        "account_id": annotator.id,
        "earned_cents": paid,
        "pending_cents": by_state.get("open", (0, 0))[1] + held_cents,
        "labels": by_state.get("done", (0, 0))[0] - int(rejected) - int(held),
        "open_assignments": by_state.get("open", (0, 0))[0],
        "released_assignments": by_state.get("released", (0, 0))[0],
        "by_campaign": {int(cid): int(c) for cid, c in per_campaign},
        "rejected_labels": int(rejected),
        "rejected_cents": int(rejected_cents),
    }

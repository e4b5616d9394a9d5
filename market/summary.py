"""A campaign at a glance: what it spent, what it bought, what is left.

Spend means money paid to annotators for accepted labels; escrowed money (committed to
assignments still being labelled) is reported separately, and ``remaining_cents`` is
what future rounds can still use. All figures come from the ledger (``ledger.books``).
"""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import Session, select

from market import ledger
from market.tables import Campaign, Item, Label, Round


def campaign_summary(session: Session, campaign: Campaign) -> dict:
    b = ledger.books(session, campaign.id)
    n_items = session.exec(select(func.count(Item.id)).where(Item.campaign_id == campaign.id)).one()
    n_done = session.exec(
        select(func.count(Item.id)).where(Item.campaign_id == campaign.id, Item.n_labels >= campaign.labels_per_item)
    ).one()
    n_labels = session.exec(
        select(func.count(Label.id)).where(Label.campaign_id == campaign.id, Label.accepted == True)  # noqa: E712
    ).one()
    states = dict(
        session.exec(
            select(Round.state, func.count(Round.id)).where(Round.campaign_id == campaign.id).group_by(Round.state)
        ).all()
    )
    return {
        "campaign_id": campaign.id,
        "rule": campaign.rule,
        "budget_cents": campaign.budget_cents,
        "spent_cents": b.paid_cents,
        "escrowed_cents": b.escrowed_cents,
        "remaining_cents": b.available_cents,
        "released_cents": b.released_cents,
        "labels": int(n_labels),
        "items": int(n_items),
        "items_labelled": int(n_done),
        "rounds": int(sum(states.values())),
        "rounds_by_state": {str(k): int(v) for k, v in states.items()},
        "cost_per_label_cents": (b.paid_cents / n_labels) if n_labels else None,
        "balanced": b.balanced,
    }

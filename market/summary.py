"""A campaign at a glance: what it spent, what it bought, what is left.

Spend means money paid to annotators for accepted labels; escrowed money (committed to
assignments still being labelled) is reported separately, and ``remaining_cents`` is
what future rounds can still use. All figures come from the ledger (``ledger.books``).

``items`` and ``items_labelled`` count the requester's own items only; gold items (control
questions, ``market.quality``) are reported apart as ``gold_items``, and the accepted
labels on them as ``gold_checks`` (paid like any label, so they are in ``labels`` and in
the spend, but they label nothing the requester is buying).
"""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import Session, select

from market import ledger
from market.tables import Campaign, Item, Label, Round


def campaign_summary(session: Session, campaign: Campaign) -> dict:
    b = ledger.books(session, campaign.id)
    real = (Item.campaign_id == campaign.id) & (Item.gold_check == False)  # noqa: E712 - SQL expression
    n_items = session.exec(select(func.count(Item.id)).where(real)).one()
    n_done = session.exec(select(func.count(Item.id)).where(real, Item.n_labels >= campaign.labels_per_item)).one()
    n_gold = session.exec(
        select(func.count(Item.id)).where(Item.campaign_id == campaign.id, Item.gold_check == True)  # noqa: E712
    ).one()
    accepted = (Label.campaign_id == campaign.id) & (Label.accepted == True)  # noqa: E712
    n_labels = session.exec(select(func.count(Label.id)).where(accepted)).one()
    on_gold = Item.gold_check == True  # noqa: E712 - SQL expression
    n_gold_checks = session.exec(
        select(func.count(Label.id)).join(Item, Item.id == Label.item_id).where(accepted, on_gold)
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
        "gold_items": int(n_gold),
        "gold_checks": int(n_gold_checks),
        "rounds": int(sum(states.values())),
        "rounds_by_state": {str(k): int(v) for k, v in states.items()},
        "cost_per_label_cents": (b.paid_cents / n_labels) if n_labels else None,
        "balanced": b.balanced,
    }

"""The bought dataset: accepted labels as TRL prompt/chosen/rejected rows.

A label of ``a`` makes completion_a the chosen one; ``b`` the reverse. Ties carry no
preference for DPO, so they are left out unless ``include_ties`` (then ``chosen`` is
completion_a and ``choice`` says ``tie``).
"""

from __future__ import annotations

import json

from sqlmodel import Session, select

from market.tables import Campaign, Item, Label


def export_rows(session: Session, campaign: Campaign, *, include_ties: bool = False) -> list[dict]:
    rows = session.exec(
        select(Label, Item)
        .join(Item, Item.id == Label.item_id)
        .where(Label.campaign_id == campaign.id, Label.accepted == True)  # noqa: E712 - SQL expression
        .order_by(Label.id)
    ).all()
    out = []
    for label, item in rows:
        if label.choice == "tie" and not include_ties:
            continue
        chosen, rejected = (
            (item.completion_b, item.completion_a) if label.choice == "b" else (item.completion_a, item.completion_b)
        )
        out.append(
            {
                "prompt": item.prompt,
                "chosen": chosen,
                "rejected": rejected,
                "item_id": item.id,
                "label_id": label.id,
                "confidence": label.confidence,
                "annotator_id": label.annotator_id,
                "choice": label.choice,
            }
        )
    return out


def to_jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)

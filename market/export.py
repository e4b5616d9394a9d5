"""The bought dataset: accepted labels as TRL prompt/chosen/rejected rows.

A label of ``a`` makes completion_a the chosen one; ``b`` the reverse. Ties carry no
preference for DPO, so they are left out unless ``include_ties`` (then ``chosen`` is
completion_a and ``choice`` says ``tie``). Labels on gold items are left out: they are the
campaign's own control questions, whose answers the requester already has. (The logged
auctions are exported by ``market.bidlog``.)

Each exported label also carries what quality control knows about it (``market.quality``):

====================== ======================================================================
``soft_label``         posterior probability that ``chosen`` beats ``rejected``, from the
                       aggregation of every accepted label of the item (``aggregation``: the
                       method); below 0.5 when the consensus contradicts this row's label
``weight``             the QA-DPO weight ``0.5 + soft_label``, in (0.5, 1.5)
                       (``market.quality.aggregate.qa_weight``); ready to multiply the loss
``annotator_accuracy`` the annotator's posterior mean accuracy on the campaign's gold items
                       (the prior's mean, 2/3, before any gold answer)
``votes``              how many a/b labels of the item the soft label rests on
====================== ======================================================================
"""

from __future__ import annotations

import json

from sqlmodel import Session, select

from market.errors import Invalid
from market.quality import aggregate, report, skill
from market.tables import Campaign, Item, Label


def export_rows(session: Session, campaign: Campaign, *, include_ties: bool = False,
                aggregation: str = "skill") -> list[dict]:
    if aggregation not in aggregate.METHODS:
        raise Invalid(f"aggregation: must be one of {', '.join(aggregate.METHODS)} (got {aggregation!r})")
    rows = session.exec(
        select(Label, Item)
        .join(Item, Item.id == Label.item_id)
        .where(Label.campaign_id == campaign.id, Label.accepted == True, Item.gold_check == False)  # noqa: E712
        .order_by(Label.id)
    ).all()
    try:
        p_a, n_votes = report.soft_labels(session, campaign, aggregation)
    except ImportError:
        raise Invalid(f"aggregation: {aggregation!r} needs crowd-kit (install prefmarket[quality]); "
                      "'skill' needs nothing extra") from None
    accuracy = report.accuracies(session, campaign)
    prior = skill.PRIOR_ALPHA / (skill.PRIOR_ALPHA + skill.PRIOR_BETA)
    out = []
    for label, item in rows:
        if label.choice == "tie" and not include_ties:
            continue
        chosen, rejected = (
            (item.completion_b, item.completion_a) if label.choice == "b" else (item.completion_a, item.completion_b)
        )
        pa = float(p_a.get(item.id, 0.5))
        soft = 1.0 - pa if label.choice == "b" else pa
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
                "soft_label": soft,
                "weight": float(aggregate.qa_weight(soft)),
                "aggregation": aggregation,
                "annotator_accuracy": float(accuracy.get(label.annotator_id, prior)),
                "votes": int(n_votes.get(item.id, 0)),
            }
        )
    return out


def to_jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


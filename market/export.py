"""What a campaign's owner can take away: the bought dataset and the logged auctions.

- :func:`export_rows`: accepted labels as TRL prompt/chosen/rejected rows. A label of
  ``a`` makes completion_a the chosen one; ``b`` the reverse. Ties carry no preference
  for DPO, so they are left out unless ``include_ties`` (then ``chosen`` is completion_a
  and ``choice`` says ``tie``).
- :func:`bid_rows`: every bid of the campaign's closed rounds with the terms its round
  was cleared on, in the row format of ``bidders.replay`` (counterfactual replay).
"""

from __future__ import annotations

import json

from sqlmodel import Session, select

from market import bid as bids
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


def bid_rows(session: Session, campaign: Campaign) -> list[dict]:
    """One row per bid of the campaign's closed rounds, by round then bid id (the order
    the market expanded bids into units, which is also the mechanism's tie-break order).

    Each row repeats its round's clearing terms: ``rule``, ``values_cents`` (one value
    per unit demanded), ``budget_cents`` (the budget the clearing used, which may be less
    than the round's if the campaign had less left) and ``price_cents`` (posted price);
    and carries the bid's ``units`` (what it entered the clearing with) and
    ``paid_cents`` (the clearing's payment per winning unit)."""
    out = []
    for b, r in bids.closed_bids(session, campaign):
        out.append({
            "round_id": r.id,
            "annotator_id": b.annotator_id,
            "ask_cents": b.ask_cents,
            "capacity": b.capacity,
            "units": b.units,
            "quality": b.quality,
            "won_units": b.won_units,
            "paid_cents": list(b.paid_cents or []),
            "rule": r.rule,
            "values_cents": list(r.values_cents or []),
            "budget_cents": r.clearing_budget_cents if r.clearing_budget_cents is not None else r.budget_cents,
            "price_cents": campaign.posted_price_cents if r.rule == "posted_price" else None,
        })
    return out

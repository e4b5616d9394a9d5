"""The logged auctions of a campaign, for counterfactual replay (``GET /v1/campaigns/{id}/bids``).

One row per bid of the campaign's closed rounds, in the row format of ``bidders.replay``:
by round, then bid id (the order the market expanded bids into units, which is also the
mechanism's tie-break order). Each row repeats its round's clearing terms, recorded by
``market.round`` when it cleared:

================  ===========================================================================
``rule``          the rule the round cleared with
``values_cents``  one value per unit demanded, as the clearing saw them
``budget_cents``  the budget the clearing used: the round's, or what the campaign had left if less
``price_cents``   the posted price (``posted_price`` rounds), else null
================  ===========================================================================

and the bid's own ``units`` (what it entered the clearing with: ``min(capacity, items it
may take)``) and ``paid_cents`` (the clearing's payment to each of its winning units).
"""

from __future__ import annotations

from market import bid as bids
from market.tables import Campaign
from sqlmodel import Session


def bid_rows(session: Session, campaign: Campaign) -> list[dict]:
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

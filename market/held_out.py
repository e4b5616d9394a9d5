"""A campaign's held-out labelled set: pairs with a logged preference, kept apart.

They are never offered in a round, never assigned, never exported as training data: the
policy worker reads them (``GET /v1/campaigns/{id}/held-out``) only to measure held-out
preference accuracy, the share of pairs whose implicit reward margin agrees with the
logged preference. That is a metric a requester whose truth is human labels (e.g. HH)
can price without a judge.

A pair that is also in the campaign's pool would be bought, trained on, and then scored
as "held out"; both uploads therefore refuse a pair already on the other side (the same
prompt and the same two replies, in either order).
"""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import Session, select

from market.tables import Campaign, HeldOutPair, Item
from market.upload import Parsed, exclude, pair_key, parse_held_out

IN_POOL = "the same pair is in the campaign's pool, where it would be trained on; hold out other pairs"
HELD_OUT = "the same pair is in the campaign's held-out set; a held-out pair must never be trained on"


def held_out_keys(session: Session, campaign: Campaign) -> set:
    rows = session.exec(
        select(HeldOutPair.prompt, HeldOutPair.chosen, HeldOutPair.rejected).where(
            HeldOutPair.campaign_id == campaign.id)
    ).all()
    return {pair_key(p, c, r) for p, c, r in rows}


def _pool_keys(session: Session, campaign: Campaign) -> set:
    rows = session.exec(
        select(Item.prompt, Item.completion_a, Item.completion_b).where(
            Item.campaign_id == campaign.id, Item.completion_a.is_not(None))
    ).all()
    return {pair_key(p, a, b or "") for p, a, b in rows}


def import_held_out(session: Session, campaign: Campaign, text: str, *, skip_invalid: bool = False) -> Parsed:
    """Parse ``text`` and append its pairs to ``campaign``'s held-out set; returns the parse
    (its ``refused`` lines for the caller to report). Caller commits."""
    parsed = exclude(parse_held_out(text, skip_invalid=skip_invalid), _pool_keys(session, campaign), IN_POOL,
                     skip_invalid=skip_invalid)
    start = session.exec(
        select(func.coalesce(func.max(HeldOutPair.position), -1)).where(HeldOutPair.campaign_id == campaign.id)
    ).one()
    rows = []
    for i, p in enumerate(parsed.pairs):
        chosen, rejected = (p.completion_a, p.completion_b) if p.gold == "a" else (p.completion_b, p.completion_a)
        rows.append(HeldOutPair(campaign_id=campaign.id, position=int(start) + 1 + i, prompt=p.prompt,
                                chosen=chosen, rejected=rejected, source_format=p.source_format,
                                external_id=p.external_id))
    session.add_all(rows)
    session.flush()
    return parsed


def list_held_out(session: Session, campaign: Campaign, *, offset: int = 0, limit: int | None = None) -> list[HeldOutPair]:
    stmt = (select(HeldOutPair).where(HeldOutPair.campaign_id == campaign.id)
            .order_by(HeldOutPair.position, HeldOutPair.id).offset(offset))
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(session.exec(stmt).all())

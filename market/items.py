"""A campaign's pool of items: import, completions from the policy, acquisition scores.

Rules that keep rounds honest: an item's completions cannot change once it has been
offered in a round or labelled (the label would no longer describe the pair), and scores
and completions are written for the whole request or not at all.
"""

from __future__ import annotations

import math
from bisect import bisect_right

from sqlalchemy import func
from sqlmodel import Session, select

from market import limits
from market.acquisition import Scale
from market.errors import Conflict, Invalid
from market.tables import Assignment, Campaign, Item
from market.held_out import HELD_OUT, held_out_keys
from market.upload import Parsed, exclude, parse_lines


def import_items(session: Session, campaign: Campaign, text: str, *, skip_invalid: bool = False) -> Parsed:
    """Parse ``text`` (JSONL) and add its good items to ``campaign``; returns the parse, whose
    ``refused`` lines (only with ``skip_invalid``) the caller must report. A pair already in
    the campaign's held-out set is refused (``market.held_out``). Caller commits."""
    result = exclude(parse_lines(text, skip_invalid=skip_invalid), held_out_keys(session, campaign), HELD_OUT,
                     skip_invalid=skip_invalid)
    parsed = result.pairs
    start = session.exec(
        select(func.coalesce(func.max(Item.position), -1)).where(Item.campaign_id == campaign.id)
    ).one()
    session.add_all(
        [
            Item(
                campaign_id=campaign.id,
                position=int(start) + 1 + i,
                prompt=p.prompt,
                completion_a=p.completion_a,
                completion_b=p.completion_b,
                gold=p.gold,
                gold_check=p.gold_check,
                score=p.score,
                external_id=p.external_id,
                source_format=p.source_format,
            )
            for i, p in enumerate(parsed)
        ]
    )
    session.flush()
    return result


def list_items(session: Session, campaign: Campaign, *, offset: int = 0, limit: int | None = None) -> list[Item]:
    stmt = select(Item).where(Item.campaign_id == campaign.id).order_by(Item.position, Item.id).offset(offset)
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(session.exec(stmt).all())


def _campaign_items(session: Session, campaign: Campaign, ids: list[int], what: str) -> dict[int, Item]:
    if len(set(ids)) != len(ids):
        raise Invalid(f"{what}: each item_id may appear once per request")
    rows = session.exec(select(Item).where(Item.campaign_id == campaign.id, Item.id.in_(ids))).all() if ids else []
    found = {it.id: it for it in rows}
    missing = [i for i in ids if i not in found]
    if missing:
        raise Invalid(f"{what}: item_id {missing[0]} is not an item of campaign {campaign.id}")
    return found


def set_completions(session: Session, campaign: Campaign, rows: list[tuple[int, str, str]]) -> int:
    """Write ``(item_id, completion_a, completion_b)`` rows; all or nothing. Caller commits."""
    if not rows:
        raise Invalid("completions: send at least one row")
    for item_id, a, b in rows:
        for field, text in (("completion_a", a), ("completion_b", b)):
            if not isinstance(text, str) or not text.strip():
                raise Invalid(f"completions: {field} of item {item_id} must be a non-empty string")
            if len(text) > limits.MAX_TEXT_CHARS:
                raise Invalid(f"completions: {field} of item {item_id} is too long")
    found = _campaign_items(session, campaign, [r[0] for r in rows], "completions")
    busy = set(
        session.exec(select(Assignment.item_id).where(Assignment.item_id.in_(list(found)))).all()
    )
    for item_id, _, _ in rows:
        item = found[item_id]
        if item.round_id is not None or item_id in busy or item.n_labels > 0:
            raise Conflict(f"completions: item {item_id} has been offered or labelled; its pair is frozen")
    for item_id, a, b in rows:
        found[item_id].completion_a = a
        found[item_id].completion_b = b
    session.flush()
    return len(rows)


def set_scores(session: Session, campaign: Campaign, scores: dict[int, float]) -> int:
    """Write acquisition scores (finite numbers); all or nothing. Caller commits."""
    if not scores:
        raise Invalid("scores: send at least one score")
    for item_id, s in scores.items():
        if isinstance(s, bool) or not isinstance(s, (int, float)) or not math.isfinite(s):
            raise Invalid(f"scores: score of item {item_id} must be a finite number (map infinities to a large value)")
        if abs(s) > limits.MAX_SCORE_ABS:
            raise Invalid(f"scores: score of item {item_id} is out of range (|score| <= {limits.MAX_SCORE_ABS:g})")
    found = _campaign_items(session, campaign, list(scores), "scores")
    for item_id, s in scores.items():
        found[item_id].score = float(s)
    session.flush()
    return len(scores)


def item_values(max_price_cents: int, scores: list[float | None], scale: Scale) -> list[float]:
    """Values for the mechanism, in cents, from acquisition scores read on their method's ``scale``.

    ``ordinal`` (every method whose scores only rank, and the safe reading of anything
    else): ``v_j = r · #{k: s_k <= s_j} / n``, the empirical distribution function of the
    scores. Values lie in (0, r], the best item is worth the cap, equal scores are worth
    the same, and any strictly increasing transform of the scores (SHARP's unbounded coth,
    APL's ranks, the worker's rank/n) gives the same values, so one near-tie cannot take
    the whole price.

    ``cardinal`` (scores proportional to what an item is worth, such as ADPO's information
    gain): ``v_j = r · max(s_j, 0) / max s`` (docs/architecture.md, "The loop"); a negative score is worth nothing
    and such an item will not be bought. All-equal scores or a non-positive maximum give
    every item the cap.

    Scores a requester uploads (``PUT /scores`` or an upload's ``score``) are read on the
    scale of the campaign's method like the worker's; under the default method (random,
    ordinal) only their order counts. No scores give every item the cap ``r``; a missing
    score counts as the lowest known one."""
    known = [s for s in scores if s is not None]
    if not known:
        return [float(max_price_cents)] * len(scores)
    lo = min(known)
    filled = [lo if s is None else float(s) for s in scores]
    if scale == "ordinal":
        ordered = sorted(filled)
        return [max_price_cents * bisect_right(ordered, s) / len(filled) for s in filled]
    top = max(filled)
    if top <= 0 or all(s == filled[0] for s in filled):
        return [float(max_price_cents)] * len(scores)
    return [max_price_cents * (max(s, 0.0) / top) for s in filled]  # s/top <= 1 first: never above r

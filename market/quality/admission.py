"""The campaign's quality policy where a round clears (called by ``market.round``).

Quality control is on for a campaign when ``gold_rate > 0``. Clearing then:

1. reads each bidder's gold posterior on the campaign and judges it (``skill.judge``);
2. gives the mechanism ``q = quality_from_accuracy(posterior mean)`` for every bidder:
   newcomers sit at the prior's q (1/3), proven annotators move up, random clickers sink
   to the floor; only the quality-weighted rules read it, as before;
3. caps what each bid may enter the clearing with (``mixing.admission_caps``): nothing
   for annotators below the bar, an exam's worth for newcomers, and a share of the round
   for newcomers together, admitted by a lottery keyed on round and annotator;
4. after the mechanism picked the winning units, turns some of each winner's units into
   gold checks (``mixing.gold_units``), with gold items the annotator has never held,
   least used first (so each gold item is answered by many different annotators, which
   also anchors Dawid–Skene).

Everything here runs inside the clearing's transaction, under the campaign's lock.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import case, func
from sqlmodel import Session, col, select

from market.quality import gold, mixing, skill
from market.tables import Assignment, Bid, Campaign, Item


def enabled(campaign: Campaign) -> bool:
    return (campaign.gold_rate or 0.0) > 0.0


def lottery_key(round_id: int, annotator_id: int) -> int:
    """A priority that depends on nothing a bidder controls (not its ask)."""
    digest = hashlib.sha256(f"gold-lottery:{round_id}:{annotator_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


@dataclass
class Admission:
    """Per-bid quality state for one clearing (arrays aligned with the round's bids)."""

    campaign: Campaign
    bids: list[Bid]
    status: np.ndarray
    quality: np.ndarray
    caps: np.ndarray
    taken: np.ndarray
    gold_taken: np.ndarray
    unseen_gold: list[list[Item]] = field(default_factory=list)

    def note(self) -> str:
        """What the policy did, for the round's reason (never which units are gold)."""
        below = int(np.sum(self.status == skill.BELOW_BAR))
        new = self.status == skill.NEWCOMER
        parts = []
        if below:
            parts.append(f"{below} bids below the quality bar took no part")
        if new.any():
            parts.append(f"newcomers entered with {int(self.caps[new].sum())} units")
        return "; ".join(parts)

    def gold_for(self, won: np.ndarray) -> dict[int, list[Item]]:
        """Gold items for each winning bid (index → items), given its units won."""
        k = mixing.gold_units(won, self.taken, self.gold_taken, rate=self.campaign.gold_rate,
                              exam=self.campaign.min_gold_answers)
        out: dict[int, list[Item]] = {}
        used = {it.id: it.n_labels + it.n_open for items in self.unseen_gold for it in items}
        for i in np.flatnonzero(k):
            chosen = sorted(self.unseen_gold[i], key=lambda it: (used[it.id], it.id))[: int(k[i])]
            for it in chosen:
                used[it.id] += 1  # the next winner of this round prefers other gold items
            if chosen:
                out[int(i)] = chosen
        return out


def admit(session: Session, campaign: Campaign, round_id: int, bids: list[Bid], caps: np.ndarray,
          demand: int) -> Admission:
    """Judge the bidders, give them their quality, and cap what each bid may enter with."""
    ids = [b.annotator_id for b in bids]
    rows = gold.skills(session, campaign.id, ids)
    alpha, beta, answers = (np.array(v, dtype=float) for v in zip(*(gold.posterior_of(rows.get(i)) for i in ids)))
    status = skill.judge(alpha, beta, answers, min_gold=campaign.min_gold_answers,
                         bar=campaign.quality_bar, confidence=campaign.quality_confidence)
    quality = skill.quality_from_accuracy(skill.accuracy(alpha, beta))
    taken, gold_taken = _taken(session, campaign.id, ids)
    unseen = _unseen_gold(session, campaign.id, ids)
    exam_left = np.minimum(campaign.min_gold_answers - gold_taken, [len(u) for u in unseen])
    capped = mixing.admission_caps(caps, status, exam_left, demand=demand, share=campaign.newcomer_share,
                                   lottery=[lottery_key(round_id, i) for i in ids])
    return Admission(campaign, bids, status, quality, capped, taken, gold_taken, unseen)


def _taken(session: Session, campaign_id: int, ids: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Assignments each annotator holds or has labelled on the campaign: all, and gold."""
    rows = session.exec(
        select(Assignment.annotator_id, func.count(Assignment.id),
               func.coalesce(func.sum(case((Item.gold_check == True, 1), else_=0)), 0))  # noqa: E712
        .join(Item, Item.id == Assignment.item_id)
        .where(Assignment.campaign_id == campaign_id, col(Assignment.annotator_id).in_(ids),
               Assignment.state != "released")
        .group_by(Assignment.annotator_id)
    ).all()
    by = {a: (int(n), int(g)) for a, n, g in rows}
    return (np.array([by.get(i, (0, 0))[0] for i in ids], dtype=np.int64),
            np.array([by.get(i, (0, 0))[1] for i in ids], dtype=np.int64))


def _unseen_gold(session: Session, campaign_id: int, ids: list[int]) -> list[list[Item]]:
    """For each annotator, the campaign's gold items it has never held."""
    items = list(session.exec(select(Item).where(Item.campaign_id == campaign_id, Item.gold_check == True)))  # noqa: E712
    if not items:
        return [[] for _ in ids]
    held: dict[int, set[int]] = {}
    for annotator_id, item_id in session.exec(
        select(Assignment.annotator_id, Assignment.item_id).where(
            col(Assignment.item_id).in_([it.id for it in items]), col(Assignment.annotator_id).in_(ids))
    ).all():
        held.setdefault(annotator_id, set()).add(item_id)
    return [[it for it in items if it.id not in held.get(i, set())] for i in ids]

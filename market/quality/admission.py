"""The campaign's quality policy where a round clears (called by ``market.round``).

Quality control is on for a campaign when ``gold_rate > 0``. Clearing then:

1. reads each bidder's gold posterior on the campaign and judges it (``skill.judge``);
2. gives the mechanism ``q = quality_from_accuracy(posterior mean)`` for every bidder:
   newcomers sit at the prior's q (1/3), proven annotators move up, random clickers sink
   to the floor; only the quality-weighted rules read it, as before;
3. caps what each bid may enter the clearing with (``mixing.admission_caps``): nothing
   for an annotator below the bar, for one on probation at most what the gold it can
   still be given allows (``mixing.units_for_gold``; only at an ask within the round's
   budget per unit), and a share of the
   round for probation together, admitted in a queue (``mixing.probation_lottery``):
   promising tests first, then newcomers, then undecided tests, then annotators whose gold
   record has fallen below the prior's, by a lottery keyed on round and annotator within
   each group;
4. after the mechanism picked the winning units, turns some of each winner's units into
   gold checks (``mixing.gold_units``: half while on probation or provisional, a share
   ``gold_rate`` once qualified), with gold items the annotator has never held, dealt
   like real work (``gold.Pool``: each to up to ``labels_per_item`` annotators in one
   round, fresh ones next, pairs with a known answer when the pool runs out).

The lottery, the extra gold unit of the steady share and the order of the gold items
come from HMACs of the round and annotator ids under the server's secret
(``market.secret``): reproducible by the server, nothing an annotator's bid can steer,
and nothing anyone else can compute (plain hashes of the public ids let a script predict
every winner's gold count).

Everything here runs inside the clearing's transaction, under the campaign's lock.

What the caps cost (measured): whenever qualified annotators cannot supply the whole
round, the probation room admits exactly the rest, so the clearing sees exactly as many
units as it demands. Nobody competes for the last unit, and the rule pays its ceiling:
the budget-feasible rule ``budget / units``, second price the unit's value. In CPU demo
runs 5 to 7 the gold campaign cleared at 47–53c a label while qualified supply was short,
and its twin without gold checks, facing all 86 units the same bots offered, at 14c. That
is the price of scarce qualified supply, and the cure is more of it soon: with promising
tests first in the queue (``mixing``), run 7's qualified annotators outnumbered the
round's demand by round 5, which cleared at 31c. Letting probation compete for the
qualified units' places is no cure: an annotator on probation sells a gold check, not a
label, and the cheapest annotators on probation are the spammers (their cost is 40% of a
reader's). Clearing the open market and rationing winners by the room was tried: the
price was then set by spammers on probation that the room would not buy (under second
price they took 71% of the paid labels, gold checks included, after the first quarter of
the simulator's run). Giving probation slack in the room was tried too (tiny-model demo
market): some rounds cleared at 18–31c, but the campaigns bought 2–11 training labels and
on one seed spammers held 43% of them after round 1 (more room, more lucky passes). A
clearing with the room as a constraint (greedy under a partition matroid, a threshold per
group) would make units on probation compete among themselves, but while the room is the
rest of the demand every qualified unit still wins whatever it asks, so it is paid the
same ceiling.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlmodel import Session

from market import secret
from market.quality import gold, mixing, skill
from market.tables import Bid, Campaign, Item, Round


def enabled(campaign: Campaign) -> bool:
    return (campaign.gold_rate or 0.0) > 0.0


@dataclass
class Admission:
    """Per-bid quality state for one clearing (arrays aligned with the round's bids)."""

    campaign: Campaign
    round_id: int
    bids: list[Bid]
    status: np.ndarray
    quality: np.ndarray
    caps: np.ndarray
    key: bytes  # the server's secret (market.secret): every draw below is keyed with it
    pool: gold.Pool  # the campaign's gold items as this clearing deals them

    def note(self) -> str:
        """What the policy did, for the round's reason (never which units are gold)."""
        below = int(np.sum(self.status == skill.BELOW_BAR))
        probation = self.status == skill.PROBATION
        parts = []
        if below:
            parts.append(f"{below} bids below the quality bar took no part")
        if probation.any():
            parts.append(f"annotators on probation entered with {int(self.caps[probation].sum())} units")
        return "; ".join(parts)

    def held(self) -> np.ndarray:
        """Which bids' work is held (``market.quality.acceptance``): those of annotators on
        probation, when the campaign has a bar to judge them by. All of it, gold checks and
        real items alike, so that holding tells nothing about which is which."""
        return (self.status == skill.PROBATION) & (self.campaign.quality_bar is not None)

    def gold_for(self, session: Session, won: np.ndarray) -> dict[int, list[Item]]:
        """Gold items for each winning bid (index → items), given its units won: how many
        by ``mixing.gold_units`` on a keyed draw, which by ``gold.Pool.take``, winners
        served in a keyed order (so no id tells who gets the fresher items)."""
        draw = [secret.uniform(self.key, "gold-share", self.round_id, b.annotator_id) for b in self.bids]
        k = mixing.gold_units(won, self.status, rate=self.campaign.gold_rate, draw=draw)
        winners = sorted(np.flatnonzero(k).tolist(),
                         key=lambda i: secret.digest(self.key, "gold-order", self.round_id, self.bids[i].annotator_id))
        out: dict[int, list[Item]] = {}
        for i in winners:
            chosen = self.pool.take(session, self.bids[i].annotator_id, int(k[i]))
            if chosen:
                out[int(i)] = chosen
        return out


def admit(session: Session, campaign: Campaign, round_id: int, bids: list[Bid], caps: np.ndarray,
          demand: int, budget: int) -> Admission:
    """Judge the bidders, give them their quality, and cap what each bid may enter with
    (``budget``: the round's clearing budget in cents, for the probation reserve)."""
    ids = [b.annotator_id for b in bids]
    key = secret.key(session)
    rec = gold.records(session, campaign, ids)
    alpha, beta, answers = rec.alpha, rec.beta, rec.answers
    status = skill.judge(alpha, beta, answers, min_gold=campaign.min_gold_answers,
                         bar=campaign.quality_bar, confidence=campaign.quality_confidence)
    quality = skill.quality_from_accuracy(skill.accuracy(alpha, beta))
    rnd = session.get(Round, round_id)
    pool = gold.Pool.load(session, campaign, round_id, ids, key, offered=rnd.item_ids if rnd else [])
    gold_left = mixing.units_for_gold([pool.left(i) for i in ids], rate=campaign.gold_rate)
    capped = mixing.admission_caps(caps, status, gold_left, demand=demand,
                                   share=campaign.probation_share,
                                   lottery=mixing.probation_lottery(
                                       alpha, beta, answers,
                                       [secret.uniform(key, "probation-lottery", round_id, i) for i in ids]),
                                   asks=[b.ask_cents for b in bids], reserve=budget / demand)
    return Admission(campaign, round_id, bids, status, quality, capped, key, pool)

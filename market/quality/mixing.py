"""How gold checks are mixed into a round's work, and how much of it probation may take.

The rules are pure array functions, so that the live market (``market.quality.admission``)
and the offline simulator apply the very same policy:

**Gold units per winner** (:func:`gold_units`). Every unit of an annotator on probation
(``skill.judge``: new, or not yet decisively above or below the bar) is a gold check, so
the campaign judges it before any of its labels reach the dataset, and keeps checking
whenever the evidence turns indecisive. A qualified annotator's units are gold at the
campaign's ``rate``, a provisional one's at ``PROVISIONAL_RATE`` (at least): ``floor(rate
× units)`` of them, plus one more with probability equal to the remainder, so the share
is exact on average with no counters to keep and no pattern to learn (a one-unit winner
at rate 0.1 gets a check in one round in ten, unpredictably).

**Admission to the clearing** (:func:`admission_caps`). Before the mechanism runs, each
bid's units are capped: annotators judged below the bar enter with none (their labels
would be rejected, so their work is worth nothing to the requester and nothing to them);
an annotator on probation enters with at most the gold checks it can still be given;
and probation together takes at most ``max(ceil(share × demand), demand − units of
qualified annotators)`` units: always a share, so new annotators can enter, and whatever
qualified annotators cannot supply, so a new campaign (where everyone is new) is not
starved. Annotators on probation are admitted in queue order, each with all it may take,
until the room is used: a newcomer starts from the prior (q = 1/3 for the quality-weighted
rules) with a capped share of the work, and an annotator admitted gets several checks at
once, so a test ends within a round or two. (Dealing the room a unit at a time instead
would examine more annotators side by side but finish none: in a short campaign where
everyone starts together, the first annotators would qualify rounds later.)

**The probation queue** (:func:`probation_lottery`). Annotators whose gold record has made
them suspects (a posterior mean below the prior's: right on fewer than two checks in
three so far) queue behind everyone else; within each group the order is a lottery (a
hash of round and annotator in the market, the run's generator in the simulator). So
probation's room goes to newcomers and to annotators answering well, and a random clicker
that has started badly waits until nobody else wants the room, paid for few gold checks,
instead of taking its turn every few rounds until its test ends. A careful reader who
slipped early is a suspect only until its next right answers lift it back (1 right of 2
is suspect, 2 of 3 is not), and still gets the room whenever the others leave some. The
queue reads only gold records and chance, never the asks, so the cap does not reward
asking low and the truthful rules stay truthful. (Ordering by a draw from each posterior
instead, Thompson sampling, starves the suspects too but also fast-tracks a random
clicker on a lucky run to a lucky qualification: in the simulator it left more spammers
qualified.)

Where it counts (``bench/bench_quality.py``, live market, 40 bots, 20% spammers): under a
plain lottery, spammers on probation, cheap and so always winning what they were admitted
with, took a few gold checks every round until their tests ended: 4% of the paid labels
after the first quarter of the run on average over seeds, 5% at worst. Behind the queue
they took 1.6% on average and 3.2% at worst (six seeds); much of that came from random
clickers that passed on a lucky run (4 right of 4, one time in 16) and were then checked
only at the campaign's rate. With the leash after passing (``skill``: provisional, half
gold, until ``LEASH × min_gold`` answers) it is 1.2% on average and 1.7% at
worst (three seeds), for about 6 more gold checks per careful reader: net correct labels
per dollar over the whole run fell from 2.61 to 2.18 (``bench/results.md``).
"""

from __future__ import annotations

import math

import numpy as np

from market.quality import skill
from market.quality.skill import BELOW_BAR, PROBATION, PROVISIONAL

PROVISIONAL_RATE = 0.5  # gold share of a provisional annotator's work
PRIOR_MEAN = skill.PRIOR_ALPHA / (skill.PRIOR_ALPHA + skill.PRIOR_BETA)  # a newcomer's presumed accuracy
_EPS = 1e-9  # float slack (in ceil(share × demand), and comparing means)


def gold_units(won, status, *, rate: float, draw) -> np.ndarray:
    """Gold checks among each winner's ``won`` units this round, given its ``status``
    (``skill.judge``). ``draw``: one uniform number in [0, 1) per winner, independent of
    everything the winner controls."""
    won = np.asarray(won, dtype=np.int64)
    status = np.asarray(status)
    share = np.where(status == PROVISIONAL, max(rate, PROVISIONAL_RATE), rate)
    expected = share * won
    steady = np.floor(expected).astype(np.int64) + (np.asarray(draw) < expected - np.floor(expected))
    return np.where(status == PROBATION, won, np.minimum(steady, won))


def probation_room(demand: int, qualified_units: int, share: float) -> int:
    """Most units annotators on probation may take in a round (see the module doc)."""
    return max(math.ceil(share * demand - _EPS), demand - qualified_units, 0)


def probation_lottery(alpha, beta, uniform) -> np.ndarray:
    """Each bidder's place in the probation queue, lower first: its ``uniform`` draw (a
    number in [0, 1) independent of everything the bidder controls), plus one if its gold
    record has made it a suspect, i.e. its posterior mean accuracy ``alpha / (alpha +
    beta)`` has fallen below the prior's (right on fewer than two gold checks in three so
    far, with the default prior)."""
    uniform = np.asarray(uniform, dtype=float)
    return uniform + (skill.accuracy(alpha, beta) < PRIOR_MEAN - _EPS)


def admission_caps(capacity, status, gold_left, *, demand: int, share: float, lottery) -> np.ndarray:
    """Units each bid may enter the clearing with.

    ``capacity`` is each bid's capacity already capped by the items it may take;
    ``status`` each annotator's judgement (``skill.judge``); ``gold_left`` the gold
    checks each can still be given (gold items it has not held); ``lottery`` a priority
    per bid, lower first, drawn independently of the asks (:func:`probation_lottery`)."""
    caps = np.array(capacity, dtype=np.int64)
    status = np.asarray(status)
    caps[status == BELOW_BAR] = 0
    probation = status == PROBATION
    caps[probation] = np.minimum(caps[probation], np.maximum(np.asarray(gold_left, dtype=np.int64)[probation], 0))
    room = probation_room(demand, int(caps[~probation].sum()), share)
    order = np.flatnonzero(probation)[np.argsort(np.asarray(lottery)[probation], kind="stable")]
    before = np.cumsum(caps[order]) - caps[order]
    caps[order] = np.clip(room - before, 0, caps[order])
    return caps

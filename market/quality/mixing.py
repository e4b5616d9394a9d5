"""How gold checks are mixed into a round's work, and how much of it probation may take.

The rules are pure array functions, so that the live market (``market.quality.admission``)
and the offline simulator apply the very same policy:

**Gold units per winner** (:func:`gold_units`). An unproven annotator's units (on
probation, ``skill.judge``: new, or not yet decisively above or below the bar; or
provisional) are gold at ``UNPROVEN_RATE`` (or the campaign's rate if higher), a
qualified one's at the campaign's ``rate``: ``floor(rate × units)`` of them, plus one
more with probability equal to the remainder, so the share is exact on average with no
counters to keep and no pattern to learn (a one-unit winner at rate 0.1 gets a check in
one round in ten, unpredictably; the draw is keyed with the server's secret).

Why probation is not all gold checks any more: a new account knew that everything it was
given was gold, so one throwaway account learned the gold prompts (and, from when its
labels began to be rejected, their answers) for the accounts that do the real work. Mixed
half and half, an account on probation cannot tell its checks from its work either. What
that costs: the real half of the work on probation is bought before the annotator is
judged, so all work won on probation, checks and real items alike, is held, unpaid and
not exported, until the test ends, then paid or rejected (``acceptance``: paid at once,
it let spammers keep a third of the paid labels in the simulator's 60-round market); and
vetting takes about twice as many units. The test needs the same number of gold answers, so an
annotator on probation enters a clearing with at most twice the gold checks it can still
be given (:func:`units_for_gold`).

**Admission to the clearing** (:func:`admission_caps`). Before the mechanism runs, each
bid's units are capped: annotators judged below the bar enter with none (their labels
would be rejected, so their work is worth nothing to the requester and nothing to them);
an annotator on probation enters with at most the gold checks it can still be given,
and only at an ask within the probation reserve (below); and probation together takes at
most ``max(ceil(share × demand), demand − units of qualified annotators)`` units: always
a share, so new annotators can enter, and whatever qualified annotators cannot supply, so
a new campaign (where everyone is new) is not starved. Annotators on probation are admitted in queue order, each with all it may take,
until the room is used: a newcomer starts from the prior (q = 1/3 for the quality-weighted
rules) with a capped share of the work, and an annotator admitted gets several checks at
once, so a test ends within a round or two. (Dealing the room a unit at a time instead
would examine more annotators side by side but finish none: in a short campaign where
everyone starts together, the first annotators would qualify rounds later.)

**The probation queue** (:func:`probation_lottery`). Four groups, in this order:

1. *promising* tests under way: a young record (fewer than ``PROMISING_ANSWERS`` answers)
   at least as good as one right answer of one (posterior mean at or above
   ``PROMISING_MEAN``, 3/4 with the default prior: 2 of 2, 4 of 5, 5 of 6 ...);
2. newcomers;
3. tests under way that are undecided: a mean at or above the prior's 2/3 but below 3/4
   (2 of 3, 3 of 4, 14 of 20 ...), or any mean at or above the prior's once the record is
   no longer young (7 of 9, 8 of 10 ...);
4. suspects: a mean below the prior's (right on fewer than two gold checks in three).

Within each group the order is a lottery (a hash of round and annotator in the market,
the run's generator in the simulator). A promising test goes first because finishing it
is the cheapest way to a qualified annotator: a record of 3 right of 3 needs one more
right answer to pass, where a newcomer needs four. Under a plain lottery, tests were left
half done: in a ten-round tiny-model demo market (seed 1), readers at 3 of 3, 5 of 6 and
6 of 7 were never admitted again while newcomers took the room, and the round stayed
short of qualified supply to the end. But a test under way is not always worth finishing:
a reader right about 70% of the time against a bar of 0.65 stays undecided for up to
``skill.PROBATION_LIMIT × min_gold`` answers, and when such tests went first too (same
market, seed 1) two of them took 60 gold checks while six careful readers were never
vetted; so undecided tests wait behind the newcomers. A test still open after
``PROMISING_ANSWERS`` answers waits there too, however good its mean: at bar 0.65 and
confidence 0.8 a careful reader passes within 8 answers most of the time (7 times in 10 at
θ = 0.85, 85% at 0.9, 95% at 0.95), so a record still undecided after 8 is mostly a
reader right 70–80% of the time, whose record hovers around 3/4 (8 of 10, 11 of 14).
In a CPU demo run (seed 1) three such readers stayed promising round after round and
took 48 of the campaign's 74 gold checks, one of them 20, while seven careful readers
were never admitted. Suspects queue behind everyone, so
a random clicker that has started badly waits until nobody else wants the room, paid for
few gold checks, instead of taking its turn every few rounds until its test ends. A
careful reader who slipped early is a suspect only until its next right answers lift it
back (1 right of 2 is suspect, 2 of 3 is not), and a random clicker on a lucky run goes
first only until its next wrong answer. The queue reads only gold records and chance,
never the asks, so the cap does not reward asking low and the truthful rules stay
truthful. (Ordering by a draw from each posterior instead, Thompson sampling, starves the
suspects too but also fast-tracks a random clicker on a lucky run to a lucky
qualification: in the simulator it left more spammers qualified.)

**The probation reserve.** An annotator on probation enters only with an ask at or below
the round's budget per unit demanded (``reserve``). Its gold checks buy no training data,
so vetting someone the campaign could not afford at full demand is money spent for
nothing, and with promising tests going first such a bid would hold the head of the
queue round after round while losing every clearing. The reserve is posted before the
bids (budget and demand are known when the round opens), so it is a price, not a
judgement of the ask: bidding under one's cost to pass it wins only payments under cost.

Where it counts (``bench/bench_quality.py``, live market, 40 bots, 20% spammers): under a
plain lottery, spammers on probation, cheap and so always winning what they were admitted
with, took a few gold checks every round until their tests ended: 4% of the paid labels
after the first quarter of the run on average over seeds, 5% at worst. Behind the queue
they took 1.6% on average and 3.2% at worst (six seeds); much of that came from random
clickers that passed on a lucky run (4 right of 4, one time in 16) and were then checked
only at the campaign's rate. With the leash after passing (``skill``: provisional, half
gold, until ``LEASH × min_gold`` answers) it is 1.2% on average and 1.7% at
worst (three seeds), for about 6 more gold checks per careful reader: net correct labels
per dollar over the whole run fell from 2.61 to 2.18 (``bench/results.md``). With
promising tests first and the reserve: 0.8% on average and 1.0% at worst, net correct
labels per dollar 2.25 over the whole run (3.19 after round 12, from 3.33). In the offline
simulator's 50-round runs under second price, spammers' share after round 50 rose from
0.1% to 2.7% (five seeds): a random clicker on a lucky run is promising, so its test is
finished rather than abandoned, and one time in sixteen that ends in a pass. Sending old
undecided tests behind the newcomers (``PROMISING_ANSWERS``) changed little there: spammers'
share after round 12 of the live market 0.9% → 0.8% on average and 2.1% → 1.7% at worst,
net correct labels per dollar after round 12 3.32 → 3.21, the simulator the same within
0.2 points, and the five 5-round tiny-model demo markets not at all (their tests end or
stall within 8 answers). It is there for the market where it mattered: the CPU run above.
"""

from __future__ import annotations

import math

import numpy as np

from market.quality import skill
from market.quality.skill import BELOW_BAR, PROBATION, PROVISIONAL

UNPROVEN_RATE = 0.5  # gold share of the work of an annotator on probation or provisional
PRIOR_MEAN = skill.PRIOR_ALPHA / (skill.PRIOR_ALPHA + skill.PRIOR_BETA)  # a newcomer's presumed accuracy
PROMISING_MEAN = (skill.PRIOR_ALPHA + 1) / (skill.PRIOR_ALPHA + skill.PRIOR_BETA + 1)  # one right answer of one
PROMISING_ANSWERS = 8  # a test is promising only while it has fewer answers than this
_EPS = 1e-9  # float slack (in ceil(share × demand), and comparing means)


def gold_units(won, status, *, rate: float, draw) -> np.ndarray:
    """Gold checks among each winner's ``won`` units this round, given its ``status``
    (``skill.judge``). ``draw``: one uniform number in [0, 1) per winner, independent of
    everything the winner controls."""
    won = np.asarray(won, dtype=np.int64)
    status = np.asarray(status)
    share = np.where((status == PROVISIONAL) | (status == PROBATION), max(rate, UNPROVEN_RATE), rate)
    expected = share * won
    steady = np.floor(expected).astype(np.int64) + (np.asarray(draw) < expected - np.floor(expected))
    return np.minimum(steady, won)


def units_for_gold(gold_left, *, rate: float) -> np.ndarray:
    """Most units an unproven annotator can win while its gold checks (at most
    ``ceil(share × units)``) fit in the ``gold_left`` gold items it can still be given."""
    return np.floor(np.asarray(gold_left, dtype=float) / max(rate, UNPROVEN_RATE) + _EPS).astype(np.int64)


def probation_room(demand: int, qualified_units: int, share: float) -> int:
    """Most units annotators on probation may take in a round (see the module doc)."""
    return max(math.ceil(share * demand - _EPS), demand - qualified_units, 0)


def probation_lottery(alpha, beta, answers, uniform) -> np.ndarray:
    """Each bidder's place in the probation queue, lower first: its ``uniform`` draw (a
    number in [0, 1) independent of everything the bidder controls) plus its group (see
    the module doc), read from its gold record: 0 promising (fewer than
    ``PROMISING_ANSWERS`` gold ``answers`` and a posterior mean ``alpha / (alpha + beta)``
    at or above ``PROMISING_MEAN``), 1 newcomer (no answers), 2 undecided (a mean at or
    above the prior's, and below promising or on an older record), 3 suspect (a mean
    below the prior's)."""
    uniform = np.asarray(uniform, dtype=float)
    answers = np.asarray(answers)
    mean = skill.accuracy(alpha, beta)
    young = answers < PROMISING_ANSWERS
    group = np.select([answers <= 0, young & (mean >= PROMISING_MEAN - _EPS), mean >= PRIOR_MEAN - _EPS],
                      [1.0, 0.0, 2.0], default=3.0)
    return uniform + group


def admission_caps(capacity, status, gold_left, *, demand: int, share: float, lottery, asks, reserve: float
                   ) -> np.ndarray:
    """Units each bid may enter the clearing with.

    ``capacity`` is each bid's capacity already capped by the items it may take;
    ``status`` each annotator's judgement (``skill.judge``); ``gold_left`` the most units
    each may take on probation, given the gold checks it can still be given
    (:func:`units_for_gold`); ``lottery`` a priority
    per bid, lower first, drawn independently of the asks (:func:`probation_lottery`);
    ``asks`` each bid's ask, which for a bid on probation must be at most ``reserve``
    (the round's budget per unit demanded)."""
    caps = np.array(capacity, dtype=np.int64)
    status = np.asarray(status)
    caps[status == BELOW_BAR] = 0
    probation = status == PROBATION
    caps[probation & (np.asarray(asks, dtype=float) > reserve + _EPS)] = 0
    caps[probation] = np.minimum(caps[probation], np.maximum(np.asarray(gold_left, dtype=np.int64)[probation], 0))
    room = probation_room(demand, int(caps[~probation].sum()), share)
    order = np.flatnonzero(probation)[np.argsort(np.asarray(lottery)[probation], kind="stable")]
    before = np.cumsum(caps[order]) - caps[order]
    caps[order] = np.clip(room - before, 0, caps[order])
    return caps

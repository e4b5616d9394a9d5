"""How gold checks are mixed into a round's work, and how much of it probation may take.

Two rules, both pure array functions so that the live market (``market.quality.admission``)
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
starved. When the cap binds, annotators on probation are admitted in a lottery order
that does not depend on the asks, so the cap does not reward asking low and the truthful
rules stay truthful.
"""

from __future__ import annotations

import math

import numpy as np

from market.quality.skill import BELOW_BAR, PROBATION, PROVISIONAL

PROVISIONAL_RATE = 0.5  # gold share of a provisional annotator's work
_EPS = 1e-9  # float slack in ceil(share × demand)


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


def admission_caps(capacity, status, gold_left, *, demand: int, share: float, lottery) -> np.ndarray:
    """Units each bid may enter the clearing with.

    ``capacity`` is each bid's capacity already capped by the items it may take;
    ``status`` each annotator's judgement (``skill.judge``); ``gold_left`` the gold
    checks each can still be given (gold items it has not held); ``lottery`` a priority
    per bid, lower first, drawn independently of the asks."""
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

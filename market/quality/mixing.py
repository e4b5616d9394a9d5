"""How gold checks are mixed into a round's work, and how much of it newcomers may take.

Two rules, both pure array functions so that the live market (``market.quality.admission``)
and the offline simulator apply the very same policy:

**Gold units per winner** (:func:`gold_units`). A newcomer's units are all gold until it
has taken ``exam`` gold checks: its exam, so the campaign judges it before any of its
labels enter the dataset. After the exam a share ``rate`` of its units are gold, kept
exact over time by deficit rounding: after this round, ``ceil(rate × units since the
exam)`` of them are gold. The first unit after the exam is therefore gold too, so an
account that passed the exam by luck is checked again at once.

**Admission to the clearing** (:func:`admission_caps`). Before the mechanism runs, each
bid's units are capped: annotators judged below the bar enter with none (their labels
would be rejected, so their work is worth nothing to the requester and nothing to them);
a newcomer enters with at most the gold checks it can still be given; and newcomers
together take at most ``max(ceil(share × demand), demand − units of judged annotators)``
units: always a share, so new annotators can enter, and whatever judged annotators
cannot supply, so a new campaign (where everyone is new) is not starved. When the cap
binds, newcomers are admitted in a lottery order that does not depend on the asks, so
the cap does not reward asking low and the truthful rules stay truthful.
"""

from __future__ import annotations

import math

import numpy as np

from market.quality.skill import BELOW_BAR, NEWCOMER

_EPS = 1e-9  # float slack in ceil(rate × units)


def gold_units(won, taken, gold_taken, *, rate: float, exam: int) -> np.ndarray:
    """Gold checks among each winner's ``won`` units this round.

    ``taken`` and ``gold_taken`` count the winner's earlier assignments in the campaign
    (labelled or still open; released ones do not count), all and gold only."""
    won = np.asarray(won, dtype=np.int64)
    taken = np.asarray(taken, dtype=np.int64)
    gold = np.asarray(gold_taken, dtype=np.int64)
    exam_done = np.minimum(gold, exam)
    k_exam = np.minimum(won, exam - exam_done)
    rest = won - k_exam
    since_exam = np.maximum(taken - exam_done, 0)
    gold_since_exam = gold - exam_done
    target = np.ceil(rate * (since_exam + rest) - _EPS).astype(np.int64) - gold_since_exam
    return k_exam + np.clip(target, 0, rest)


def newcomer_room(demand: int, judged_units: int, share: float) -> int:
    """Most units newcomers may take in a round (see the module doc)."""
    return max(math.ceil(share * demand - _EPS), demand - judged_units, 0)


def admission_caps(capacity, status, exam_left, *, demand: int, share: float, lottery) -> np.ndarray:
    """Units each bid may enter the clearing with.

    ``capacity`` is each bid's capacity already capped by the items it may take;
    ``status`` each annotator's judgement (``skill.judge``); ``exam_left`` the gold
    checks a newcomer can still be given; ``lottery`` a priority per bid, lower first,
    drawn independently of the asks."""
    caps = np.array(capacity, dtype=np.int64)
    status = np.asarray(status)
    caps[status == BELOW_BAR] = 0
    new = status == NEWCOMER
    caps[new] = np.minimum(caps[new], np.maximum(np.asarray(exam_left, dtype=np.int64)[new], 0))
    room = newcomer_room(demand, int(caps[~new].sum()), share)
    order = np.flatnonzero(new)[np.argsort(np.asarray(lottery)[new], kind="stable")]
    before = np.cumsum(caps[order]) - caps[order]
    caps[order] = np.clip(room - before, 0, caps[order])
    return caps

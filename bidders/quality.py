"""How the simulated market knows annotator quality: the ``quality`` section of a config.

Three modes:

* ``oracle`` (the default): the mechanisms see each annotator's true quality
  ``1 − 2·error`` and every label is paid. What an economist compares rules with: a
  perfect screen, at no cost.
* ``none``: the live market without quality control: everyone's quality is 1, every
  label is paid, spammers included.
* ``gold``: the live market's quality control, played offline with the market's own
  functions (``market.quality.skill`` and ``market.quality.mixing``): gold checks mixed
  into each winner's units (all of them on probation, a steady share once qualified), a
  Beta posterior per annotator, the posterior's quality for the quality-weighted rules,
  probation capped by lottery, annotators below the bar kept out of the clearing,
  labels judged below the bar at submission rejected and not paid (their price stays
  with the requester), and the labels of work won on probation held until the
  annotator's test ends (``skill.held_outcome``: paid once it passes, rejected once it
  fails; ``market.quality.acceptance``). Gold items are unlimited here, so every check
  can be given.

A gold answer is right with the annotator's probability ``1 − error`` (spammers 1/2,
adversaries below it). Labels are given in a random order within a round, and each is
judged with the posterior as it stands after the gold answers given before it (and its
own), as ``market.quality.acceptance`` does at submission.
"""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from market.quality import mixing, skill


class QualityConfig(BaseModel):
    """Quality-control settings; the gold-mode defaults are the market's suggested policy."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["oracle", "none", "gold"] = "oracle"
    gold_rate: Annotated[float, Field(gt=0, lt=1)] = 0.1
    min_gold_answers: Annotated[int, Field(ge=1)] = 4
    quality_bar: Annotated[float, Field(gt=0.5, lt=1)] | None = 0.65
    quality_confidence: Annotated[float, Field(gt=0.5, lt=1)] = 0.8
    probation_share: Annotated[float, Field(gt=0, le=1)] = 0.2


class GoldScreen:
    """Per-annotator gold records of one run (aligned arrays, index = annotator)."""

    def __init__(self, cfg: QualityConfig, n: int):
        self.cfg = cfg
        self.alpha = np.full(n, skill.PRIOR_ALPHA)
        self.beta = np.full(n, skill.PRIOR_BETA)
        self.answers = np.zeros(n, dtype=np.int64)

    def quality(self, who: np.ndarray) -> np.ndarray:
        """The mechanisms' q: the posterior mean accuracy mapped by ``skill``."""
        return skill.quality_from_accuracy(skill.accuracy(self.alpha[who], self.beta[who]))

    def status(self, who: np.ndarray) -> np.ndarray:
        c = self.cfg
        return skill.judge(self.alpha[who], self.beta[who], self.answers[who], min_gold=c.min_gold_answers,
                           bar=c.quality_bar, confidence=c.quality_confidence)

    def admit(self, who: np.ndarray, capacity: np.ndarray, demand: int, uniform: np.ndarray, asks: np.ndarray,
              budget: float) -> np.ndarray:
        """Units each bidder may enter the clearing with (``mixing.admission_caps``), queued
        by ``mixing.probation_lottery`` on the ``uniform`` draws, with the market's reserve
        for probation (``budget`` per unit demanded)."""
        lottery = mixing.probation_lottery(self.alpha[who], self.beta[who], self.answers[who], uniform)
        return mixing.admission_caps(capacity, self.status(who), capacity, demand=demand,
                                     share=self.cfg.probation_share, lottery=lottery, asks=asks,
                                     reserve=budget / demand)

    def held_outcome(self, who: np.ndarray) -> np.ndarray:
        """For held labels of annotators ``who``: paid (True), rejected (False) or still
        held (None), as the market decides at a settlement (``skill.held_outcome``)."""
        return skill.held_outcome(self.status(who))

    def label(self, won: np.ndarray, error: np.ndarray, rng: np.random.Generator
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Play one round's labelling: which winning units are gold, which labels are
        rejected, which are held (won on probation, not rejected: see ``held_outcome``);
        updates the records. ``won``: the annotator of each winning unit."""
        c = self.cfg
        won = np.asarray(won, dtype=np.int64)
        units = np.bincount(won, minlength=self.alpha.size)
        status = self.status(np.arange(self.alpha.size))
        on_probation = (status[won] == skill.PROBATION) & (c.quality_bar is not None)  # when the round cleared
        n_gold = mixing.gold_units(units, status, rate=c.gold_rate, draw=rng.random(units.size))
        by_owner = np.argsort(won, kind="stable")
        rank = np.empty_like(won)
        rank[by_owner] = np.arange(won.size) - np.searchsorted(won[by_owner], won[by_owner])
        gold = rank < n_gold[won]
        right = gold & (rng.random(won.size) < 1.0 - error[won])

        order = rng.permutation(won.size)  # the order labels are given in
        o, g, r = won[order], gold[order], right[order]
        grouped = np.argsort(o, kind="stable")
        o, g, r = o[grouped], g[grouped].astype(np.int64), r[grouped].astype(float)
        first = np.r_[True, o[1:] != o[:-1]]
        start = np.flatnonzero(first)[np.cumsum(first) - 1]
        seen_g = np.cumsum(g) - (np.cumsum(g) - g)[start]  # this round's gold answers so far (inclusive)
        seen_r = np.cumsum(r) - (np.cumsum(r) - r)[start]
        status = skill.judge(self.alpha[o] + seen_r, self.beta[o] + seen_g - seen_r, self.answers[o] + seen_g,
                             min_gold=c.min_gold_answers, bar=c.quality_bar, confidence=c.quality_confidence)
        rejected = np.empty(won.size, dtype=bool)
        rejected[order[grouped]] = status == skill.BELOW_BAR

        credit = np.bincount(won, weights=right.astype(float), minlength=self.alpha.size)
        answered = np.bincount(won, weights=gold.astype(float), minlength=self.alpha.size)
        self.alpha += credit
        self.beta += answered - credit
        self.answers += answered.astype(np.int64)
        return gold, rejected, on_probation & ~rejected

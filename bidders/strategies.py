"""Bidding strategies: how an annotator turns a private cost into an ask.

Every strategy is a markup on cost, ``ask = cost · (1 + markup)``, and acts on a group of
annotators at once (its ``members``) so a round costs a few array operations whatever the
population size:

* ``Truthful``  asks its cost: optimal under the truthful rules, and zero profit under
  first price;
* ``Markup``    asks a fixed markup over cost: the rule of thumb of a seasoned annotator;
* ``Learner``   adapts its markup from nothing but its own wins and profits, by Exp3
  (Hedge with bandit feedback) over a grid of markups. Under first price it learns to shade
  up; under a truthful rule markups above cost only lose work, so it learns nothing
  profitable from them.
"""

from __future__ import annotations

from typing import Annotated, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from bidders.population import split_counts

Weight = Annotated[float, Field(ge=0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LearnerConfig(_Strict):
    """Exp3 settings. The defaults learn a visible markup within a few hundred rounds."""

    max_markup: Annotated[float, Field(gt=0)] = 1.0
    arms: Annotated[int, Field(ge=2)] = 11
    eta: Annotated[float, Field(gt=0)] = 0.05
    explore: Annotated[float, Field(gt=0, le=1)] = 0.05
    truthful_prior: Annotated[float, Field(ge=0)] = 3.0


class StrategyConfig(_Strict):
    """Weights of the strategies in the population (normalised; assigned at random,
    kind-blind). Weights rather than shares so one can be swept without the others."""

    truthful: Weight = 0.5
    markup: Weight = 0.0
    learner: Weight = 0.5
    markup_rate: Annotated[float, Field(ge=0)] = 0.2
    learning: LearnerConfig = Field(default_factory=LearnerConfig)

    @model_validator(mode="after")
    def _some_weight(self) -> "StrategyConfig":
        if self.truthful + self.markup + self.learner <= 0:
            raise ValueError("truthful, markup and learner weights are all 0")
        return self

    def shares(self) -> np.ndarray:
        w = np.array([self.truthful, self.markup, self.learner])
        return w / w.sum()


class Strategy(Protocol):
    name: str
    members: np.ndarray  # annotator indices this strategy plays for

    def markups(self, active: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Markups for ``members[active]`` this round."""

    def learn(self, active: np.ndarray, profit: np.ndarray, cost: np.ndarray,
              capacity: np.ndarray) -> None:
        """Feedback for ``members[active]``: this round's profit, cost and capacity."""


class Truthful:
    name = "truthful"

    def __init__(self, members: np.ndarray):
        self.members = np.asarray(members, dtype=int)

    def markups(self, active, rng):
        return np.zeros(int(np.count_nonzero(active)))

    def learn(self, active, profit, cost, capacity):
        pass


class Markup:
    name = "markup"

    def __init__(self, members: np.ndarray, rate: float):
        self.members = np.asarray(members, dtype=int)
        self.rate = rate

    def markups(self, active, rng):
        return np.full(int(np.count_nonzero(active)), self.rate)

    def learn(self, active, profit, cost, capacity):
        pass


class Learner:
    """Exp3 over ``arms`` markups in ``[0, max_markup]``, one independent learner per member.

    Reward of a round: profit over the most it could have earned at the top markup with
    all its capacity sold, ``profit / (capacity · cost · max_markup)``, clipped to [0, 1].
    Only the markup played is updated, with the importance-weighted estimate ``reward / p``,
    so the learner needs no knowledge of the rule or of others' bids.
    """

    name = "learner"

    def __init__(self, members: np.ndarray, cfg: LearnerConfig):
        self.members = np.asarray(members, dtype=int)
        self.grid = np.linspace(0.0, cfg.max_markup, cfg.arms)
        self.eta = cfg.eta
        self.explore = cfg.explore
        self.log_weights = np.zeros((self.members.size, cfg.arms))
        self.log_weights[:, 0] = cfg.truthful_prior
        self.arm = np.zeros(self.members.size, dtype=int)
        self.p_played = np.ones(self.members.size)

    def probabilities(self) -> np.ndarray:
        w = np.exp(self.log_weights - self.log_weights.max(axis=1, keepdims=True))
        w /= w.sum(axis=1, keepdims=True)
        return (1.0 - self.explore) * w + self.explore / self.grid.size

    def markups(self, active, rng):
        p = self.probabilities()[active]
        u = rng.random(p.shape[0])[:, None]
        arm = np.minimum((p.cumsum(axis=1) < u).sum(axis=1), self.grid.size - 1)
        self.arm[active] = arm
        self.p_played[active] = p[np.arange(arm.size), arm]
        return self.grid[arm]

    def learn(self, active, profit, cost, capacity):
        idx = np.flatnonzero(active)
        reward = np.clip(profit / (capacity * cost * self.grid[-1]), 0.0, 1.0)
        self.log_weights[idx, self.arm[idx]] += self.eta * reward / self.p_played[idx]

    def expected_markup(self) -> np.ndarray:
        """Each member's current mean markup under its own mixed strategy."""
        return self.probabilities() @ self.grid


def assign_strategies(cfg: StrategyConfig, n: int, rng: np.random.Generator) -> list[Strategy]:
    """Split annotators ``0..n-1`` at random into the configured strategy groups."""
    counts = split_counts(cfg.shares(), n)
    groups = np.split(rng.permutation(n), np.cumsum(counts)[:-1])
    made = [Truthful(groups[0]), Markup(groups[1], cfg.markup_rate), Learner(groups[2], cfg.learning)]
    return [s for s in made if s.members.size]

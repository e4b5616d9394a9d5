"""Annotator populations: who bids, at what private cost, with what labelling skill.

An annotator has a private cost per label (what a label costs them in time and effort, in
dollars), a Bradley–Terry skill (how sharply they tell a better completion from a worse
one), a capacity (labels they can deliver per round), a chance of showing up to a round,
and a kind:

* ``diligent``   reads both completions; answers by Bradley–Terry with a high skill;
* ``noisy``      reads in a hurry; same model, lower skill;
* ``spammer``    clicks at random without reading, so labels cost them little;
* ``adversarial`` reads carefully and answers the opposite.

Defaults and why they are realistic:

* cost per label, lognormal with median $0.25 and sigma 0.5 (90% between $0.11 and $0.57):
  a pairwise preference takes 30–60 s to judge and crowd workers earn $15–25 an hour;
* spammers' cost is 40% of a reader's (they skip the reading), noisy annotators' 80%;
* skill is the slope of ``P(correct) = σ(skill · |Δ|)`` for judge-score differences Δ on a
  unit scale; a diligent skill of 3 gives about 84% agreement with the truth and a noisy
  skill of 1 about 68%, so two diligent annotators agree with each other about 73% of the
  time: the inter-annotator agreement reported for human preference data (63–77% in the
  HH and InstructGPT collections);
* capacity 1–3 labels per round, and 70% of annotators bid in any given round;
* a mix of 60% diligent, 25% noisy, 10% spammers and 5% adversarial.

The market's ``quality`` for an annotator is the informativeness of their labels,
``1 − 2 · error``, floored at ``quality_floor``: what a gold-question screen would
estimate, and what the quality-weighted rules divide asks by.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bidders.labels import KINDS, SPAMMER, expected_error

Positive = Annotated[float, Field(gt=0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Lognormal(_Strict):
    """Costs ``exp(N(log median, sigma²))``."""

    dist: Literal["lognormal"] = "lognormal"
    median: Positive = 0.25
    sigma: Positive = 0.5

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return self.median * np.exp(self.sigma * rng.standard_normal(n))


class Uniform(_Strict):
    """Costs uniform on ``[low, high]``."""

    dist: Literal["uniform"]
    low: Positive
    high: Positive

    @model_validator(mode="after")
    def _ordered(self) -> "Uniform":
        if self.high <= self.low:
            raise ValueError("high must exceed low")
        return self

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.uniform(self.low, self.high, n)


class Gamma(_Strict):
    """Costs ``Gamma(shape, scale)``: a lighter right tail than the lognormal."""

    dist: Literal["gamma"]
    shape: Positive
    scale: Positive

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.gamma(self.shape, self.scale, n)


CostDistribution = Annotated[Lognormal | Uniform | Gamma, Field(discriminator="dist")]


class KindConfig(_Strict):
    """One kind of annotator: its weight in the population (weights are normalised, so
    one kind can be swept alone) and how it labels."""

    share: Annotated[float, Field(ge=0)]
    skill: Annotated[float, Field(ge=0)] = 3.0
    cost_factor: Positive = 1.0


def _default_kinds() -> dict[str, KindConfig]:
    return {
        "diligent": KindConfig(share=0.60, skill=3.0, cost_factor=1.0),
        "noisy": KindConfig(share=0.25, skill=1.0, cost_factor=0.8),
        "spammer": KindConfig(share=0.10, skill=0.0, cost_factor=0.4),
        "adversarial": KindConfig(share=0.05, skill=3.0, cost_factor=1.0),
    }


class PopulationConfig(_Strict):
    """How to draw a population. Every field has a documented default (see module doc)."""

    size: Annotated[int, Field(ge=1)] = 100
    cost: CostDistribution = Field(default_factory=Lognormal)
    skill_sigma: Annotated[float, Field(ge=0)] = 0.3
    capacity_min: Annotated[int, Field(ge=1)] = 1
    capacity_max: Annotated[int, Field(ge=1)] = 3
    availability: Annotated[float, Field(gt=0, le=1)] = 0.7
    quality_floor: Annotated[float, Field(gt=0, le=1)] = 0.05
    kinds: dict[str, KindConfig] = Field(default_factory=_default_kinds)

    @field_validator("kinds", mode="before")
    @classmethod
    def _over_defaults(cls, given):
        """A config names only what it changes: ``kinds.spammer.share = 0.3`` keeps the
        other kinds and the spammers' other settings at their defaults."""
        if not isinstance(given, dict):
            return given
        merged = {name: kind.model_dump() for name, kind in _default_kinds().items()}
        for name, fields in given.items():
            known = isinstance(fields, dict) and name in merged
            merged[name] = {**merged[name], **fields} if known else fields
        return merged

    @field_validator("kinds")
    @classmethod
    def _known_kinds(cls, kinds: dict[str, KindConfig]) -> dict[str, KindConfig]:
        unknown = sorted(set(kinds) - set(KINDS))
        if unknown:
            raise ValueError(f"unknown kind {unknown}; known: {list(KINDS)}")
        if sum(k.share for k in kinds.values()) <= 0:
            raise ValueError("every share is 0")
        return kinds

    @model_validator(mode="after")
    def _capacity_range(self) -> "PopulationConfig":
        if self.capacity_max < self.capacity_min:
            raise ValueError("capacity_max must be at least capacity_min")
        return self


def with_spammer_share(cfg: PopulationConfig, share: float) -> PopulationConfig:
    """``cfg`` with spammers at exactly ``share`` of the population, the other kinds keeping
    their proportions among the rest (so "20% spammers" means what it says)."""
    if not 0 <= share < 1:
        raise ValueError(f"the spammers' share must be in [0, 1), got {share}")
    rest = sum(k.share for name, k in cfg.kinds.items() if name != "spammer")
    kinds = {name: {**k.model_dump(), "share": share if name == "spammer" else (1 - share) * k.share / rest}
             for name, k in cfg.kinds.items()}
    kinds.setdefault("spammer", {"share": share})
    return cfg.model_copy(update={"kinds": PopulationConfig(kinds=kinds).kinds})


@dataclass(frozen=True)
class Population:
    """One drawn population, as aligned arrays (index = annotator id in the simulator)."""

    cost: np.ndarray  # private cost per label, dollars
    skill: np.ndarray  # Bradley–Terry slope
    kind: np.ndarray  # int codes into labels.KINDS
    capacity: np.ndarray  # labels per round
    error: np.ndarray  # chance a label disagrees with the truth (spammer 0.5, adversarial > 0.5)
    quality: np.ndarray  # what the market knows: max(1 − 2·error, floor)
    availability: float

    @property
    def size(self) -> int:
        return self.cost.size

    def share_of(self, kind: int) -> float:
        return float(np.mean(self.kind == kind))


def split_counts(shares: np.ndarray, n: int) -> np.ndarray:
    """Whole counts summing to ``n`` closest to ``shares · n`` (largest remainder)."""
    raw = np.asarray(shares, dtype=float) * n
    counts = np.floor(raw).astype(int)
    counts[np.argsort(counts - raw, kind="stable")[: n - counts.sum()]] += 1
    return counts


def sample_population(cfg: PopulationConfig, rng: np.random.Generator) -> Population:
    """Draw ``cfg.size`` annotators; kinds in exact proportions, shuffled."""
    names = list(cfg.kinds)
    weights = np.array([cfg.kinds[k].share for k in names])
    counts = split_counts(weights / weights.sum(), cfg.size)
    kind = rng.permutation(np.repeat([KINDS.index(k) for k in names], counts))
    by_code = {KINDS.index(k): cfg.kinds[k] for k in names}
    cost_factor = np.array([by_code[k].cost_factor for k in kind])
    base_skill = np.array([by_code[k].skill for k in kind])
    skill = base_skill * np.exp(cfg.skill_sigma * rng.standard_normal(cfg.size))
    skill[kind == SPAMMER] = 0.0
    error = expected_error(skill, kind)
    return Population(
        cost=cfg.cost.sample(rng, cfg.size) * cost_factor,
        skill=skill,
        kind=kind,
        capacity=rng.integers(cfg.capacity_min, cfg.capacity_max + 1, cfg.size),
        error=error,
        quality=np.maximum(1.0 - 2.0 * error, cfg.quality_floor),
        availability=cfg.availability,
    )

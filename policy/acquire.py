"""Scoring a pool of pairs with the current policy: the model-facing half of acquisition.

The methods are the market's registry (``market.acquisition``): its entry for a method says
what the method needs, ``score_pool`` computes just that (margins from one batched policy
pass plus cached reference log-probs; last-layer pair features; Monte-Carlo prompt
entropies) and ``SCORERS`` holds one scorer per entry, over the plain maths in
``policy.acquisition``. A name outside the registry is an error, never random scoring.
Equal scores are separated at random (seeded), so the step-0 tie is broken at random
rather than by upload order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from market import acquisition as registry
from policy import acquisition as acq
from policy.generate import SamplingConfig, sample_logps
from policy.model import PolicyModels
from policy.scoring import ReferenceCache, pair_scores

DEFAULT_DIRECTION = {"sharp": "least_certain", "wsharp": "least_certain", "apl": "most_certain"}


@dataclass
class AcquisitionConfig:
    """Which acquisition, in which direction, with the papers' knobs.

    ``n_select`` is how many pairs a round buys (APL's M, ADPO's batch). The APL defaults are
    the TL;DR run's factors (F_pair 16, F_prompt 4, N 8); ``direction=None`` takes each
    method's own (least certain for SHARP/W-SHARP, most certain for APL). Random and ADPO
    have no direction.
    """

    method: str = "random"
    direction: str | None = None
    beta: float = 0.1
    n_select: int = 64
    apl_f_pair: int = 16
    apl_f_prompt: int = 4
    apl_samples: int = 8
    apl_max_new_tokens: int = 48
    adpo_gamma: float = 1.0
    seed: int = 0

    def __post_init__(self):
        registry.require(self.method)
        if self.direction is not None:
            acq.check_direction(self.direction)

    @property
    def resolved_direction(self) -> str | None:
        return self.direction or DEFAULT_DIRECTION.get(self.method)


@dataclass
class PoolInputs:
    """What the registry says a method needs, computed once for the pool (None: not needed)."""

    n: int
    margins: np.ndarray | None = None
    features: np.ndarray | None = None
    entropy: np.ndarray | None = None
    bought_margins: np.ndarray | None = None  # the pairs already labelled (ADPO's design so far)
    bought_features: np.ndarray | None = None
    error: np.ndarray | None = None  # each pair's annotator's error, where known (noise_aware); None: 0


def _random(x: PoolInputs, cfg: AcquisitionConfig, rng: np.random.Generator) -> np.ndarray:
    return acq.random_scores(x.n, rng)


def _sharp(x: PoolInputs, cfg: AcquisitionConfig, rng: np.random.Generator) -> np.ndarray:
    return acq.sharp(x.margins, cfg.resolved_direction)


def _wsharp(x: PoolInputs, cfg: AcquisitionConfig, rng: np.random.Generator) -> np.ndarray:
    return acq.wsharp(x.margins, cfg.resolved_direction)


def _apl(x: PoolInputs, cfg: AcquisitionConfig, rng: np.random.Generator) -> np.ndarray:
    return acq.apl(x.entropy, x.margins, n_select=cfg.n_select, f_pair=cfg.apl_f_pair, f_prompt=cfg.apl_f_prompt,
                   direction=cfg.resolved_direction, rng=rng)


def _adpo(x: PoolInputs, cfg: AcquisitionConfig, rng: np.random.Generator) -> np.ndarray:
    """The D-optimal gains of the pool given the design already bought.

    Pool and bought vectors share one scale (the longest pool vector has norm 1), so ``γ``
    stays relative to the pool as in ``acq.adpo_vectors``."""
    pool, bought = acq.adpo_design(x.features, x.margins, cfg.beta, x.bought_features, x.bought_margins)
    top = float(np.sqrt(np.einsum("ij,ij->i", pool, pool).max())) if len(pool) else 0.0
    if top > 0:
        pool, bought = pool / top, bought / top
    _, gains = acq.greedy_d_optimal(pool, cfg.n_select, gamma=cfg.adpo_gamma, initial=bought)
    return gains


def _noise_aware(x: PoolInputs, cfg: AcquisitionConfig, rng: np.random.Generator) -> np.ndarray:
    """The information a pair's label brings about the reward (``acq.noise_aware``), given who answers.

    The reward is read as log-linear on the policy's last-layer pair features, with the pool's
    scale of ADPO (longest pool vector of norm 1) and prior precision ``adpo_gamma``; the pairs
    already bought enter its Laplace precision with their Fisher weights ``σ(Δ)(1 − σ(Δ))``.
    The margin's mean is the policy's own margin and its variance ``dᵀH⁻¹d`` is what
    ``greedy_d_optimal`` reports for a design of no picks. The worker scores the pool before the
    market assigns anyone, so it knows no annotator's error and passes none (0: a correct label);
    a caller that knows each pair's annotator (the lab) passes ``error``.
    """
    pool = np.asarray(x.features, dtype=np.float64)
    bought = np.zeros((0, pool.shape[1]))
    if x.bought_features is not None and len(x.bought_features):
        bought = np.asarray(x.bought_features, dtype=np.float64) * acq.adpo_weights(x.bought_margins, 1.0)[:, None]
    top = float(np.sqrt(np.einsum("ij,ij->i", pool, pool).max())) if len(pool) else 0.0
    if top > 0:
        pool, bought = pool / top, bought / top
    _, variance = acq.greedy_d_optimal(pool, 0, gamma=cfg.adpo_gamma, initial=bought)
    return acq.noise_aware(x.margins, variance, 0.0 if x.error is None else x.error)


Scorer = Callable[[PoolInputs, AcquisitionConfig, np.random.Generator], np.ndarray]
SCORERS: dict[str, Scorer] = {"random": _random, "sharp": _sharp, "wsharp": _wsharp, "apl": _apl, "adpo": _adpo,
                         "noise_aware": _noise_aware}


def score_pool(
    models: PolicyModels,
    cache: ReferenceCache,
    prompts: Sequence[str],
    completions_a: Sequence[str],
    completions_b: Sequence[str],
    cfg: AcquisitionConfig,
    *,
    bought: tuple[Sequence[str], Sequence[str], Sequence[str]] | None = None,
    progress: bool = False,
) -> np.ndarray:
    """One finite score per pair; higher means buy sooner.

    ``bought`` (prompts, completions a, completions b) are the pairs already labelled: a
    method that builds a design over rounds (ADPO) starts from them instead of from scratch,
    so a round does not rebuy what earlier rounds covered. The others ignore it."""
    n = len(prompts)
    if n == 0:
        raise ValueError("the pool is empty: nothing to score")
    needs = registry.require(cfg.method).needs
    rng = np.random.default_rng(cfg.seed)
    x = PoolInputs(n)
    if "margins" in needs or "features" in needs:
        scores = pair_scores(models, cache, prompts, completions_a, completions_b, beta=cfg.beta,
                             features="features" in needs, progress=progress)
        x.margins, x.features = scores.margins, scores.features
    if "features" in needs and bought is not None and len(bought[0]):
        done = pair_scores(models, cache, *bought, beta=cfg.beta, features=True, progress=progress)
        x.bought_margins, x.bought_features = done.margins, done.features
    if "samples" in needs:
        x.entropy = _prompt_entropy(models, prompts, cfg, rng, progress)
    return acq.break_ties(SCORERS[cfg.method](x, cfg, rng), rng)


def _prompt_entropy(models: PolicyModels, prompts: Sequence[str], cfg: AcquisitionConfig, rng, progress: bool) -> np.ndarray:
    """APL's predictive entropy for a random ``F_pair · F_prompt · M`` of the distinct prompts (NaN for the rest)."""
    distinct = sorted(set(prompts))
    budget = acq.apl_prompt_budget(len(distinct), cfg.n_select, cfg.apl_f_pair, cfg.apl_f_prompt)
    chosen = [distinct[i] for i in np.sort(rng.choice(len(distinct), size=budget, replace=False))]
    sampling = SamplingConfig(max_new_tokens=cfg.apl_max_new_tokens, temperature=1.0, seed=cfg.seed)
    with models.for_generation() as policy:
        logps, index = sample_logps(policy, models.tokenizer, chosen, cfg.apl_samples, sampling, progress=progress)
    per_prompt = acq.predictive_entropy(logps, index, len(chosen))
    lookup = dict(zip(chosen, per_prompt, strict=True))
    return np.array([lookup.get(p, np.nan) for p in prompts])

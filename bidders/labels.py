"""Simulated labelling: how an annotator of a given kind and skill answers a pair.

Two sources of truth, one per kind of data:

* generated pairs scored by a judge: Bradley–Terry on the judge-score difference,
  ``P(choose a) = σ(skill · (s_a − s_b))``;
* logged pairs with a known preferred side (imported data): the annotator agrees with the
  log except at their error rate.

Spammers answer at random whatever the pair; adversarial annotators read as carefully as
their skill allows and then answer the opposite.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

KINDS = ("diligent", "noisy", "spammer", "adversarial")
DILIGENT, NOISY, SPAMMER, ADVERSARIAL = range(len(KINDS))

# Quadrature for E[f(|Δ|)] with Δ ~ N(0, 1), the reference spread of judge-score
# differences that turns a skill into an error rate: trapezoid weights on a fine grid of
# the half-line (|Δ| has a kink at 0 that Gauss–Hermite nodes integrate poorly).
_NODES = np.linspace(0.0, 8.0, 801)
_WEIGHTS = np.exp(-0.5 * _NODES**2) * np.gradient(_NODES)
_WEIGHTS[[0, -1]] /= 2
_WEIGHTS /= _WEIGHTS.sum()


def prob_choose_a(score_diff: np.ndarray, skill: np.ndarray, kind: np.ndarray) -> np.ndarray:
    """``P(answer "a")`` for judge-score differences ``s_a − s_b`` (arrays broadcast)."""
    honest = expit(np.asarray(skill) * np.asarray(score_diff))
    kind = np.asarray(kind)
    return np.where(kind == SPAMMER, 0.5, np.where(kind == ADVERSARIAL, 1.0 - honest, honest))


def label_bradley_terry(score_diff, skill, kind, rng: np.random.Generator) -> np.ndarray:
    """Draw answers (True = "a") by Bradley–Terry on the judge-score difference."""
    p = prob_choose_a(score_diff, skill, kind)
    return rng.random(p.shape) < p


def label_logged(prefers_a, error, kind, rng: np.random.Generator) -> np.ndarray:
    """Draw answers (True = "a") for logged pairs whose preferred side is known.

    ``error`` is the annotator's honest error rate; a spammer is right half the time and an
    adversary flips the log except where their own error flips it back.
    """
    prefers_a = np.asarray(prefers_a, dtype=bool)
    kind = np.asarray(kind)
    wrong = np.where(kind == SPAMMER, 0.5, np.where(kind == ADVERSARIAL, 1.0 - error, error))
    flip = rng.random(np.broadcast_shapes(prefers_a.shape, np.shape(wrong))) < wrong
    return prefers_a ^ flip


def expected_error(skill, kind) -> np.ndarray:
    """Chance an annotator's label disagrees with the truth on a typical pair.

    Typical means a judge-score difference ``Δ ~ N(0, 1)``; for honest kinds the error is
    ``E[σ(−skill · |Δ|)]``, a spammer's is 0.5 and an adversary's is one minus the honest
    error at the same skill.
    """
    skill = np.asarray(skill, dtype=float)
    honest = expit(-np.multiply.outer(skill, _NODES)) @ _WEIGHTS
    kind = np.asarray(kind)
    return np.where(kind == SPAMMER, 0.5, np.where(kind == ADVERSARIAL, 1.0 - honest, honest))

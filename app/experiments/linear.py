"""The ``linear`` fidelity: DPO on frozen features, fitted in milliseconds.

The policy is log-linear on the frozen model's features: ``log πθ(y|x) = log πref(y|x) +
θᵀφ(x, y)/β − log Z(x)``, so its implicit reward is ``r̂(x, y) = θᵀφ(x, y)`` and DPO's loss on
a bought pair (``w`` preferred to ``l``) is ``−log σ(θᵀ(φ_w − φ_l))``: a logistic regression on
feature differences. With an L2 prior ``λ/2‖θ‖²`` (a Gaussian prior, what keeps a few labels
from fitting noise) the fit is convex and Newton's method converges in a few steps; the
Hessian at the optimum gives the Laplace posterior that ``noise_aware`` and ADPO read.

Dimension. φ has the model's width (576 for SmolLM2-135M). ``Projection`` maps it to
``dims`` principal directions of the candidate pool's pair differences (never the
held-out set's), each scaled to unit RMS over the pool, so one ``λ`` means the same on
every data set. Differences are not centred: the reward has no intercept (a and b are
shown in a random order, so their mean difference is noise).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Projection:
    """``x ↦ (x @ basis) / scale``: the top principal directions of the pool's pair differences."""

    basis: np.ndarray  # (d, dims)
    scale: np.ndarray  # (dims,)

    @classmethod
    def fit(cls, pool_differences: np.ndarray, dims: int) -> Projection:
        X = np.asarray(pool_differences, dtype=np.float64)
        _, s, vt = np.linalg.svd(X, full_matrices=False)
        dims = min(dims, len(s))
        scale = np.maximum(s[:dims] / np.sqrt(len(X)), 1e-12)
        return cls(vt[:dims].T, scale)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, dtype=np.float64) @ self.basis) / self.scale


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(z / 2))


def fit(D: np.ndarray, a_chosen: np.ndarray, lam: float, *, iters: int = 50, tol: float = 1e-10) -> np.ndarray:
    """θ minimising ``Σ −log σ(±θᵀd) + λ/2‖θ‖²``, ``+`` where ``a`` was chosen (Newton, step-halving).

    No labels: θ = 0, the reference policy.
    """
    D = np.asarray(D, dtype=np.float64)
    theta = np.zeros(D.shape[1])
    if len(D) == 0:
        return theta
    X = D * np.where(np.asarray(a_chosen, dtype=bool), 1.0, -1.0)[:, None]

    def loss(t):
        return np.logaddexp(0.0, -(X @ t)).sum() + 0.5 * lam * t @ t

    current = loss(theta)
    for _ in range(iters):
        p = _sigmoid(X @ theta)
        grad = -X.T @ (1.0 - p) + lam * theta
        H = (X * (p * (1.0 - p))[:, None]).T @ X + lam * np.eye(len(theta))
        step = np.linalg.solve(H, grad)
        size = 1.0
        while size > 1e-6:
            new = loss(theta - size * step)
            if new <= current:
                break
            size /= 2
        theta, previous, current = theta - size * step, current, new
        if previous - current < tol * max(1.0, abs(current)):
            break
    return theta


def posterior_cov(D: np.ndarray, theta: np.ndarray, lam: float) -> np.ndarray:
    """Laplace covariance ``(λI + Σ σ(1−σ) d dᵀ)⁻¹`` at ``theta`` over the bought differences ``D``."""
    D = np.asarray(D, dtype=np.float64).reshape(-1, len(theta))
    p = _sigmoid(D @ theta)
    H = (D * (p * (1.0 - p))[:, None]).T @ D + lam * np.eye(len(theta))
    return np.linalg.inv(H)


def accuracy(theta: np.ndarray, D: np.ndarray, a_wins: np.ndarray) -> float:
    """Held-out preference accuracy: the share of pairs whose implicit-reward margin has the truth's sign.

    A zero margin (the reference, before any label) counts one half: it prefers neither side.
    """
    margin = np.asarray(D, dtype=np.float64) @ theta
    right = np.where(margin == 0, 0.5, (margin > 0) == np.asarray(a_wins, dtype=bool))
    return float(np.mean(right))

"""Acquisition scores: which pairs the market should buy labels for. Plain functions over arrays.

Every function here is pure maths over numpy arrays (modAL style: score, then select), so the
scores are testable without a model. The model-facing inputs come from ``policy.scoring``:
implicit margins ``Δ = r̂(x, a) − r̂(x, b)`` and last-layer pair features.

Scores are finite float64 and higher means "buy this first"; the market sorts items by score.

Direction. SHARP picks the pairs the policy is least certain about, APL the ones it is most
certain about, and both papers beat random; ``direction`` ("least_certain" or
"most_certain") turns each margin criterion around so the benchmark can decide.

Step 0. When the policy equals the reference every margin is exactly 0 and every margin score
ties; ``break_ties`` separates equal scores in a random order (seeded) so the market does not
fall back on upload order.
"""

from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_limits

DIRECTIONS = ("least_certain", "most_certain")

# Margins smaller than this are below the rounding noise of summed fp32 log-probs (about
# 1e-5 for a 50-token completion), so they are treated as ties; this also caps SHARP at
# coth(5e-7) ≈ 2e6 instead of infinity.
MIN_MARGIN = 1e-6


def _abs_margins(margins) -> np.ndarray:
    m = np.abs(np.asarray(margins, dtype=np.float64))
    if np.isnan(m).any():
        raise ValueError("margins contain NaN")
    return np.maximum(m, MIN_MARGIN)


def check_direction(direction: str) -> None:
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")


# ----------------------------------------------------------------------------- SHARP / W-SHARP


def sharp(margins, direction: str = "least_certain") -> np.ndarray:
    """SHARP's Sharpe ratio with no prior, in closed form: ``coth(|Δ|/2)``.

    The paper's ratio ``(1+|γ|)/|1−|γ||`` with ``|γ| = p1/p2`` reduces to ``1/|2σ(Δ)−1|``
    (research digest §1.3); the gradient norm cancels, so only forward passes are needed.
    ``most_certain`` returns the reciprocal ``tanh(|Δ|/2)``, which ranks the other way.
    Resolution: in float64 ``coth`` reaches 1 at about ``|Δ| = 37``; larger margins tie.
    """
    check_direction(direction)
    t = np.tanh(_abs_margins(margins) / 2)
    return 1.0 / t if direction == "least_certain" else t


def wsharp(margins, direction: str = "least_certain") -> np.ndarray:
    """W-SHARP's Sharpe ratio with Bradley–Terry weights, in closed form: ``1/sinh(|Δ|/2)``.

    Computed as ``2e^{−x}/(1 − e^{−2x})`` so neither small nor large margins overflow; it ranks
    exactly like ``sharp`` (both are decreasing in ``|Δ|``). ``most_certain`` returns
    ``sinh(|Δ|/2)`` (capped where it would overflow).
    """
    check_direction(direction)
    x = _abs_margins(margins) / 2
    if direction == "most_certain":
        return np.sinh(np.minimum(x, 700.0))
    return 2.0 * np.exp(-x) / -np.expm1(-2.0 * x)


# ----------------------------------------------------------------------------- random and ties


def random_scores(n: int, rng: np.random.Generator) -> np.ndarray:
    """The baseline: uniform scores in [0, 1)."""
    return rng.random(n)


def break_ties(scores, rng: np.random.Generator, rel: float = 1e-9) -> np.ndarray:
    """Separate equal scores by a random relative nudge of at most ``rel``.

    The ranking of distinct scores is kept unless two of them are closer than ``rel``
    relative to each other; equal scores end up in a random order.
    """
    s = np.asarray(scores, dtype=np.float64)
    scale = np.where(s != 0, np.abs(s), 1e-300)
    return s + rel * scale * rng.random(len(s))


def select(scores, k: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of the ``k`` highest scores, best first, ties in random order."""
    s = np.asarray(scores, dtype=np.float64)
    return np.lexsort((rng.random(len(s)), -s))[:k]


def _rank01(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Ranks scaled to (0, 1], highest value highest, ties in random order."""
    order = np.lexsort((rng.random(len(values)), values))
    ranks = np.empty(len(values))
    ranks[order] = np.arange(1, len(values) + 1)
    return ranks / max(len(values), 1)


# ----------------------------------------------------------------------------- APL


def predictive_entropy(sample_logps, prompt_index, n_prompts: int) -> np.ndarray:
    """``Ĥ(x) = −mean_n log πθ(y_n|x)`` over each prompt's *own* samples.

    ``prompt_index[j]`` names the prompt that sample ``j`` was drawn for; grouping by that
    index (not by position) avoids the indexing slip the digest found in APL's batched code.
    Prompts with no samples get NaN.
    """
    logps = np.asarray(sample_logps, dtype=np.float64)
    index = np.asarray(prompt_index, dtype=np.int64)
    if logps.shape != index.shape:
        raise ValueError("sample_logps and prompt_index must have the same length")
    counts = np.bincount(index, minlength=n_prompts).astype(np.float64)
    sums = np.bincount(index, weights=logps, minlength=n_prompts)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, -sums / counts, np.nan)


def apl(
    entropy,
    margins,
    *,
    n_select: int,
    f_pair: int = 32,
    f_prompt: int = 4,
    direction: str = "most_certain",
    rng: np.random.Generator,
) -> np.ndarray:
    """APL's two-stage filter as scores: high predictive entropy first, then certainty ``|Δ|``.

    Stage 1 keeps the items whose prompt has the highest entropy, ``apl_stage_one`` of them;
    among those, pairs rank by ``|Δ|`` (largest first for ``most_certain``, as in APL).
    Passing items score in (1, 2] by that rank, the rest in (0, 1] by entropy, so sorting by
    score replays the filter. Items whose prompt has no entropy estimate (NaN: outside the
    ``f_prompt`` sample) cannot pass stage 1. Scores are ranks: the filter has no magnitudes.
    """
    check_direction(direction)
    ent = np.asarray(entropy, dtype=np.float64)
    certainty = _abs_margins(margins)
    if ent.shape != certainty.shape:
        raise ValueError("entropy and margins must have one value per item")
    ent = np.where(np.isnan(ent), -np.inf, ent)
    estimated = int(np.isfinite(ent).sum())
    keep = select(ent, apl_stage_one(estimated, n_select, f_pair, f_prompt), rng)
    passed = np.zeros(len(ent), dtype=bool)
    passed[keep] = True
    scores = np.empty(len(ent))
    signed = certainty if direction == "most_certain" else -certainty
    scores[passed] = 1.0 + _rank01(signed[passed], rng)
    scores[~passed] = _rank01(ent[~passed], rng)
    return scores


def apl_stage_one(estimated: int, n_select: int, f_pair: int, f_prompt: int) -> int:
    """How many items pass APL's entropy filter: ``1/f_prompt`` of those with an estimate, at most
    ``n_select · f_pair`` and at least ``n_select``.

    At APL's own sizes ``n_select · f_pair · f_prompt`` items are estimated and ``n_select · f_pair``
    pass, so this is the paper's filter. A pool smaller than that keeps the paper's ratio: a
    fixed ``n_select · f_pair`` would let every item through a small pool (256 of a 200-pair
    pool at M = 16, F_pair = 16), and the filter would filter nothing.
    """
    return min(estimated, n_select * f_pair, max(n_select, -(-estimated // f_prompt)))


def apl_prompt_budget(n_prompts: int, n_select: int, f_pair: int, f_prompt: int) -> int:
    """How many prompts APL estimates entropy for: ``n_select · f_pair · f_prompt`` (at most all)."""
    return min(n_prompts, n_select * f_pair * f_prompt)


# ----------------------------------------------------------------------------- ADPO


def adpo_weights(margins, beta: float) -> np.ndarray:
    """``β·sqrt(μ(1−μ))`` with ``μ = σ(Δ)``: the square root of each pair's Fisher weight.

    ``Δ`` already contains β (it is the implicit-reward margin), so ``μ`` is the policy's
    own probability that ``a`` beats ``b``.
    """
    delta = np.asarray(margins, dtype=np.float64)
    mu = 0.5 * (1.0 + np.tanh(delta / 2))  # σ(Δ) without overflow
    return beta * np.sqrt(mu * (1.0 - mu))


def adpo_vectors(features, margins, beta: float) -> np.ndarray:
    """Design vectors ``v_i = β sqrt(μ_i(1−μ_i)) (φ(x,a) − φ(x,b))``, scaled so the longest has norm 1.

    The common scale does not change which points the design picks; it only makes the
    regulariser ``γ`` of ``greedy_d_optimal`` relative to the pool (γ = 1: the first pick's
    gain is 1).
    """
    f = np.asarray(features, dtype=np.float32)
    v = f * adpo_weights(margins, beta).astype(np.float32)[:, None]
    top = float(np.sqrt(np.einsum("ij,ij->i", v, v).max())) if len(v) else 0.0
    return v / top if top > 0 else v


def adpo_design(features, margins, beta: float, bought_features=None, bought_margins=None) -> tuple[np.ndarray, np.ndarray]:
    """ADPO's design vectors ``β sqrt(μ(1−μ)) (φ_a − φ_b)`` for the pool and for the pairs already bought.

    The bought pairs are the design so far: passed to ``greedy_d_optimal(initial=...)`` they make
    the next picks complement what earlier rounds bought instead of restarting at ``γI``. Their
    Fisher weights are taken at the current margins, like the pool's. Nothing is rescaled, so
    with ``γ`` equal to the fit's L2 prior, ``γI + Σ v vᵀ`` is the Laplace posterior's precision.
    """
    v = np.asarray(features, dtype=np.float64) * adpo_weights(margins, beta)[:, None]
    b = np.zeros((0, v.shape[1]))
    if bought_features is not None and len(bought_features):
        b = np.asarray(bought_features, dtype=np.float64) * adpo_weights(bought_margins, beta)[:, None]
    return v, b


def greedy_d_optimal(
    V, k: int, *, gamma: float = 1.0, initial=None, block: int = 128, candidates: int = 1024,
    max_candidates: int = 4096,
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy D-optimal design: ``k`` rows of ``V`` maximising ``log det(γI + Σ_B b bᵀ + Σ v vᵀ)``, no labels needed.

    ``initial`` (rows ``b``, may be empty) is the design already bought: earlier rounds' pairs
    enter ``H`` before the first pick, so a round does not rebuy what earlier rounds covered.

    Each step picks ``argmax_i v_iᵀ H⁻¹ v_i`` (matrix-determinant lemma) and updates ``H⁻¹`` by
    Sherman–Morrison. ``H⁻¹`` is never formed: with ``u_s = H_{s−1}⁻¹ v_s`` and
    ``c_s = 1 + v_sᵀu_s``, ``H_t⁻¹ = I/γ − Σ_s u_s u_sᵀ / c_s``, so every gain is
    ``‖v_i‖²/γ − Σ_s (v_i·u_s)²/c_s``. Gains only fall as picks accumulate, which allows:

    - blocks: at the start of a block every gain is exact; during the block only the
      ``candidates`` rows with the highest gains are kept up to date, one rank-1 step per
      pick (``(V_C u)²/c``), and the rest keep their block-start gains as upper bounds;
    - a pick is made only while the best candidate beats the best bound outside the set, so
      the result equals plain greedy (up to exact ties); when it does not, the block ends
      early (and the set doubles, up to ``max_candidates``, if that happened within a quarter
      of a block: a larger set makes every pick slower);
    - at the end of a block all gains are brought up to date with one product ``V @ U_blockᵀ``
      (the only O(N·d) work, done as a GEMM rather than one mat-vec per pick). The GEMM uses
      every BLAS thread; the small per-pick products run on one, because waking BLAS threads
      for a 1,000 × 576 mat-vec costs more than it saves (on a busy machine, spinning BLAS
      threads made picks up to six times slower).

    Returns ``(order, gains)``: the picked indices in pick order and, for every row, its gain
    when picked or, if never picked, its gain after the last pick. Gains are non-increasing
    along ``order``, so ``gains`` ranks the whole pool consistently with the design.
    """
    V = np.ascontiguousarray(V)
    if V.dtype not in (np.float32, np.float64):
        V = V.astype(np.float64)
    n, d = V.shape
    k = min(k, n)
    B = np.zeros((0, d)) if initial is None else np.asarray(initial, dtype=V.dtype).reshape(-1, d)
    m = len(B)  # U[:m], c[:m] hold the initial design; pick s sits at U[m + s]
    U, c = np.zeros((m + k, d), dtype=V.dtype), np.zeros(m + k, dtype=V.dtype)
    for s, b in enumerate(B):
        u = b / gamma - ((U[:s] @ b) / c[:s]) @ U[:s]
        U[s], c[s] = u, 1.0 + b @ u
    bound = np.einsum("ij,ij->i", V, V).astype(np.float64) / gamma  # exact at each block start
    if m:
        bound -= _explained(V, U[:m], c[:m])
    picked = np.zeros(n, dtype=bool)
    order = np.empty(k, dtype=np.int64)
    gains = np.empty(n)
    t = 0
    while t < k:
        free = np.flatnonzero(~picked)
        size = min(candidates, len(free))
        top = np.argpartition(-bound[free], size - 1)[:size] if size < len(free) else np.arange(len(free))
        inside = np.zeros(len(free), dtype=bool)
        inside[top] = True
        cand = free[top]
        outside = np.max(bound[free[~inside]], initial=-np.inf)
        first = t
        with threadpool_limits(limits=1, user_api="blas"):
            for j, gain in _picks(V[cand], bound[cand].copy(), outside, U, c, m + t, m + min(k, t + block), gamma):
                order[t], gains[cand[j]], picked[cand[j]] = cand[j], gain, True
                t += 1
        if t - first < block // 4 and candidates < max_candidates:  # the set was too small to carry a block
            candidates *= 2
        bound -= _explained(V, U[m + first : m + t], c[m + first : m + t])
    rest = ~picked
    gains[rest] = bound[rest]
    return order, gains


def _picks(VC, exact, outside: float, U, c, t: int, stop: int, gamma: float):
    """Greedy picks among the candidate rows ``VC`` (exact gains ``exact``) while the best of them
    is at least ``outside``, the best bound of every other row; yields ``(row in VC, gain)``.

    Pick ``s`` writes ``u_s`` and ``c_s`` into ``U[s]`` and ``c[s]``, starting at ``s = t``,
    and stops before ``stop``.
    """
    while t < stop:
        j = int(np.argmax(exact))
        if exact[j] < outside:  # a row outside the set might now be best: the caller refreshes
            return
        v = VC[j]
        u = v / gamma - ((U[:t] @ v) / c[:t]) @ U[:t]
        U[t], c[t] = u, 1.0 + v @ u
        yield j, exact[j]
        exact -= (VC @ u).astype(np.float64) ** 2 / c[t]
        exact[j] = -np.inf
        t += 1


def _explained(V: np.ndarray, U: np.ndarray, c: np.ndarray) -> np.ndarray:
    """``Σ_s (v_i·u_s)²/c_s`` for every row of ``V``: how much the picks ``U`` reduced each gain (one GEMM)."""
    proj = V @ U.T
    return ((proj * proj) @ (1.0 / c)).astype(np.float64)


# ----------------------------------------------------------------------------- noise-aware

_GH_NODES, _GH_WEIGHTS = np.polynomial.hermite.hermgauss(32)


def _binary_entropy(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-15, 1 - 1e-15)
    return -(p * np.log(p) + (1 - p) * np.log1p(-p))


def noise_aware(margin_mean, margin_var, error) -> np.ndarray:
    """Expected information (nats) that one label brings about the reward, given who will answer it.

    Under a Gaussian (Laplace) posterior the pair's margin ``z = θᵀ(φ_a − φ_b)`` is
    ``N(margin_mean, margin_var)``. Its annotator answers ``a`` with probability
    ``g(z) = e + (1 − 2e)·σ(z)``, ``e`` the chance they answer wrong (the skill posterior the
    market keeps). The value is the mutual information between that answer and ``θ``,
    ``H(E g) − E H(g)`` (BALD), by 32-point Gauss–Hermite quadrature over ``z``.

    A pair the model is unsure of but cannot learn from (``margin_var`` small: its posterior
    agrees on a coin toss) is worth little, and so is any pair an annotator near a coin
    answers: at ``e = ½`` the label carries nothing. ``e`` is clipped to ½: the learner takes
    labels at face value, so an annotator worse than a coin brings no information it can use.
    """
    m = np.asarray(margin_mean, dtype=np.float64)
    v = np.maximum(np.asarray(margin_var, dtype=np.float64), 0.0)
    e = np.clip(np.broadcast_to(np.asarray(error, dtype=np.float64), m.shape), 0.0, 0.5)
    z = m[:, None] + np.sqrt(2.0 * v)[:, None] * _GH_NODES[None, :]
    g = e[:, None] + (1.0 - 2.0 * e[:, None]) * 0.5 * (1.0 + np.tanh(z / 2))
    w = _GH_WEIGHTS / np.sqrt(np.pi)
    return np.maximum(_binary_entropy(g @ w) - _binary_entropy(g) @ w, 0.0)


def noise_aware_select(D, theta, cov, error, k: int) -> np.ndarray:
    """``k`` pairs bought greedily by ``noise_aware`` value, the posterior updated after each pick.

    ``D`` holds the pool's feature differences, ``theta`` and ``cov`` the Laplace posterior,
    ``error`` each pair's annotator's error. After a pick the covariance takes the expected
    Fisher information of its label, ``(1 − 2e)² σ(m)(1 − σ(m)) d dᵀ`` (Sherman–Morrison), so
    one round does not spend its labels on near-copies of one uncertain direction.
    """
    D = np.asarray(D, dtype=np.float64)
    S = np.array(cov, dtype=np.float64)
    mean = D @ np.asarray(theta, dtype=np.float64)
    e = np.clip(np.broadcast_to(np.asarray(error, dtype=np.float64), mean.shape), 0.0, 0.5)
    mu = 0.5 * (1.0 + np.tanh(mean / 2))
    fisher = (1.0 - 2.0 * e) ** 2 * mu * (1.0 - mu)
    taken = np.zeros(len(D), dtype=bool)
    order = []
    for _ in range(min(k, len(D))):
        var = np.einsum("ij,jk,ik->i", D, S, D)
        value = np.where(taken, -np.inf, noise_aware(mean, var, e))
        j = int(np.argmax(value))
        order.append(j)
        taken[j] = True
        u = S @ D[j]
        S -= fisher[j] * np.outer(u, u) / (1.0 + fisher[j] * D[j] @ u)
    return np.array(order, dtype=np.int64)

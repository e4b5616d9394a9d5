"""The acquisition maths: closed forms against the papers' formulas, ranking, ties, APL, ADPO."""

from __future__ import annotations

import numpy as np
import pytest

from policy import acquisition as acq


def sharpe_ratio(margins, weighted: bool) -> np.ndarray:
    """The paper's mean/variance form (eq. 11/12), kept as the reference the closed forms are tested against.

    ``G`` takes ``‖G1‖`` with probability ``p1`` and ``‖G1‖·|γ|`` with ``p2``; the ratio
    ``E[G]/sqrt(Var[G])`` does not depend on ``‖G1‖``, so it is set to 1.
    """
    delta = np.asarray(margins, dtype=np.float64)
    p2_model = 1.0 / (1.0 + np.exp(delta))  # σ(r̂2 − r̂1)
    gamma = np.abs(1.0 - 1.0 / p2_model)
    p1 = 1.0 - p2_model if weighted else np.full_like(delta, 0.5)
    p2 = 1.0 - p1
    mean = p1 * 1.0 + p2 * gamma
    var = p1 * (1.0 - mean) ** 2 + p2 * (gamma - mean) ** 2
    return mean / np.sqrt(var)


def test_sharp_and_wsharp_match_the_papers_mean_variance_formula():
    margins = np.concatenate([np.linspace(-12, 12, 241), [1e-4, -3e-3, 0.5]])
    margins = margins[np.abs(margins) > 1e-5]
    np.testing.assert_allclose(acq.sharp(margins), sharpe_ratio(margins, weighted=False), rtol=1e-7)
    np.testing.assert_allclose(acq.wsharp(margins), sharpe_ratio(margins, weighted=True), rtol=1e-7)


def test_wsharp_is_sqrt_of_sharp_squared_minus_one():
    m = np.linspace(0.01, 20, 500)
    np.testing.assert_allclose(acq.wsharp(m), np.sqrt(acq.sharp(m) ** 2 - 1), rtol=1e-6)


@pytest.mark.parametrize("fn", [acq.sharp, acq.wsharp])
def test_scores_rank_like_minus_abs_margin(fn):
    rng = np.random.default_rng(1)
    m = rng.normal(scale=5, size=5000) * rng.choice([1e-4, 1e-2, 1], size=5000)
    m = m[np.abs(m) > 1e-5]
    s = fn(m)
    np.testing.assert_array_equal(np.argsort(-s, kind="stable"), np.argsort(np.abs(m), kind="stable"))
    k = 500
    assert set(np.argsort(-acq.sharp(m))[:k]) == set(np.argsort(-acq.wsharp(m))[:k]) == set(np.argsort(np.abs(m))[:k])


@pytest.mark.parametrize("fn", [acq.sharp, acq.wsharp])
@pytest.mark.parametrize("direction", acq.DIRECTIONS)
def test_scores_are_finite_in_fp32_including_zero_and_huge_margins(fn, direction):
    m = np.array([0.0, -0.0, 1e-30, 1e-8, -1e-8, 1e-3, 50.0, -1e4, 3e38], dtype=np.float32)
    s = fn(m, direction)
    assert np.isfinite(s).all() and (s >= 0).all()
    assert s[0] == s[1] == s[2] == s[3]  # below MIN_MARGIN: a tie, capped, not infinite


def test_most_certain_reverses_the_ranking():
    m = np.array([0.1, 2.0, 0.5, 7.0])
    for fn in (acq.sharp, acq.wsharp):
        least, most = np.argsort(-fn(m, "least_certain")), np.argsort(-fn(m, "most_certain"))
        np.testing.assert_array_equal(least, most[::-1])


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="NaN"):
        acq.sharp([0.1, np.nan])
    with pytest.raises(ValueError, match="direction"):
        acq.wsharp([0.1], direction="sideways")


def test_step_zero_ties_are_broken_at_random_and_reproducibly():
    s = acq.sharp(np.zeros(200))  # policy == reference: every score equal
    picks = [tuple(acq.select(s, 10, np.random.default_rng(seed))) for seed in range(5)]
    assert len(set(picks)) == 5
    assert tuple(acq.select(s, 10, np.random.default_rng(3))) == picks[3]
    broken = acq.break_ties(s, np.random.default_rng(0))
    assert len(np.unique(broken)) == 200


def test_break_ties_keeps_the_order_of_distinct_scores():
    s = np.array([5.0, 5.0, 3.0, 3.0, 1.0, 0.0, 0.0])
    b = acq.break_ties(s, np.random.default_rng(0))
    assert (b[:2] > b[2:4].max()).all() and (b[2:4] > b[4]).all() and (b[4] > b[5:]).all()


def test_select_returns_top_k_best_first():
    s = np.array([0.2, 0.9, 0.5, 0.7])
    np.testing.assert_array_equal(acq.select(s, 3, np.random.default_rng(0)), [1, 3, 2])


def test_predictive_entropy_uses_each_prompts_own_samples():
    # prompt 2 has 3 samples, prompt 0 has 1, prompt 1 none; samples are interleaved on purpose
    logps = np.array([-10.0, -30.0, -2.0, -40.0])
    index = np.array([2, 0, 2, 2])
    h = acq.predictive_entropy(logps, index, 3)
    assert h[0] == 30.0 and np.isnan(h[1]) and h[2] == pytest.approx(52.0 / 3)


def test_apl_filters_by_entropy_then_ranks_by_certainty():
    entropy = np.array([9.0, 8.0, 7.0, 1.0, 0.5, np.nan])
    margins = np.array([0.1, 3.0, -1.0, 10.0, 20.0, 50.0])
    rng = np.random.default_rng(0)
    s = acq.apl(entropy, margins, n_select=1, f_pair=3, f_prompt=1, rng=rng)
    np.testing.assert_array_equal(np.argsort(-s)[:3], [1, 2, 0])  # top-3 entropy, then largest |Δ|
    assert (s[:3] > 1).all() and (s[3:] <= 1).all()
    assert s[3] > s[4] > s[5]  # the rest by entropy; no estimate ranks last
    least = acq.apl(entropy, margins, n_select=1, f_pair=3, f_prompt=1, direction="least_certain", rng=rng)
    np.testing.assert_array_equal(np.argsort(-least)[:3], [0, 2, 1])


def test_apl_prompt_budget_is_the_product_of_the_oversampling_factors():
    assert acq.apl_prompt_budget(10_000, 128, 32, 8) == 10_000
    assert acq.apl_prompt_budget(10**6, 128, 16, 4) == 8192


def test_adpo_weights_are_largest_for_uncertain_pairs():
    w = acq.adpo_weights(np.array([0.0, 1.0, -1.0, 800.0]), beta=0.1)
    assert w[0] == pytest.approx(0.05) and w[1] == pytest.approx(w[2]) and w[1] < w[0]
    assert w[3] == 0.0 and np.isfinite(w).all()


def _naive_greedy(V, k, gamma=1.0):
    Hinv = np.eye(V.shape[1]) / gamma
    picked, gains = [], []
    for _ in range(k):
        g = np.einsum("ij,jk,ik->i", V, Hinv, V)
        g[picked] = -np.inf
        i = int(np.argmax(g))
        picked.append(i)
        gains.append(g[i])
        u = Hinv @ V[i]
        Hinv -= np.outer(u, u) / (1 + V[i] @ u)
    return np.array(picked), np.array(gains)


@pytest.mark.parametrize("seed", range(4))
def test_greedy_d_optimal_equals_plain_greedy(seed):
    rng = np.random.default_rng(seed)
    V = rng.normal(size=(400, 12)) * rng.gamma(1.0, 1.0, size=(400, 1))
    order, gains = acq.greedy_d_optimal(V, 50, gamma=0.5, block=7, candidates=16)
    expected, expected_gains = _naive_greedy(V, 50, gamma=0.5)
    np.testing.assert_array_equal(order, expected)
    np.testing.assert_allclose(gains[order], expected_gains, rtol=1e-9)
    assert np.all(np.diff(gains[order]) <= 1e-12)  # non-increasing along the picks
    rest = np.setdiff1d(np.arange(400), order)
    assert gains[rest].max() <= gains[order[-1]] + 1e-12


def test_greedy_d_optimal_prefers_diversity_over_repeats():
    # two copies of a long vector and one shorter orthogonal vector: after the first pick
    # its duplicate has lost most of its gain, so the orthogonal one is next
    V = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 0.8]])
    order, _ = acq.greedy_d_optimal(V, 2, gamma=0.1)
    assert set(order) == {2, order[0]} and order[0] in (0, 1)


def test_adpo_vectors_are_scaled_to_unit_max_norm():
    rng = np.random.default_rng(0)
    V = acq.adpo_vectors(rng.normal(size=(50, 8)) * 30, rng.normal(size=50), beta=0.1)
    assert np.linalg.norm(V, axis=1).max() == pytest.approx(1.0, rel=1e-6)


def test_apl_stage_one_keeps_the_papers_ratio_at_small_pools():
    assert acq.apl_stage_one(1024, 16, 16, 4) == 256  # APL's own sizes: M·F_pair of M·F_pair·F_prompt
    assert acq.apl_stage_one(10_000, 16, 16, 4) == 256
    assert acq.apl_stage_one(200, 16, 16, 4) == 50  # was 256 of 200: nothing filtered
    assert acq.apl_stage_one(40, 16, 16, 4) == 16  # never fewer than one round's buy
    assert acq.apl_stage_one(10, 16, 16, 4) == 10


def test_the_entropy_filter_changes_what_apl_picks_at_a_small_pool():
    # 200 pairs, the most certain ones have low entropy: without a filter (256 of 200 pass) APL
    # buys them; with the filter it buys the most certain among the high-entropy quarter
    rng = np.random.default_rng(0)
    entropy = rng.normal(size=200)
    margins = 10 - 3 * entropy + rng.normal(size=200)  # the most certain pairs have the lowest entropy
    filtered = acq.select(acq.apl(entropy, margins, n_select=16, f_pair=16, f_prompt=4, rng=rng), 16, rng)
    unfiltered = acq.select(acq.apl(entropy, margins, n_select=16, f_pair=16, f_prompt=1, rng=rng), 16, rng)
    assert len(set(filtered) & set(unfiltered)) == 0
    high = np.argsort(-entropy)[:50]
    assert set(filtered) <= set(high)
    np.testing.assert_array_equal(np.sort(unfiltered), np.sort(np.argsort(-np.abs(margins))[:16]))


def test_greedy_d_optimal_carries_the_design_already_bought():
    rng = np.random.default_rng(3)
    V = rng.normal(size=(300, 6)) * rng.gamma(1.0, 1.0, size=(300, 1))
    both, _ = acq.greedy_d_optimal(V, 20, gamma=0.5)
    first, _ = acq.greedy_d_optimal(V, 10, gamma=0.5)
    rest = np.setdiff1d(np.arange(300), first)
    second, gains = acq.greedy_d_optimal(V[rest], 10, gamma=0.5, initial=V[first], block=3, candidates=8)
    # two rounds carrying the first round's picks = one design of 20
    np.testing.assert_array_equal(np.concatenate([first, rest[second]]), both)
    restart, _ = acq.greedy_d_optimal(V[rest], 10, gamma=0.5)
    assert set(rest[restart]) != set(rest[second])  # starting again at γI picks otherwise
    # the carried gains are those of H = γI + Σ b bᵀ
    H = 0.5 * np.eye(6) + V[first].T @ V[first]
    np.testing.assert_allclose(gains[second[0]], V[rest][second[0]] @ np.linalg.solve(H, V[rest][second[0]]))


def test_adpo_design_weights_bought_pairs_at_the_current_margins():
    f = np.ones((3, 2))
    v, b = acq.adpo_design(f, np.zeros(3), 1.0, 2 * np.ones((1, 2)), np.array([800.0]))
    np.testing.assert_allclose(v, 0.5 * f)
    np.testing.assert_allclose(b, 0.0)  # a pair the policy is sure of adds no information
    v, b = acq.adpo_design(f, np.zeros(3), 1.0)
    assert b.shape == (0, 2)


def test_noise_aware_is_the_mutual_information_of_a_noisy_label():
    m, v, e = np.array([0.4]), np.array([2.0]), np.array([0.2])
    rng = np.random.default_rng(0)
    z = rng.normal(m[0], np.sqrt(v[0]), 400_000)
    g = e[0] + (1 - 2 * e[0]) / (1 + np.exp(-z))

    def h(p):
        return -(p * np.log(p) + (1 - p) * np.log(1 - p))

    assert acq.noise_aware(m, v, e)[0] == pytest.approx(h(g.mean()) - h(g).mean(), rel=1e-2)


def test_noise_aware_values_a_pair_by_who_will_answer_it():
    m, v = np.zeros(5), np.ones(5)
    value = acq.noise_aware(m, v, np.array([0.0, 0.1, 0.3, 0.5, 0.9]))
    assert value[0] > value[1] > value[2] > value[3] == 0.0  # a coin tells nothing
    assert value[4] == 0.0  # worse than a coin: nothing a learner taking labels at face value can use
    assert acq.noise_aware(np.zeros(1), np.zeros(1), np.zeros(1))[0] == pytest.approx(0.0, abs=1e-12)
    # a close pair from a careful annotator beats an uncertain pair from a spammer-like one
    assert acq.noise_aware(np.array([0.0, 0.0]), np.array([1.0, 4.0]), np.array([0.05, 0.45])).argmax() == 0


def test_noise_aware_select_spreads_a_round_over_directions():
    D = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 0.9]])
    order = acq.noise_aware_select(D, np.zeros(2), 10 * np.eye(2), np.zeros(3), 2)
    assert order[0] in (0, 1) and order[1] == 2  # the duplicate lost its value once one copy was bought

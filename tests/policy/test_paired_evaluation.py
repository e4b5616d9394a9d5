"""The paired evaluation: same prompts, same sampling seeds, intervals over prompts."""

from __future__ import annotations

import numpy as np
import pytest

from policy.evaluate import judged_outcomes, paired_difference, per_prompt, sample_completions, win_share
from policy.generate import SamplingConfig
from policy.train import DPORecipe, initial_models
from task.judges import SentimentJudge


class LengthJudge:
    """The longer completion wins: deterministic, so the tests know every outcome."""

    def compare(self, prompts, a, b):
        la, lb = np.array([len(x) for x in a]), np.array([len(x) for x in b])
        return np.where(la > lb, 1.0, np.where(la < lb, 0.0, 0.5))


def test_sample_j_uses_the_same_seed_for_every_model(tiny, prompts):
    models = initial_models(*tiny, DPORecipe(lora=True))
    cfg = SamplingConfig(max_new_tokens=6, temperature=1.0, seed=11)
    policy = sample_completions(models, prompts, cfg, samples=3)
    reference = sample_completions(models, prompts, cfg, samples=3, reference=True)
    assert len(policy) == len(prompts) and all(len(row) == 3 for row in policy)
    # an untrained LoRA policy is the reference: common random numbers give identical draws
    assert policy == reference
    # and the samples differ from one another (the seeds advance)
    assert any(len(set(row)) > 1 for row in policy)
    outcomes = judged_outcomes(SentimentJudge(), prompts, policy, reference)
    assert outcomes.shape == (len(prompts), 3) and np.all(outcomes == 0.5)


def test_skipped_prompts_are_nan_and_left_out_of_the_share():
    prompts = ["p0", "p1", "p2"]
    mine = [["aaa", "a"], [None, None], ["aa", "aaaa"]]
    theirs = [["a", "aa"], ["x", "y"], ["aa", "a"]]
    o = judged_outcomes(LengthJudge(), prompts, mine, theirs)
    assert np.isnan(o[1]).all()
    np.testing.assert_array_equal(o[[0, 2]], [[1.0, 0.0], [0.5, 1.0]])
    np.testing.assert_allclose(per_prompt(o), [0.5, np.nan, 0.75])
    share = win_share(o)
    assert share.n == 2 and share.rate == pytest.approx(0.625)
    assert share.ci_low <= share.rate <= share.ci_high


def test_ragged_samples_are_refused():
    with pytest.raises(ValueError, match="same number of samples"):
        judged_outcomes(LengthJudge(), ["p", "q"], [["a"], ["a", "b"]], [["a"], ["a", "b"]])


def test_win_share_resamples_prompts_not_samples():
    rng = np.random.default_rng(0)
    # 40 prompts whose samples agree with each other: the interval must be as wide as 40 units allow,
    # not as narrow as 40 × 8 independent pairs would make it
    outcomes = np.repeat(rng.integers(0, 2, size=(40, 1)).astype(float), 8, axis=1)
    share = win_share(outcomes)
    p = share.rate
    assert share.ci_high - share.ci_low > 2 * 1.5 * np.sqrt(p * (1 - p) / 40)


def test_paired_difference_cancels_what_the_units_share():
    rng = np.random.default_rng(1)
    difficulty = rng.normal(0, 1, 200)  # large, shared by both sides
    a = difficulty + 0.3 + rng.normal(0, 0.1, 200)
    b = difficulty + rng.normal(0, 0.1, 200)
    d = paired_difference(a, b)
    assert d.ci_low > 0.25 and d.ci_high < 0.35 and d.excludes_zero() and d.n == 200
    # unpaired, the shared difficulty would swamp it: the paired interval is far narrower than the spread
    assert d.ci_high - d.ci_low < 0.2 * difficulty.std()


def test_paired_difference_covers_zero_when_there_is_none_and_drops_nan():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=100), rng.normal(size=100)
    a[3] = np.nan
    d = paired_difference(a, b)
    assert d.n == 99 and not d.excludes_zero()


def test_paired_difference_refuses_unpaired_input():
    with pytest.raises(ValueError, match="one value per unit"):
        paired_difference([1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="at least 2 units"):
        paired_difference([1.0, np.nan], [1.0, 2.0])

"""Win rate with a bootstrap CI, implicit-reward accuracy, and the step-0 sanity check."""

from __future__ import annotations

import numpy as np
import pytest

from policy.evaluate import (
    evaluate_win_rate,
    heldout_accuracy,
    implicit_reward_accuracy,
    reference_completions,
    win_rate,
)
from policy.generate import SamplingConfig
from task.judges import SentimentJudge
from policy.train import DPORecipe, initial_models


def test_win_rate_counts_ties_half_and_brackets_the_rate():
    w = win_rate([1, 1, 1, 0.5, 0] * 40)
    assert w.rate == pytest.approx(0.7) and w.n == 200
    assert w.ci_low < 0.7 < w.ci_high and w.ci_high - w.ci_low < 0.15 and w.excludes_half()


def test_the_ci_covers_the_truth_about_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    hits = 0
    for seed in range(200):
        w = win_rate((rng.random(100) < 0.6).astype(float), n_boot=1000, seed=seed)
        hits += w.ci_low <= 0.6 <= w.ci_high
    assert 0.88 <= hits / 200 <= 0.99


def test_all_ties_give_exactly_half():
    w = win_rate([0.5] * 30)
    assert (w.rate, w.ci_low, w.ci_high) == (0.5, 0.5, 0.5) and not w.excludes_half()


def test_bad_outcomes_are_refused():
    with pytest.raises(ValueError, match="no judged pairs"):
        win_rate([])
    with pytest.raises(ValueError, match="outcomes"):
        win_rate([0.3])


def test_implicit_reward_accuracy():
    assert implicit_reward_accuracy([1.0, -2.0, 0.0, 3.0]) == pytest.approx(0.625)
    with pytest.raises(ValueError):
        implicit_reward_accuracy([])


def test_heldout_accuracy_brackets_the_share_of_agreeing_margins():
    h = heldout_accuracy([2.0, -1.0, 0.5, 0.0, 3.0] * 40)  # 3 agree, 1 disagrees, 1 tie: 0.7
    assert h.accuracy == pytest.approx(0.7) and h.n == 200
    assert h.ci_low < 0.7 < h.ci_high and 0.05 < h.ci_high - h.ci_low < 0.2
    assert h.metrics() == {"heldout_accuracy": h.accuracy, "heldout_ci_low": h.ci_low, "heldout_ci_high": h.ci_high,
                           "heldout_n": 200}
    assert heldout_accuracy([2.0, -1.0] * 20, seed=3) == heldout_accuracy([2.0, -1.0] * 20, seed=3)


def test_heldout_accuracy_of_the_reference_is_exactly_half():
    h = heldout_accuracy(np.zeros(30))  # the reference's margins: no interval BCa could give
    assert (h.accuracy, h.ci_low, h.ci_high, h.n) == (0.5, 0.5, 0.5, 30)


def test_heldout_interval_covers_the_truth_about_95_percent_of_the_time():
    rng = np.random.default_rng(1)
    hits = sum(
        (h := heldout_accuracy(np.where(rng.random(80) < 0.65, 1.0, -1.0), n_resamples=1000, seed=k)).ci_low
        <= 0.65 <= h.ci_high
        for k in range(200)
    )
    assert 0.88 <= hits / 200 <= 0.99


def test_heldout_accuracy_needs_two_pairs():
    with pytest.raises(ValueError, match="at least 2"):
        heldout_accuracy([1.0])
    with pytest.raises(ValueError, match="no labelled pairs"):
        heldout_accuracy([])


def test_at_step_zero_the_policy_ties_the_reference(tiny, prompts):
    models = initial_models(*tiny, DPORecipe(lora=True))
    cfg = SamplingConfig(max_new_tokens=8, temperature=0.7, seed=3)
    reference = reference_completions(models, prompts, cfg)
    report = evaluate_win_rate(models, prompts + ["word " * 400], reference + [None], SentimentJudge(), cfg)
    assert report.win.rate == 0.5 and report.win.n == 4 and report.skipped == 1

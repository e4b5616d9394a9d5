"""Pair generation: seeds, left padding, skipped prompts, identical and empty pairs."""

from __future__ import annotations

from collections import Counter

import numpy as np

from policy import generate
from policy.generate import SamplingConfig, complete, generate_pairs, sample, sample_logps
from policy.model import tiny_model
from policy.scoring import sequence_scores

CFG = SamplingConfig(max_new_tokens=10, batch_size=3, seed=7)


def test_pairs_are_seeded_and_distinct(tiny, prompts):
    m, tok = tiny
    a = generate_pairs(m, tok, prompts, CFG)
    b = generate_pairs(m, tok, prompts, CFG)
    c = generate_pairs(m, tok, prompts, SamplingConfig(max_new_tokens=10, batch_size=3, seed=8))
    assert a.index == list(range(4)) and a.completion_a == b.completion_a and a.completion_b == b.completion_b
    assert a.completion_a != c.completion_a
    assert all(x != y and x and y for x, y in zip(a.completion_a, a.completion_b))


def test_left_padding_does_not_change_greedy_output():
    m, tok = tiny_model(seed=1)
    greedy = SamplingConfig(max_new_tokens=8, temperature=0, batch_size=8)
    short, long = "a film", "a film about music, with a much longer prompt than the other one"
    alone = complete(m, tok, [short], greedy)
    batched = complete(m, tok, [long, short], greedy)
    assert alone[0] == batched[1] and alone[0]


def test_prompts_longer_than_the_context_are_skipped_and_counted(tiny):
    m, tok = tiny  # the tiny model's context is 256 positions
    long_prompt = "word " * 400
    pairs = generate_pairs(m, tok, ["a film", long_prompt, "a song"], CFG)
    assert pairs.index == [0, 2] and pairs.skipped == {1: "prompt_too_long"}
    assert complete(m, tok, [long_prompt], CFG) == [None]


def test_identical_and_empty_pairs_are_redrawn_then_dropped(monkeypatch):
    script = iter(
        [
            [["same", "same"], ["x", "y"], ["", "z"], ["same", "same"]],  # first draw for 4 prompts
            [["p", "q"], ["", ""], ["same", "same"]],  # redraw of prompts 0, 2, 3
            [["", "w"], ["again", "again"]],  # second redraw of prompts 2, 3
        ]
    )

    def fake_sample(model, tokenizer, prompts, n, cfg, *, progress=False, seed=None):
        texts = next(script)
        assert len(texts) == len(prompts)
        return generate.Samples(texts=texts, encoded=[[] for _ in texts])

    monkeypatch.setattr(generate, "sample", fake_sample)
    pairs = generate_pairs(None, None, ["p0", "p1", "p2", "p3"], SamplingConfig(max_resample=2))
    assert pairs.index == [0, 1] and pairs.completion_a == ["p", "x"]
    assert pairs.skipped == {2: "empty", 3: "identical"} and pairs.resampled == 5
    assert pairs.skip_counts == Counter({"empty": 1, "identical": 1})


def test_sample_logps_are_the_log_probs_of_the_sampled_tokens(tiny, prompts):
    m, tok = tiny
    cfg = SamplingConfig(max_new_tokens=6, temperature=1.0, seed=3)
    logps, index = sample_logps(m, tok, prompts[:2], 3, cfg)
    assert list(index) == [0, 0, 0, 1, 1, 1]
    drawn = sample(m, tok, prompts[:2], 3, cfg)
    encoded = [e for per_prompt in drawn.encoded for e in per_prompt]
    np.testing.assert_allclose(logps, sequence_scores(m, encoded).logps, rtol=1e-6)
    assert (logps < 0).all()

"""Sequence log-probs, features, the reference cache and margins."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from policy.scoring import ReferenceCache, encode, pair_scores, sequence_scores
from policy.train import DPORecipe, initial_models

COMPLETIONS = ["great acting, i loved it!", "boring", "the music was wonderful and the plot fun", "bad"]


def _naive_logp(model, prompt_ids, completion_ids):
    ids = torch.tensor([prompt_ids + completion_ids])
    logits = model(ids).logits[0].float().log_softmax(-1)
    return sum(logits[len(prompt_ids) + j - 1, t].item() for j, t in enumerate(completion_ids))


def test_logps_equal_a_plain_full_forward(tiny, prompts):
    m, tok = tiny
    enc = encode(tok, prompts, COMPLETIONS)
    got = sequence_scores(m, enc).logps
    want = [_naive_logp(m, p, c) for p, c in enc]
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_batching_does_not_change_the_result(tiny, prompts):
    m, tok = tiny
    enc = encode(tok, prompts * 3, COMPLETIONS * 3)
    one = sequence_scores(m, enc, max_batch=1, features=True)
    many = sequence_scores(m, enc, max_tokens=100_000, head_chunk=7, features=True)
    np.testing.assert_allclose(one.logps, many.logps, rtol=1e-5)
    np.testing.assert_allclose(one.features, many.features, rtol=1e-4, atol=1e-5)
    assert many.features.shape == (12, m.config.hidden_size)


def test_features_are_mean_last_layer_states_over_the_completion(tiny, prompts):
    m, tok = tiny
    (p, c), = encode(tok, prompts[:1], COMPLETIONS[:1])
    hidden = m.model(torch.tensor([p + c])).last_hidden_state[0]
    want = hidden[len(p) :].mean(0).detach().numpy()
    np.testing.assert_allclose(sequence_scores(m, [(p, c)], features=True).features[0], want, rtol=1e-4, atol=1e-6)


def test_completion_split_follows_the_chat_template(tiny):
    _, tok = tiny
    (p, c), = encode(tok, ["hello"], ["great"])
    assert tok.decode(p).endswith("<|im_start|>assistant\n")
    assert tok.decode(c) == "great<|im_end|>\n"


def test_reference_cache_scores_each_completion_once_and_persists(tiny, prompts, tmp_path):
    m, tok = tiny
    models = initial_models(m, tok, DPORecipe(lora=True))
    cache = ReferenceCache(tmp_path / "ref.json")
    first = cache.logps(models, prompts, COMPLETIONS)
    assert cache.misses == 4
    again = cache.logps(models, prompts + prompts[:1], COMPLETIONS + COMPLETIONS[:1])
    assert cache.misses == 4 and np.array_equal(again[:4], first)
    cache.save()
    reloaded = ReferenceCache(tmp_path / "ref.json")
    assert len(reloaded) == 4 and np.array_equal(reloaded.logps(models, prompts, COMPLETIONS), first)
    assert reloaded.misses == 0


def test_margins_are_exactly_zero_at_step_zero_and_features_are_differences(tiny, prompts):
    m, tok = tiny
    models = initial_models(m, tok, DPORecipe(lora=True))
    same = [prompts[0]] * 4
    s = pair_scores(models, ReferenceCache(), same, COMPLETIONS, COMPLETIONS[::-1], beta=0.1, features=True)
    assert np.array_equal(s.margins, np.zeros(4))
    np.testing.assert_allclose(s.features[0], -s.features[3], atol=1e-6)


def test_margins_move_when_the_policy_moves(tiny, prompts):
    m, tok = tiny
    models = initial_models(m, tok, DPORecipe(lora=False))
    with torch.no_grad():
        for p in models.policy.parameters():
            p.add_(0.05 * torch.randn_like(p))
    s = pair_scores(models, ReferenceCache(), prompts, COMPLETIONS, COMPLETIONS[::-1], beta=0.5)
    assert np.abs(s.margins).min() > 0
    np.testing.assert_allclose(s.margins, s.rewards_a - s.rewards_b)


def test_an_empty_completion_still_has_its_end_of_turn_tokens(tiny):
    m, tok = tiny
    (p, c), = encode(tok, ["hi"], [""])
    assert len(c) > 0 and np.isfinite(sequence_scores(m, [(p, c)]).logps).all()
    with pytest.raises(ValueError, match="no tokens"):
        sequence_scores(m, [(p, [])])

"""Sequence log-probs, features, the reference cache and margins."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from policy.scoring import ReferenceCache, encode, pair_scores, pair_sequence_scores, sequence_scores
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


@pytest.mark.parametrize("max_batch", [1, 3, 64])
def test_a_pair_packed_with_its_prompt_once_scores_as_two_sequences(tiny, prompts, max_batch):
    """Both sides in one row (prompt, a, b; b blind to a, at its own positions) give each
    side's log-prob and features as its own sequence would, in padded batches of any size,
    and a pair whose sides tokenise the prompt differently is scored apart, in order."""
    m, tok = tiny
    a_side = COMPLETIONS + ["ok", "the end"]
    b_side = COMPLETIONS[::-1] + ["a much longer reply than the other side has", "x"]
    both_prompts = (prompts * 2)[: len(a_side)]
    enc_a, enc_b = encode(tok, both_prompts, a_side), encode(tok, both_prompts, b_side)
    (p, c) = enc_b[2]
    enc_b[2] = (p[:-1], p[-1:] + c)  # this pair's b-side cuts the prompt one token earlier
    alone = sequence_scores(m, enc_a + enc_b, features=True)
    a, b = pair_sequence_scores(m, enc_a, enc_b, features=True, max_batch=max_batch)
    np.testing.assert_allclose(np.concatenate([a.logps, b.logps]), alone.logps, rtol=1e-5)
    np.testing.assert_allclose(np.concatenate([a.features, b.features]), alone.features, rtol=1e-4, atol=1e-5)
    assert list(a.n_tokens) == [len(x) for _, x in enc_a] and list(b.n_tokens) == [len(x) for _, x in enc_b]


def test_frozen_features_of_a_pair_are_each_sides_own(tiny, prompts):
    """The experiments' cached features and reference log-probs (``frozen_scores``) are
    each completion's sequence scores."""
    from app.experiments.features import frozen_scores

    m, tok = tiny
    got = frozen_scores(m, tok, prompts[:2], COMPLETIONS[:2], COMPLETIONS[2:])
    alone = sequence_scores(m, encode(tok, prompts[:2] * 2, COMPLETIONS), features=True)
    np.testing.assert_allclose(np.concatenate([got["ref_logp_a"], got["ref_logp_b"]]), alone.logps, rtol=1e-5)
    np.testing.assert_allclose(np.concatenate([got["features_a"], got["features_b"]]), alone.features, rtol=1e-4,
                               atol=1e-5)


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
    # pairs of every length, in several batches: the reference is scored as the policy is
    many = pair_scores(models, ReferenceCache(), prompts * 2, COMPLETIONS * 2, COMPLETIONS[::-1] + ["ok"] * 4, beta=0.1)
    assert np.array_equal(many.margins, np.zeros(8))


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

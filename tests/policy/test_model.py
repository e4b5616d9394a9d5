"""Loading models: local paths, clear errors, the tiny test model."""

from __future__ import annotations

import pytest
import torch

from policy import model as pm


def test_tiny_model_is_a_chat_model_with_a_local_tokenizer(tiny):
    m, tok = tiny
    assert m.config.model_type == "llama" and sum(p.numel() for p in m.parameters()) < 100_000
    ids = tok.apply_chat_template([{"role": "user", "content": "a great film"}], add_generation_prompt=True)
    text = tok.decode(ids["input_ids"] if isinstance(ids, dict) else ids)
    assert text.endswith("<|im_start|>assistant\n") and "a great film" in text
    assert tok.pad_token_id != tok.eos_token_id


def test_tiny_model_is_seeded():
    a, _ = pm.tiny_model(seed=3)
    b, _ = pm.tiny_model(seed=3)
    c, _ = pm.tiny_model(seed=4)
    wa, wb, wc = (next(m.parameters()) for m in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)


def test_load_reads_a_saved_model_directory(tiny, tmp_path):
    m, tok = tiny
    m.save_pretrained(tmp_path / "tiny")
    tok.save_pretrained(tmp_path / "tiny")
    loaded, tok2 = pm.load(tmp_path / "tiny", device="cpu")
    assert not loaded.training and loaded.device.type == "cpu"
    ids = torch.tensor([[1, 5, 9, 2]])
    torch.testing.assert_close(loaded(ids).logits, m(ids).logits)
    assert tok2.chat_template == tok.chat_template


def test_missing_path_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        pm.load(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        pm.load("./models/not-here")


def test_uncached_hub_id_is_refused_without_downloading():
    with pytest.raises(FileNotFoundError, match="never downloads"):
        pm.load("prefmarket-test/definitely-not-cached")


def test_non_causal_model_is_refused(tmp_path):
    from transformers import BertConfig, BertModel

    BertModel(BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32)).save_pretrained(tmp_path / "bert")
    with pytest.raises(ValueError, match="not a causal language model"):
        pm.load(tmp_path / "bert")


def test_lora_models_use_the_base_as_reference(tiny):
    from policy.train import DPORecipe, initial_models

    m, tok = tiny
    models = initial_models(m, tok, DPORecipe(lora=True))
    assert models.is_lora and models.reference is None
    with models.as_reference() as ref:
        assert ref is models.policy
    full = initial_models(*pm.tiny_model(), DPORecipe(lora=False))
    assert not full.is_lora and full.reference is not full.policy
    assert not any(p.requires_grad for p in full.reference.parameters())


def test_generation_copies_match_the_policy_and_the_reference(tiny):
    from policy.train import DPORecipe, initial_models

    models = initial_models(*tiny, DPORecipe(lora=True))
    with torch.no_grad():
        for name, p in models.policy.named_parameters():
            if "lora_B" in name:
                p.add_(0.1)
    ids = torch.tensor([[1, 5, 9, 2, 7]])
    with torch.no_grad():
        policy_logits = models.policy(ids).logits
        with models.as_reference() as ref:
            reference_logits = ref(ids).logits
        with models.for_generation() as merged:
            torch.testing.assert_close(merged(ids).logits, policy_logits, rtol=1e-4, atol=1e-5)
        with models.for_generation(reference=True) as base:
            torch.testing.assert_close(base(ids).logits, reference_logits)
        assert not torch.allclose(policy_logits, reference_logits)
        torch.testing.assert_close(models.policy(ids).logits, policy_logits)  # the policy itself is untouched

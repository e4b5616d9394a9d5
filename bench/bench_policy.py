"""The policy's costs, each beside a baseline measured in the same run.

1. Scoring: each acquisition function over the same pairs, against a bare forward pass of
   policy and reference over the same completions (plain ``model(input_ids).logits``).
   Target: sharp and wsharp within 1.3x of the bare pass with a cold reference cache
   (both models run); with a warm cache only the policy runs. APL also samples
   ``N`` completions per prompt, so it is reported but has no target.
2. ADPO: greedy D-optimal selection of 1,000 of 100,000 candidates at d = 576 (target
   <= 2 s), on isotropic Gaussian features (the worst case for the lazy bounds) and on
   features with a decaying spectrum (closer to a language model's); the baseline is the
   plain greedy (every gain updated every pick), timed on 50 picks and scaled to 1,000.
   Packing: both sides of a pair with the prompt run once, against each side on its own,
   on pairs with long prompts (HH's shape); target at most 0.9x.
3. DPO samples/s: full and LoRA, with the reference log-probs precomputed by prefmarket's
   cache, against plain TRL (reference computed on the fly) on the same pairs.

The model is the embedded default (SmolLM2-135M-Instruct); ``PREFMARKET_BENCH_MODEL=tiny``
uses the tiny test model for a quick smoke run.
"""

from __future__ import annotations

import copy
import os
import tempfile
import time

import numpy as np

from bench.common import Figure, best_of, show

N_PAIRS = 16  # a 135M forward over 32 completions already takes seconds on two CPU cores
DPO_PAIRS = 16
DPO_STEPS = 2
REPEATS = 2


def _models():
    from policy.model import configure_threads, load, tiny_model

    configure_threads()
    if os.environ.get("PREFMARKET_BENCH_MODEL") == "tiny":
        return tiny_model()
    return load(os.environ.get("PREFMARKET_BENCH_MODEL") or None)


def _pairs(n: int, seed: int = 0):
    """Review-like completions of 20-45 words, built from a word list (no sampling needed)."""
    from task import prompts as task

    rng = np.random.default_rng(seed)
    vocab = (
        "the film is a great wonderful boring slow moving story with brilliant acting and a weak plot "
        "but the music was lovely while the ending felt rushed and the characters were dull or fun"
    ).split()
    prompts = task.prompts("train", n, seed=seed)

    def text():
        return " ".join(rng.choice(vocab, size=rng.integers(20, 46))).capitalize() + "."

    return prompts, [text() for _ in range(n)], [text() for _ in range(n)]


# ----------------------------------------------------------------------------- 1. scoring


def _bare_pass(models, prompts, a, b) -> float:
    """Plain forward passes of policy and reference over the same padded batches the scorer uses."""
    import torch

    from policy.scoring import length_batches, encode

    encoded = encode(models.tokenizer, prompts + prompts, a + b)
    lengths = np.array([len(p) + len(c) for p, c in encoded])
    batches = []
    for idx in length_batches(lengths, 8192, 64):
        width = int(lengths[idx].max())
        ids = torch.zeros((len(idx), width), dtype=torch.long)
        mask = torch.zeros((len(idx), width), dtype=torch.long)
        for row, i in enumerate(idx):
            seq = encoded[i][0] + encoded[i][1]
            ids[row, : len(seq)] = torch.tensor(seq)
            mask[row, : len(seq)] = 1
        batches.append((ids, mask))

    @torch.no_grad()
    def run():
        for model in (models.policy, models.reference):
            for ids, mask in batches:
                model(input_ids=ids, attention_mask=mask, use_cache=False).logits

    return best_of(run, repeats=REPEATS)


def bench_scoring(model, tokenizer) -> list[Figure]:
    from policy.acquire import AcquisitionConfig, score_pool
    from policy.model import PolicyModels
    from policy.scoring import ReferenceCache

    reference = model.eval().requires_grad_(False)
    policy = copy.deepcopy(reference)
    models = PolicyModels(policy=policy, tokenizer=tokenizer, reference=reference)
    prompts, a, b = _pairs(N_PAIRS)
    bare = _bare_pass(models, prompts, a, b)
    figures = []
    for method in ("random", "sharp", "wsharp", "adpo", "apl"):
        cfg = AcquisitionConfig(method=method, n_select=4, apl_f_pair=2, apl_f_prompt=2, apl_samples=4, apl_max_new_tokens=24)
        cold = best_of(lambda: score_pool(models, ReferenceCache(), prompts, a, b, cfg), repeats=REPEATS)
        target = "<= 1.3x" if method in ("sharp", "wsharp") else ""
        figures.append(Figure(
            "policy", f"score {N_PAIRS} pairs: {method}, cold reference cache", cold * 1e3, "ms",
            "bare policy+reference forward", bare * 1e3, target, ok=(cold <= 1.3 * bare) if target else None,
        ))
        if method in ("sharp", "wsharp"):
            warm_cache = ReferenceCache()
            score_pool(models, warm_cache, prompts, a, b, cfg)
            warm = best_of(lambda: score_pool(models, warm_cache, prompts, a, b, cfg), repeats=REPEATS)
            figures.append(Figure(
                "policy", f"score {N_PAIRS} pairs: {method}, warm reference cache", warm * 1e3, "ms",
                "bare policy+reference forward", bare * 1e3, "", None,
            ))
    return figures


def bench_packing(model, tokenizer) -> list[Figure]:
    """Both sides of each pair with the prompt run once (``pair_sequence_scores``), against
    each side as its own sequence (``sequence_scores``), on pairs shaped like HH's (prompts
    about three times as long as replies: median 98 and 30 tokens)."""
    from policy.scoring import encode, pair_sequence_scores, sequence_scores

    prompts, a, b = _pairs(N_PAIRS, seed=1)
    long_prompts = [" ".join([p] + [q for q in (a + b)[k : k + 3]]) for k, p in enumerate(prompts)]
    enc_a, enc_b = encode(tokenizer, long_prompts, a), encode(tokenizer, long_prompts, b)
    model = model.eval().requires_grad_(False)
    alone = best_of(lambda: sequence_scores(model, enc_a + enc_b), repeats=REPEATS)
    packed = best_of(lambda: pair_sequence_scores(model, enc_a, enc_b), repeats=REPEATS)
    tokens = sum(len(p) + len(c) for p, c in enc_a + enc_b)
    shared = sum(len(p) + len(x) + len(y) for (p, x), (_, y) in zip(enc_a, enc_b, strict=True))
    return [Figure("policy", f"score {N_PAIRS} long-prompt pairs, prompt run once ({shared} tokens, not {tokens})",
                   packed * 1e3, "ms", "each side on its own", alone * 1e3, "<= 0.9x", ok=packed <= 0.9 * alone)]


# ----------------------------------------------------------------------------- 2. ADPO


def _naive_greedy(V, picks, gamma=1.0):
    gains = np.einsum("ij,ij->i", V, V).astype(np.float64) / gamma
    U = []
    for _ in range(picks):
        i = int(np.argmax(gains))
        v = V[i].astype(np.float64)
        u = v / gamma - sum(us * (us @ v) / cs for us, cs in U) if U else v / gamma
        c = 1.0 + v @ u
        U.append((u, c))
        gains -= (V @ u.astype(V.dtype)).astype(np.float64) ** 2 / c
        gains[i] = -np.inf


def bench_adpo() -> list[Figure]:
    from policy.acquisition import greedy_d_optimal

    rng = np.random.default_rng(0)
    n, d, k = 100_000, 576, 1000
    spectra = {
        "isotropic": np.ones(d, dtype=np.float32),
        "decaying spectrum": (1.0 / np.sqrt(np.arange(1, d + 1))).astype(np.float32),
    }
    figures = []
    for name, scale in spectra.items():
        V = rng.standard_normal((n, d), dtype=np.float32) * scale
        V /= np.sqrt(np.einsum("ij,ij->i", V, V).max())
        t0 = time.perf_counter()
        _naive_greedy(V, 50)
        naive = (time.perf_counter() - t0) * k / 50
        fast = best_of(lambda: greedy_d_optimal(V, k), repeats=REPEATS)
        figures.append(Figure(
            "policy", f"adpo: greedy D-optimal, {k:,} of {n:,} at d={d} ({name})", fast, "s",
            "plain greedy (50 picks, scaled to 1,000)", naive, "<= 2 s", ok=fast <= 2.0,
        ))
    return figures


# ----------------------------------------------------------------------------- 3. DPO


def _dpo_pairs_per_s(models, pairs, recipe, *, precomputed: bool) -> float:
    """Pairs per second of ``trainer.train()`` over ``DPO_STEPS`` steps (dataset preparation excluded).

    ``precomputed``: prefmarket's trainer reading cached reference log-probs. Otherwise plain
    TRL: full fine-tuning runs the reference model on every batch; LoRA is handed to TRL as
    base model + ``peft_config`` and TRL disables the adapter for the reference pass.
    """
    from policy.scoring import ReferenceCache
    from policy.train import PreferenceDPOTrainer, WeightedPreferenceCollator, preference_dataset
    from trl import DPOTrainer

    out = tempfile.mkdtemp(prefix="bench-dpo-")
    tok = models.tokenizer
    dataset = preference_dataset(models, pairs, ReferenceCache(), weights=False)
    if precomputed:
        trainer = PreferenceDPOTrainer(
            model=models.policy, args=recipe.dpo_config(out), train_dataset=dataset, processing_class=tok,
            data_collator=WeightedPreferenceCollator(pad_token_id=tok.pad_token_id),
        )
    else:
        plain = dataset.remove_columns(["ref_chosen_logps", "ref_rejected_logps"])
        kwargs = (
            {"model": models.policy.unload(), "peft_config": recipe.lora_config()}
            if models.is_lora
            else {"model": models.policy.requires_grad_(True), "ref_model": models.reference}
        )
        trainer = DPOTrainer(args=recipe.dpo_config(out, precompute=False), train_dataset=plain, processing_class=tok, **kwargs)
    t0 = time.perf_counter()
    trainer.train()
    return DPO_STEPS * recipe.batch_size / (time.perf_counter() - t0)


def bench_dpo(load_models) -> list[Figure]:
    from policy.train import DPORecipe, PreferencePair, initial_models

    prompts, a, b = _pairs(DPO_PAIRS, seed=1)
    pairs = [PreferencePair(p, x, y) for p, x, y in zip(prompts, a, b)]
    rate = {}
    for lora in (False, True):
        recipe = DPORecipe(lora=lora, max_steps=DPO_STEPS, batch_size=DPO_PAIRS // DPO_STEPS)
        for precomputed in (False, True):
            models = initial_models(*load_models(), recipe)
            rate[lora, precomputed] = _dpo_pairs_per_s(models, pairs, recipe, precomputed=precomputed)
    base = "plain TRL, full fine-tuning"
    return [
        Figure("policy", "DPO full, reference precomputed (prefmarket)", rate[False, True], "pairs/s", base, rate[False, False], ">= 1x", ok=rate[False, True] >= rate[False, False]),
        Figure("policy", "DPO LoRA, plain TRL (adapter off for the reference)", rate[True, False], "pairs/s", base, rate[False, False], "", None),
        Figure("policy", "DPO LoRA, reference precomputed (prefmarket)", rate[True, True], "pairs/s", base, rate[False, False], "", None),
        Figure("policy", "DPO LoRA, reference precomputed vs on the fly", rate[True, True], "pairs/s", "plain TRL, LoRA", rate[True, False], ">= 1x", ok=rate[True, True] >= rate[True, False]),
    ]


def main() -> list[Figure]:
    import torch

    device = "cuda" if torch.cuda.is_available() else f"cpu, {torch.get_num_threads()} threads"
    figures = bench_adpo()
    show(figures, f"ADPO selection ({device})")
    model, tokenizer = _models()
    scoring = bench_scoring(model, tokenizer) + bench_packing(model, tokenizer)
    show(scoring, f"Scoring {N_PAIRS} pairs ({device})")
    dpo = bench_dpo(_models)
    show(dpo, f"DPO throughput, {DPO_STEPS} steps of {DPO_PAIRS // DPO_STEPS} pairs ({device})")
    return figures + scoring + dpo


if __name__ == "__main__":
    main()

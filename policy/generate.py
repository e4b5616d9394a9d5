"""Sampling completions: two per prompt for the pool, one per prompt for evaluation, N for APL.

Prompts are formatted with the model's chat template and left-padded into batches. Sampling
is seeded once per call, so the same prompts, batch size and seed give the same completions.

Bad input is skipped and counted, never fatal:
- ``prompt_too_long``: the prompt plus ``max_new_tokens`` would not fit the model's context;
- ``identical``: both completions of a pair came out the same even after ``max_resample``
  fresh draws (a pair nobody can label);
- ``empty``: a completion had no text even after the redraws (the market refuses empty
  completions, and there is nothing to compare).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from policy.model import context_length
from policy.scoring import Encoded, encode_prompt, sequence_scores


@dataclass
class SamplingConfig:
    max_new_tokens: int = 48
    temperature: float = 0.8  # 0 means greedy decoding
    top_p: float = 1.0
    batch_size: int = 16  # prompts per generate() call
    seed: int = 0
    max_resample: int = 2  # fresh draws for a pair whose two completions are identical


@dataclass
class Samples:
    """``n`` completions for each prompt that fit the context; skipped prompts have none."""

    texts: list[list[str]]
    encoded: list[list[Encoded]]  # the sampled token ids (completion ends with EOS if one was produced)
    skipped: dict[int, str] = field(default_factory=dict)  # prompt index -> reason


@dataclass
class PairSet:
    """Two distinct completions for the prompts at ``index``; the rest are counted in ``skipped``."""

    index: list[int]
    completion_a: list[str]
    completion_b: list[str]
    skipped: dict[int, str] = field(default_factory=dict)  # prompt index -> reason
    resampled: int = 0  # extra draws spent on identical or empty pairs

    @property
    def skip_counts(self) -> Counter:
        return Counter(self.skipped.values())


def _eos_ids(model, tokenizer) -> set[int]:
    ids = {tokenizer.eos_token_id}
    configured = model.generation_config.eos_token_id
    ids.update(configured if isinstance(configured, list) else [configured])
    return {i for i in ids if i is not None}


@torch.no_grad()
def sample(
    model, tokenizer, prompts: Sequence[str], n: int, cfg: SamplingConfig, *, progress: bool = False, seed: int | None = None
) -> Samples:
    """Draw ``n`` completions for each prompt (``n`` must be 1 for greedy decoding)."""
    if cfg.temperature == 0 and n != 1:
        raise ValueError("greedy decoding (temperature 0) gives one completion per prompt")
    torch.manual_seed(cfg.seed if seed is None else seed)
    limit = context_length(model)
    eos = _eos_ids(model, tokenizer)
    pad = tokenizer.pad_token_id
    device = next(model.parameters()).device
    out = Samples(texts=[[] for _ in prompts], encoded=[[] for _ in prompts])
    fits = []
    for i, prompt in enumerate(prompts):
        ids = encode_prompt(tokenizer, prompt)
        if len(ids) + cfg.max_new_tokens > limit:
            out.skipped[i] = "prompt_too_long"
        else:
            fits.append((i, ids))
    batches = [fits[s : s + cfg.batch_size] for s in range(0, len(fits), cfg.batch_size)]
    sampling = (
        {"do_sample": True, "temperature": cfg.temperature, "top_p": cfg.top_p, "top_k": 0}
        if cfg.temperature > 0
        else {"do_sample": False}
    )
    for batch in tqdm(batches, desc="sampling", disable=not progress, leave=False):
        width = max(len(ids) for _, ids in batch)
        input_ids = torch.full((len(batch), width), pad, dtype=torch.long)
        attention = torch.zeros((len(batch), width), dtype=torch.long)
        for row, (_, ids) in enumerate(batch):
            input_ids[row, width - len(ids) :] = torch.tensor(ids)
            attention[row, width - len(ids) :] = 1
        generated = model.generate(
            input_ids=input_ids.to(device),
            attention_mask=attention.to(device),
            max_new_tokens=cfg.max_new_tokens,
            num_return_sequences=n,
            pad_token_id=pad,
            eos_token_id=sorted(eos),
            **sampling,
        )[:, width:].tolist()
        for j, tokens in enumerate(generated):
            i, prompt_ids = batch[j // n]
            completion = _until_eos(tokens, eos)
            text_ids = completion[:-1] if completion and completion[-1] in eos else completion
            out.texts[i].append(tokenizer.decode(text_ids, skip_special_tokens=True).strip())
            out.encoded[i].append((prompt_ids, completion))
    return out


def _until_eos(tokens: list[int], eos: set[int]) -> list[int]:
    for k, tok in enumerate(tokens):
        if tok in eos:
            return tokens[: k + 1]
    return tokens


def _pair_problem(texts: list[str]) -> str | None:
    if not texts[0] or not texts[1]:
        return "empty"
    return "identical" if texts[0] == texts[1] else None


def generate_pairs(
    model, tokenizer, prompts: Sequence[str], cfg: SamplingConfig, *, progress: bool = False
) -> PairSet:
    """Two distinct, non-empty completions per prompt; bad pairs are redrawn, then dropped and counted."""
    first = sample(model, tokenizer, prompts, 2, cfg, progress=progress)
    pairs: dict[int, tuple[str, str]] = {}
    problems: dict[int, str] = {}
    for i, texts in enumerate(first.texts):
        if not texts:
            continue  # skipped (too long), already counted
        problem = _pair_problem(texts)
        if problem is None:
            pairs[i] = (texts[0], texts[1])
        else:
            problems[i] = problem
    result = PairSet(index=[], completion_a=[], completion_b=[], skipped=dict(first.skipped))
    for attempt in range(1, cfg.max_resample + 1):
        if not problems:
            break
        pending = sorted(problems)
        result.resampled += len(pending)
        redraw = sample(model, tokenizer, [prompts[i] for i in pending], 2, cfg, seed=cfg.seed + attempt)
        for i, texts in zip(pending, redraw.texts, strict=True):
            problem = _pair_problem(texts)
            if problem is None:
                pairs[i] = (texts[0], texts[1])
                del problems[i]
            else:
                problems[i] = problem
    result.skipped.update(problems)
    for i in sorted(pairs):
        result.index.append(i)
        result.completion_a.append(pairs[i][0])
        result.completion_b.append(pairs[i][1])
    return result


def complete(model, tokenizer, prompts: Sequence[str], cfg: SamplingConfig, *, seed: int | None = None, progress: bool = False) -> list[str | None]:
    """One completion per prompt (``None`` where the prompt was skipped as too long)."""
    s = sample(model, tokenizer, prompts, 1, cfg, seed=seed, progress=progress)
    return [texts[0] if texts else None for texts in s.texts]


def sample_logps(model, tokenizer, prompts: Sequence[str], n: int, cfg: SamplingConfig, *, progress: bool = False):
    """APL's Monte-Carlo inputs: ``n`` samples per prompt and their summed log-probs under ``model``.

    Returns ``(logps, prompt_index)`` as flat arrays: sample ``j`` was drawn for prompt
    ``prompt_index[j]``. Log-probs are of the sampled token ids themselves (not of a
    re-tokenisation of their text), at temperature 1 as APL specifies via ``cfg``.
    """
    s = sample(model, tokenizer, prompts, n, cfg, progress=progress)
    encoded, index = [], []
    for i, enc in enumerate(s.encoded):
        for e in enc:
            if e[1]:
                encoded.append(e)
                index.append(i)
    logps = sequence_scores(model, encoded, progress=progress).logps if encoded else np.zeros(0)
    return logps, np.asarray(index, dtype=np.int64)

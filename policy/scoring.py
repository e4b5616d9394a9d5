"""Batched fp32 sequence log-probs and last-layer features: the primitive every acquisition needs.

The implicit reward of a completion is ``r̂(x, y) = β [log πθ(y|x) − log πref(y|x)]`` with both
log-probs summed over the completion's tokens. Three choices keep it cheap and comparable:

- Tokenisation follows TRL's conversational format exactly (chat template over the prompt
  turn, then over prompt + assistant turn, the completion being where the two diverge), so a
  margin computed here is the margin TRL's DPO loss sees.
- Each forward pass runs the backbone once and projects only the completion positions through
  the LM head, in fp32; prompt positions never build a vocabulary-sized row.
- Reference log-probs never change, so ``ReferenceCache`` keeps them: a completion goes through
  the reference model once in its life and through the policy once per scoring.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from market import files
from policy.model import PolicyModels

Encoded = tuple[list[int], list[int]]  # (prompt ids, completion ids)


def chat_prompt(prompt: str) -> list[dict]:
    return [{"role": "user", "content": prompt}]


def encode_prompt(tokenizer, prompt: str) -> list[int]:
    """Token ids of the prompt turn followed by the assistant's generation header."""
    return _ids(tokenizer.apply_chat_template(chat_prompt(prompt), add_generation_prompt=True, tokenize=True, return_dict=True))


def encode(tokenizer, prompts: Sequence[str], completions: Sequence[str]) -> list[Encoded]:
    """Split each (prompt, completion) into prompt ids and completion ids the way TRL's DPO does."""
    if len(prompts) != len(completions):
        raise ValueError(f"{len(prompts)} prompts but {len(completions)} completions")
    prompt_cache: dict[str, list[int]] = {}
    out = []
    for prompt, completion in zip(prompts, completions, strict=True):
        if prompt not in prompt_cache:
            prompt_cache[prompt] = encode_prompt(tokenizer, prompt)
        prompt_ids = prompt_cache[prompt]
        messages = chat_prompt(prompt) + [{"role": "assistant", "content": completion}]
        full = _ids(tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True))
        split = _common_prefix(prompt_ids, full)
        out.append((full[:split], full[split:]))
    return out


def _ids(encoding) -> list[int]:
    ids = encoding["input_ids"]
    return list(ids[0] if ids and isinstance(ids[0], list) else ids)


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def fits_context(encoded: Sequence[Encoded], limit: int) -> np.ndarray:
    """Which encoded sequences the model's positions cover (longer ones cannot be scored)."""
    return np.array([len(p) + len(c) <= limit for p, c in encoded], dtype=bool)


# ----------------------------------------------------------------------------- forward passes


@dataclass
class SequenceScores:
    logps: np.ndarray  # (n,) float64: summed completion-token log-probs (computed in fp32)
    n_tokens: np.ndarray  # (n,) completion lengths in tokens
    features: np.ndarray | None = None  # (n, d) float32: mean last-layer state over the completion


def _backbone_and_head(model):
    """The transformer trunk and the LM head, looked through a PEFT wrapper if there is one."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    return inner.base_model, inner.get_output_embeddings()


def length_batches(lengths: np.ndarray, max_tokens: int, max_batch: int) -> list[np.ndarray]:
    """Indices grouped longest first so that each padded batch holds at most ``max_tokens`` tokens."""
    order = np.argsort(-lengths, kind="stable")
    batches, start = [], 0
    while start < len(order):
        width = int(lengths[order[start]])
        size = max(1, min(max_batch, max_tokens // max(width, 1)))
        batches.append(order[start : start + size])
        start += size
    return batches


@torch.no_grad()
def sequence_scores(
    model,
    encoded: Sequence[Encoded],
    *,
    features: bool = False,
    max_tokens: int = 8192,
    max_batch: int = 64,
    head_chunk: int = 2048,
    progress: bool = False,
) -> SequenceScores:
    """Summed completion log-probs (and, if asked, mean-pooled last-layer features) for each sequence."""
    n = len(encoded)
    lengths = np.array([len(p) + len(c) for p, c in encoded], dtype=np.int64)
    n_tokens = np.array([len(c) for _, c in encoded], dtype=np.int64)
    if n and n_tokens.min() == 0:
        raise ValueError("a completion has no tokens; drop empty completions before scoring")
    backbone, head = _backbone_and_head(model)
    device = head.weight.device
    pad = int(model.config.pad_token_id or 0)
    logps = np.zeros(n, dtype=np.float64)
    feats = np.zeros((n, head.weight.shape[1]), dtype=np.float32) if features else None
    for idx in tqdm(length_batches(lengths, max_tokens, max_batch), desc="scoring", disable=not progress, leave=False):
        width = int(lengths[idx].max())
        ids = torch.full((len(idx), width), pad, dtype=torch.long)
        attn = torch.zeros((len(idx), width), dtype=torch.long)
        completion = torch.zeros((len(idx), width), dtype=torch.bool)
        for row, i in enumerate(idx):
            p, c = encoded[i]
            ids[row, : len(p) + len(c)] = torch.tensor(p + c)
            attn[row, : len(p) + len(c)] = 1
            completion[row, len(p) : len(p) + len(c)] = True
        ids, attn, completion = ids.to(device), attn.to(device), completion.to(device)
        hidden = backbone(input_ids=ids, attention_mask=attn, use_cache=False).last_hidden_state
        # the token at position t is predicted from the state at t - 1
        predicts = completion[:, 1:]
        states = hidden[:, :-1][predicts]
        targets = ids[:, 1:][predicts]
        rows = torch.arange(len(idx), device=device).unsqueeze(1).expand_as(predicts)[predicts]
        token_logps = torch.cat(
            [
                _token_logps(head, states[s : s + head_chunk], targets[s : s + head_chunk])
                for s in range(0, len(targets), head_chunk)
            ]
        )
        sums = torch.zeros(len(idx), dtype=torch.float32, device=device).index_add_(0, rows, token_logps)
        logps[idx] = sums.cpu().double().numpy()
        if feats is not None:
            pooled = torch.zeros((len(idx), hidden.shape[-1]), dtype=torch.float32, device=device)
            crow = torch.arange(len(idx), device=device).unsqueeze(1).expand_as(completion)[completion]
            pooled.index_add_(0, crow, hidden[completion].float())
            feats[idx] = (pooled / completion.sum(1, keepdim=True)).cpu().numpy()
    return SequenceScores(logps=logps, n_tokens=n_tokens, features=feats)


PROMPT, SIDE_A, SIDE_B, PAD = 0, 1, 2, -1  # the segments of a packed pair's row


@torch.no_grad()
def pair_sequence_scores(
    model,
    encoded_a: Sequence[Encoded],
    encoded_b: Sequence[Encoded],
    *,
    features: bool = False,
    max_tokens: int = 8192,
    max_batch: int = 64,
    head_chunk: int = 2048,
    progress: bool = False,
) -> tuple[SequenceScores, SequenceScores]:
    """:func:`sequence_scores` of both sides of each pair, running each pair's prompt once.

    A pair is packed into one row, prompt then a then b, under an attention mask in which
    b's tokens see the prompt and each other but not a, at the positions they would have
    alone; so each token's state is what it would be in its own sequence (equal to float
    rounding: 1e-6 relative on the embedded model), for the prompt's tokens once instead of
    twice. On pairs shaped like HH's, where prompts are longer than replies, that is 40%
    fewer tokens and about half the time on a CPU (``python -m bench policy``). A pair
    whose two sides tokenise the prompt differently is scored as two sequences."""
    if len(encoded_a) != len(encoded_b):
        raise ValueError(f"{len(encoded_a)} a-sides but {len(encoded_b)} b-sides")
    n = len(encoded_a)
    together = np.array([pa == pb for (pa, _), (pb, _) in zip(encoded_a, encoded_b, strict=True)], dtype=bool)
    backbone, head = _backbone_and_head(model)
    device = head.weight.device
    dim = head.weight.shape[1]
    logps = np.zeros((2, n), dtype=np.float64)
    feats = np.zeros((2, n, dim), dtype=np.float32) if features else None
    apart = np.flatnonzero(~together)
    if len(apart):
        alone = sequence_scores(model, [encoded_a[i] for i in apart] + [encoded_b[i] for i in apart], features=features,
                                max_tokens=max_tokens, max_batch=max_batch, head_chunk=head_chunk)
        logps[:, apart] = alone.logps.reshape(2, -1)
        if feats is not None:
            feats[:, apart] = alone.features.reshape(2, len(apart), dim)
    packed = np.flatnonzero(together)
    lengths = np.array([len(encoded_a[i][0]) + len(encoded_a[i][1]) + len(encoded_b[i][1]) for i in packed],
                       dtype=np.int64)
    if len(packed) and min(min(len(encoded_a[i][1]), len(encoded_b[i][1])) for i in packed) == 0:
        raise ValueError("a completion has no tokens; drop empty completions before scoring")
    pad = int(model.config.pad_token_id or 0)
    for batch in tqdm(length_batches(lengths, max_tokens, max_batch), desc="scoring pairs", disable=not progress,
                      leave=False):
        idx = packed[batch]
        width = int(lengths[batch].max())
        ids = torch.full((len(idx), width), pad, dtype=torch.long)
        positions = torch.zeros((len(idx), width), dtype=torch.long)
        segment = torch.full((len(idx), width), PAD, dtype=torch.long)
        predictor = torch.zeros((len(idx), width), dtype=torch.long)  # the position whose state predicts each token
        for row, i in enumerate(idx):
            (p, a), (_, b) = encoded_a[i], encoded_b[i]
            lp, la, lb = len(p), len(a), len(b)
            ids[row, : lp + la + lb] = torch.tensor(p + a + b)
            positions[row, : lp + la + lb] = torch.cat([torch.arange(lp + la), torch.arange(lp, lp + lb)])
            segment[row, :lp], segment[row, lp : lp + la], segment[row, lp + la : lp + la + lb] = PROMPT, SIDE_A, SIDE_B
            predictor[row, : lp + la + lb] = torch.arange(-1, lp + la + lb - 1)
            predictor[row, lp + la] = lp - 1  # b's first token follows the prompt, not a
        causal = torch.ones((width, width), dtype=torch.bool).tril()
        sees = causal & ((segment.unsqueeze(2) == segment.unsqueeze(1)) | (segment.unsqueeze(1) == PROMPT))
        sees &= (segment != PAD).unsqueeze(1)
        sees |= torch.eye(width, dtype=torch.bool) & (segment == PAD).unsqueeze(2)  # a pad attends to itself only
        hidden = backbone(input_ids=ids.to(device), attention_mask=sees.unsqueeze(1).to(device),
                          position_ids=positions.to(device), use_cache=False).last_hidden_state
        completion = (segment == SIDE_A) | (segment == SIDE_B)
        rows = torch.arange(len(idx)).unsqueeze(1).expand_as(completion)[completion]
        states = hidden[rows.to(device), predictor[completion].to(device)]
        targets = ids[completion].to(device)
        token_logps = torch.cat([_token_logps(head, states[s : s + head_chunk], targets[s : s + head_chunk])
                                 for s in range(0, len(targets), head_chunk)])
        slot = (rows * 2 + (segment[completion] == SIDE_B).long()).to(device)  # (pair, side) of each token
        sums = torch.zeros(2 * len(idx), dtype=torch.float32, device=device).index_add_(0, slot, token_logps)
        logps[:, idx] = sums.view(len(idx), 2).T.cpu().double().numpy()
        if feats is not None:
            pooled = torch.zeros((2 * len(idx), dim), dtype=torch.float32, device=device)
            pooled.index_add_(0, slot, hidden[completion.to(device)].float())
            counts = torch.zeros(2 * len(idx), dtype=torch.float32, device=device).index_add_(
                0, slot, torch.ones_like(token_logps))
            feats[:, idx] = (pooled / counts.unsqueeze(1)).view(len(idx), 2, dim).transpose(0, 1).cpu().numpy()
    n_a = np.array([len(c) for _, c in encoded_a], dtype=np.int64)
    n_b = np.array([len(c) for _, c in encoded_b], dtype=np.int64)
    return (SequenceScores(logps[0], n_a, None if feats is None else feats[0]),
            SequenceScores(logps[1], n_b, None if feats is None else feats[1]))


def _token_logps(head, states: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    logits = head(states).float()
    return logits.gather(1, targets.unsqueeze(1)).squeeze(1) - torch.logsumexp(logits, dim=-1)


# ----------------------------------------------------------------------------- the reference cache


class ReferenceCache:
    """Reference log-probs keyed by (prompt, completion), optionally persisted as JSON.

    The reference never changes during a campaign, so each completion is scored by it once;
    scoring rounds, DPO's precomputed reference and evaluation all read from here.
    """

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = Path(path) if path is not None else None
        self._values: dict[str, float] = {}
        if self.path is not None and self.path.exists():
            self._values = json.loads(self.path.read_text())
        self.misses = 0  # completions scored by the reference through this cache

    @staticmethod
    def key(prompt: str, completion: str) -> str:
        return hashlib.sha1(f"{prompt}\x00{completion}".encode()).hexdigest()

    def __len__(self) -> int:
        return len(self._values)

    def logps(
        self,
        models: PolicyModels,
        prompts: Sequence[str],
        completions: Sequence[str],
        *,
        encoded: Sequence[Encoded] | None = None,
        progress: bool = False,
    ) -> np.ndarray:
        keys = [self.key(p, c) for p, c in zip(prompts, completions, strict=True)]
        unique: dict[str, int] = {}  # first position of each key the cache lacks
        for i, k in enumerate(keys):
            if k not in self._values:
                unique.setdefault(k, i)
        if unique:
            todo = list(unique.values())
            enc = [encoded[i] for i in todo] if encoded is not None else encode(
                models.tokenizer, [prompts[i] for i in todo], [completions[i] for i in todo]
            )
            with models.as_reference() as reference:
                values = sequence_scores(reference, enc, progress=progress).logps
            self._values.update({keys[i]: float(v) for i, v in zip(todo, values, strict=True)})
            self.misses += len(todo)
        return np.array([self._values[k] for k in keys], dtype=np.float64)

    def pair_logps(
        self,
        models: PolicyModels,
        prompts: Sequence[str],
        completions_a: Sequence[str],
        completions_b: Sequence[str],
        *,
        encoded_a: Sequence[Encoded],
        encoded_b: Sequence[Encoded],
        progress: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Both sides' reference log-probs. Pairs the cache lacks on both sides are scored
        packed, as :func:`pair_scores` scores the policy, so that a policy still equal to
        the reference gets margins of exactly zero (SHARP's first round then breaks its
        ties at random, not by rounding noise)."""
        keys_a = [self.key(p, c) for p, c in zip(prompts, completions_a, strict=True)]
        keys_b = [self.key(p, c) for p, c in zip(prompts, completions_b, strict=True)]
        todo = [i for i, (ka, kb) in enumerate(zip(keys_a, keys_b, strict=True))
                if ka not in self._values and kb not in self._values]
        if todo:
            with models.as_reference() as reference:
                a, b = pair_sequence_scores(reference, [encoded_a[i] for i in todo], [encoded_b[i] for i in todo],
                                            progress=progress)
            new = {keys_a[i]: float(v) for i, v in zip(todo, a.logps, strict=True)}
            new.update({keys_b[i]: float(v) for i, v in zip(todo, b.logps, strict=True)})
            self._values.update(new)
            self.misses += len(new)
        n = len(keys_a)
        both = self.logps(models, list(prompts) * 2, list(completions_a) + list(completions_b),
                          encoded=list(encoded_a) + list(encoded_b), progress=progress)
        return both[:n], both[n:]

    def save(self) -> None:
        if self.path is None:
            return
        files.write_text(self.path, json.dumps(self._values))


# ----------------------------------------------------------------------------- margins


@dataclass
class PairScores:
    margins: np.ndarray  # (n,) Δ = r̂(x, a) − r̂(x, b), float64
    rewards_a: np.ndarray
    rewards_b: np.ndarray
    features: np.ndarray | None = None  # (n, d): φ(x, a) − φ(x, b) from the policy's last layer


def pair_scores(
    models: PolicyModels,
    cache: ReferenceCache,
    prompts: Sequence[str],
    completions_a: Sequence[str],
    completions_b: Sequence[str],
    *,
    beta: float,
    features: bool = False,
    progress: bool = False,
) -> PairScores:
    """Implicit rewards and margins of each pair from one batched policy pass over both
    sides, each pair's prompt run once (:func:`pair_sequence_scores`)."""
    n = len(prompts)
    encoded = encode(models.tokenizer, list(prompts) * 2, list(completions_a) + list(completions_b))
    a, b = pair_sequence_scores(models.policy, encoded[:n], encoded[n:], features=features, progress=progress)
    ref_a, ref_b = cache.pair_logps(models, prompts, completions_a, completions_b, encoded_a=encoded[:n],
                                    encoded_b=encoded[n:], progress=progress)
    rewards = beta * np.concatenate([a.logps - ref_a, b.logps - ref_b])
    feats = None if a.features is None else a.features - b.features
    return PairScores(
        margins=rewards[:n] - rewards[n:], rewards_a=rewards[:n], rewards_b=rewards[n:], features=feats
    )

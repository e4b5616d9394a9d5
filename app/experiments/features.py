"""The lab's arm-independent inputs, computed once and cached: frozen features, reference log-probs, truth.

Every arm and every seed of ``prefmarket experiment`` reads the same ``Inputs``: for each pair,
the frozen model's features ``φ(x, a)`` and ``φ(x, b)``, the reference's summed log-probs of
both completions, and the truth (HH: the logged preference; the movie task: the judge's score
of each completion). They are written under ``data/experiments/<dataset>-<model>/`` in chunks
of pairs, so an interrupted extraction resumes at the first missing chunk.

Why these features. ``φ(x, y)`` is the last layer's hidden state (after the final norm)
averaged over the completion's tokens. The last layer is what the LM head reads, so a
log-linear policy on it is the DPO policy whose trunk is frozen (ADPO's setting); the mean
rather than the sum keeps a long reply from having a long feature vector, which would turn
the implicit reward ``θᵀφ`` into a length detector. Features and reference log-probs come
from the same forward pass (``policy.scoring.sequence_scores``).

Long HH prompts keep only their last ``max_prompt_tokens`` tokens (the turns the reply
answers): it bounds the one-time forward pass on a CPU; 90% of HH harmless-base prompts are
shorter than the default.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from market import files

LOGGED, JUDGE = "logged", "judge"
TINY = "tiny"
MAX_PROMPT_TOKENS = 320


@dataclass(frozen=True)
class Inputs:
    """One data set's pairs as arrays, aligned by pair.

    ``truth`` is read with ``truth_kind``: for ``logged`` pairs it is 1.0 where ``a`` was logged
    as preferred and 0.0 where ``b`` was; for ``judge`` pairs it is the judge's score
    difference ``s_a − s_b`` (never 0: judge ties are dropped, the judge cannot say).
    """

    features_a: np.ndarray  # (n, d) float32
    features_b: np.ndarray
    ref_logp_a: np.ndarray  # (n,) float64, summed over the completion's tokens
    ref_logp_b: np.ndarray
    truth: np.ndarray  # (n,) float64
    truth_kind: str

    def __len__(self) -> int:
        return len(self.truth)

    @property
    def a_wins(self) -> np.ndarray:
        """Where the truth prefers ``a``."""
        return self.truth > 0 if self.truth_kind == JUDGE else self.truth == 1.0

    def save(self, path: Path) -> None:
        with files.replacing(path, ".tmp.npz") as tmp:
            np.savez(tmp, features_a=self.features_a, features_b=self.features_b, ref_logp_a=self.ref_logp_a,
                     ref_logp_b=self.ref_logp_b, truth=self.truth, truth_kind=np.array(self.truth_kind))

    @classmethod
    def load(cls, path: Path) -> Inputs:
        with np.load(path) as z:
            return cls(z["features_a"], z["features_b"], z["ref_logp_a"], z["ref_logp_b"], z["truth"],
                       str(z["truth_kind"]))


# ----------------------------------------------------------------------------- the model


def load_model(name: str):
    """``(model, tokenizer)``: the tiny random model for tests, else ``policy.model.load``."""
    from policy.model import configure_threads, load, tiny_model

    configure_threads()
    return tiny_model(seed=0) if name == TINY else load(name)


def model_label(name: str) -> str:
    """A folder-safe name for a model (the default's name, ``tiny``, or a path's last part)."""
    return Path(str(name)).name or "model"


def encode_pairs(tokenizer, prompts: Sequence[str], completions: Sequence[str], limit: int,
                 max_prompt_tokens: int = MAX_PROMPT_TOKENS):
    """TRL-style (prompt ids, completion ids), the prompt cut to its last ``max_prompt_tokens``
    tokens and everything cut to the model's ``limit`` positions."""
    from policy.scoring import encode

    out = []
    for p, c in encode(tokenizer, prompts, completions):
        c = c[: limit - 1]
        keep = max(1, min(max_prompt_tokens, limit - len(c)))
        out.append((p[-keep:], c))
    return out


def frozen_scores(model, tokenizer, prompts: Sequence[str], completions_a: Sequence[str],
                  completions_b: Sequence[str], max_prompt_tokens: int = MAX_PROMPT_TOKENS) -> dict[str, np.ndarray]:
    """Features and reference log-probs of both sides of each pair, the prompt run once for
    both (``policy.scoring.pair_sequence_scores``: what ``sequence_scores`` computes on each
    full sequence, for about 40% fewer tokens on HH, where prompts are longer than replies)."""
    from policy.model import context_length
    from policy.scoring import pair_sequence_scores

    limit = context_length(model)
    a, b = pair_sequence_scores(model, encode_pairs(tokenizer, prompts, completions_a, limit, max_prompt_tokens),
                                encode_pairs(tokenizer, prompts, completions_b, limit, max_prompt_tokens), features=True)
    return {"features_a": a.features, "features_b": b.features, "ref_logp_a": a.logps, "ref_logp_b": b.logps}


# ----------------------------------------------------------------------------- chunked, resumable


def chunked(folder: Path, n: int, compute: Callable[[int, int], dict[str, np.ndarray]], *, chunk: int,
            desc: str, progress: bool = True) -> dict[str, np.ndarray]:
    """``compute(start, stop)`` for each chunk of ``range(n)`` not yet on disk, then all chunks joined.

    Each chunk is written atomically, so a killed run leaves whole chunks only and the next
    run starts at the first missing one.
    """
    folder.mkdir(parents=True, exist_ok=True)
    starts = range(0, n, chunk)
    for start in tqdm(starts, desc=desc, disable=not progress):
        path = folder / f"{start:06d}.npz"
        if path.exists():
            continue
        arrays = compute(start, min(n, start + chunk))
        with files.replacing(path, ".tmp.npz") as tmp:
            np.savez(tmp, **arrays)
    parts = []
    for start in starts:
        with np.load(folder / f"{start:06d}.npz") as z:
            parts.append({k: z[k] for k in z.files})
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def fingerprint(*parts) -> str:
    return hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _check_meta(folder: Path, meta: dict) -> None:
    """Start the folder afresh when it holds chunks of other settings (a changed file or model)."""
    path = folder / "meta.json"
    if path.exists() and json.loads(path.read_text()) != meta:
        for old in folder.rglob("*.npz"):
            old.unlink()
        (folder / "pool.json").unlink(missing_ok=True)
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(meta, indent=1))


# ----------------------------------------------------------------------------- HH (logged preferences)


@dataclass(frozen=True)
class LoggedPairs:
    prompts: list[str]
    completion_a: list[str]
    completion_b: list[str]
    a_preferred: np.ndarray  # bool
    refused: list[tuple[int, str]]  # (line, reason) the importer refused


def read_logged(path: str | os.PathLike) -> LoggedPairs:
    """A file of logged preferences (HH or TRL format) through the product's importer.

    Lines the importer refuses for a pool (e.g. an empty reply no annotator could judge) are
    left out and returned in ``refused``; a file of prompts only, or of pairs without a
    logged preference, is refused with ``ValueError`` naming the file.
    """
    from market.errors import Invalid
    from market.upload import parse_lines, read_text

    try:
        parsed = parse_lines(read_text(path, max_bytes=None), skip_invalid=True)
    except Invalid as exc:
        raise ValueError(f"{path}: {exc.detail}") from None
    pairs = [p for p in parsed.pairs if p.gold in ("a", "b")]
    if parsed.format not in ("hh", "trl") or not pairs:
        raise ValueError(f"{path}: no logged preferences (an HH or TRL file is needed, this one is {parsed.format!r})")
    return LoggedPairs([p.prompt for p in pairs], [p.completion_a for p in pairs], [p.completion_b for p in pairs],
                       np.array([p.gold == "a" for p in pairs]), parsed.refused)


def inputs_folder(home: Path, dataset: str, model_name: str) -> Path:
    """Where a data set's cached inputs live: ``<home>/<dataset>-<model>``."""
    return home / f"{dataset}-{model_label(model_name)}"


def logged_inputs(path: str | os.PathLike, model_name: str, home: Path, *, name: str = "hh", limit: int | None = None,
                  chunk: int = 32, progress: bool = True) -> tuple[Inputs, LoggedPairs, Path]:
    """Cached ``Inputs`` of a logged-preference file (read by path, never copied: only arrays are stored),
    and the file they are saved in.

    ``limit`` keeps the file's first pairs only (whole chunks, so the cache of a full run serves
    it): on a busy machine the features of a prefix may be all there is time for.
    """
    pairs = read_logged(path)
    folder = inputs_folder(home, name, model_name)
    digest = fingerprint(pairs.prompts, pairs.completion_a, pairs.completion_b)
    _check_meta(folder, {"source": str(Path(path).resolve()), "pairs": digest, "model": str(model_name),
                         "max_prompt_tokens": MAX_PROMPT_TOKENS})
    n = len(pairs.prompts)
    if limit is not None and limit < n:
        n = max(chunk, limit - limit % chunk)
    done = folder / ("inputs.npz" if n == len(pairs.prompts) else f"inputs-{n}.npz")
    if done.exists():
        return Inputs.load(done), pairs, done
    model, tok = None, None

    def compute(start: int, stop: int) -> dict[str, np.ndarray]:
        nonlocal model, tok
        if model is None:
            model, tok = load_model(model_name)
        return frozen_scores(model, tok, pairs.prompts[start:stop], pairs.completion_a[start:stop],
                             pairs.completion_b[start:stop])

    arrays = chunked(folder / "chunks", n, compute, chunk=chunk, desc="HH features", progress=progress)
    inputs = Inputs(truth=pairs.a_preferred[:n].astype(np.float64), truth_kind=LOGGED, **arrays)
    inputs.save(done)
    return inputs, pairs, done


# ----------------------------------------------------------------------------- the movie task (judge)


def movie_inputs(n_prompts: int, model_name: str, home: Path, *, max_new_tokens: int = 32, chunk: int = 32,
                 progress: bool = True) -> Inputs:
    """Cached ``Inputs`` of the embedded task: pairs generated once by the model, scored by the judge.

    ``n_prompts`` train-split prompts (fixed order, seed 0) each get two sampled completions
    (temperature 1); the seeds of the lab split them into pool and held-out set. Pairs the
    judge scores equal are dropped: the truth cannot say which is better.
    """
    from policy.generate import SamplingConfig, generate_pairs
    from task import prompts as task
    from task.judges import SentimentJudge

    folder = inputs_folder(home, "movie", model_name)
    cfg = SamplingConfig(max_new_tokens=max_new_tokens, temperature=1.0, batch_size=32, seed=0)
    _check_meta(folder, {"prompts": n_prompts, "model": str(model_name), "sampling": vars(cfg)})
    done = folder / "inputs.npz"
    if done.exists():
        return Inputs.load(done)
    prompts = task.prompts("train", n_prompts, seed=0)
    model, tok = load_model(model_name)
    judge = SentimentJudge()

    def generate(start: int, stop: int) -> dict[str, np.ndarray]:
        cfg_chunk = SamplingConfig(**{**vars(cfg), "seed": start})
        part = prompts[start:stop]
        pairs = generate_pairs(model, tok, part, cfg_chunk)
        kept = [part[i] for i in pairs.index]
        return {"prompt": np.array(kept, dtype=str), "a": np.array(pairs.completion_a, dtype=str),
                "b": np.array(pairs.completion_b, dtype=str),
                "score_a": judge.score(kept, pairs.completion_a), "score_b": judge.score(kept, pairs.completion_b)}

    gen = chunked(folder / "pool", len(prompts), generate, chunk=chunk, desc="movie pairs", progress=progress)
    texts, diff = _judged(gen)

    def compute(start: int, stop: int) -> dict[str, np.ndarray]:
        return frozen_scores(model, tok, texts["prompt"][start:stop], texts["a"][start:stop], texts["b"][start:stop])

    arrays = chunked(folder / "chunks", len(diff), compute, chunk=chunk, desc="movie features", progress=progress)
    inputs = Inputs(truth=diff, truth_kind=JUDGE, **arrays)
    inputs.save(done)
    return inputs


def _judged(gen: dict[str, np.ndarray]) -> tuple[dict[str, list[str]], np.ndarray]:
    """The generated pairs the judge does not score equal: their texts and score differences."""
    diff = gen["score_a"] - gen["score_b"]
    keep = np.abs(diff) > 1e-9
    return {k: [str(s) for s in gen[k][keep]] for k in ("prompt", "a", "b")}, diff[keep]


def movie_texts(n_prompts: int, model_name: str, home: Path, *, max_new_tokens: int = 32, chunk: int = 32,
                progress: bool = True) -> tuple[Inputs, dict[str, list[str]]]:
    """``movie_inputs`` and the texts of its pairs (``prompt``, ``a``, ``b``), aligned with them: the
    cache keeps the generations, so the ``dpo`` fidelity trains on the very pairs the ``linear`` one fits."""
    inputs = movie_inputs(n_prompts, model_name, home, max_new_tokens=max_new_tokens, chunk=chunk, progress=progress)

    def missing(start: int, stop: int) -> dict[str, np.ndarray]:
        raise FileNotFoundError(f"the movie pool's generations {start}-{stop} are missing from the cache")

    gen = chunked(inputs_folder(home, "movie", model_name) / "pool", n_prompts, missing, chunk=chunk,
                  desc="movie pairs", progress=False)
    texts, _ = _judged(gen)
    return inputs, texts

"""The ``dpo`` fidelity of ``prefmarket experiment``: real LoRA-DPO on the embedded model, arm by arm.

The ``linear`` fidelity fits a log-linear policy on frozen features in milliseconds; this one
trains the model itself, so it checks what the cheap fidelity found on the real thing, at
the sizes a CPU allows. One seed of one data set (``run_arm`` for each arm):

1. The seed splits the data set's pairs as the ``linear`` lab does (``lab.split``), keeping
   ``held_out`` pairs to score and a candidate pool of ``pool`` pairs to buy from. The
   ``tuning`` pairs on which the recipe is checked (``pilot``) are set apart first, the same
   for every seed, so no reported figure comes from a pair the recipe was tuned on.
2. Every pool pair gets its annotator's answer, its coin and the market's estimate of that
   annotator's error from ``lab.annotator_answers``, keyed on ``(seed, pair)``: every arm
   that buys a pair gets the same answer, and the coin flips of the control are shared.
3. Each round the arm picks ``per_round`` pairs with the worker's own scorer
   (``policy.acquire.SCORERS``) on the current policy's implicit-reward margins (and last-layer
   features for ``adpo`` and ``noise_aware``; ADPO's design and noise_aware's posterior carry
   the pairs already bought; ``noise_aware`` is given each pair's annotator's error estimate,
   which the lab knows and the worker does not). ``random`` and ``coin_flip`` draw no scores.
4. Training follows the preset's ``schedule``. The ``cpu`` preset's is ``continue`` with
   Adam's state carried across rounds (``keep_optimizer``): each round trains the current
   policy on the round's new labels, so the rounds of a seed are one run of Adam over the
   labels in the order they were bought. Its earlier ``retrain`` with one epoch took 3 to 9
   optimiser steps a round from a fresh Adam and ended at a train loss of about ln 2: it
   barely trained, and its figures were noise. The recipe (schedule, learning rate, epochs:
   the demo's, ``app.demo.settings``) is checked by ``pilot``: perfect against coin-flip
   answers on the tuning pairs.
5. After each round: held-out implicit-reward accuracy against the truth (forward passes
   only; 50% before any label, where every margin is 0). At the end, on the movie task, the
   win rate against the reference on ``win_prompts`` prompts of the task's eval split, judged
   by the judge that is the data set's truth, with ``policy.evaluate.sample_completions`` (the
   same sampling seeds for policy and reference; the reference's completions are cached once
   for every arm and seed). HH has no judge: its final figure is the held-out accuracy.

Everything that does not depend on the arm is cached under ``<home>/dpo/``: the reference's
log-probs of every completion scored (``ReferenceCache``) and the reference's completions.
Each finished (data set, seed, arm) writes one result file atomically, recording the settings
that made it, and a rerun skips it, so a killed run loses at most the arm it was in. Files of
other settings are moved aside (``set_aside``), never reported with these.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
import warnings
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from app.experiments import lab, report
from app.experiments.executor import run_jobs
from app.experiments.features import JUDGE, LOGGED, TINY, Inputs, fingerprint, model_label
from app.machine import describe as describe_machine
from market import files

DATASETS = ("movie", "hh")
ARMS = ("random", "sharp", "adpo", "noise_aware", "coin_flip")
# random, the control and the two best methods of the linear fidelity on each data set, by their
# paired difference from random at 64 labels (docs/results.md, 20 seeds): movie noise_aware +0.1,
# sharp -0.7; HH noise_aware +0.1, adpo -0.6.
DEFAULT_ARMS = {"movie": ("random", "noise_aware", "sharp", "coin_flip"),
                "hh": ("random", "noise_aware", "adpo", "coin_flip")}
SECTION = "experiment-dpo"
DATA_NOTES = {"movie": "the `linear` fidelity's cached movie pool (the pairs the judge does not score equal)",
              "hh": "HH harmless-base through the product's HH importer, the pairs whose prompt and replies fit the "
                    "preset's token limits"}  # for result files written before they recorded their data's note
TITLES = {"movie": "movie-review task (judge = truth, bots' population answers)",
          "hh": "Anthropic HH harmless-base (logged human preference = truth, simulated annotator noise)"}


@dataclass(frozen=True)
class Settings:
    """What one (data set, seed, arm) does; fixed before any run, never tuned on held-out data.

    Every field is recorded in each result file (``settings``), and only files with the same
    settings are reported together (``set_aside``): figures of one recipe are never pooled
    with another's.
    """

    rounds: int = 4
    per_round: int = 12
    pool: int = 96  # candidate pairs per seed (at least twice the labels bought)
    held_out: int = 200  # pairs scored by implicit-reward accuracy after each round (at most: what the data set has
    # left after the pool and the tuning pairs; HH's short pairs leave 176)
    tuning: int = 128  # pairs of ``tuning_dataset`` set apart for choosing the recipe (``tuning_pairs``)
    tuning_dataset: str = "movie"  # the data set the recipe pilot ran on; the other gives up no pairs
    win_prompts: int = 256  # movie: eval-split prompts of the final win rate
    samples: int = 1  # completions per win-rate prompt and model
    new_tokens: int = 32  # tokens per win-rate completion (the movie pool's length)
    schedule: str = "continue"  # policy.train's schedule: continue (the new labels, Adam carried) or retrain
    epochs: float = 2.0
    batch_size: int = 4
    learning_rate: float | None = 5e-4  # None: the recipe's LoRA default
    beta: float = 0.1
    gold: int = 10  # gold answers behind the market's estimate of each annotator's error
    max_prompt_tokens: int = 96  # HH pairs kept: prompts and replies at most this long, in tokens
    max_reply_tokens: int = 48

    @property
    def labels(self) -> int:
        return self.rounds * self.per_round

    def check(self, dataset: str, n_pairs: int) -> None:
        """Refuse a data set too small for these sizes (``ValueError`` naming what to change)."""
        if self.pool < 2 * self.labels:
            raise ValueError(f"--per-round/--rounds: {self.rounds} rounds of {self.per_round} labels need a pool of at "
                             f"least {2 * self.labels} pairs (twice what an arm buys), the preset's pool is {self.pool}")
        tuning = self.tuning if dataset == self.tuning_dataset else 0
        if self.pool + min(self.held_out, MIN_HELD_OUT) + tuning > n_pairs:
            raise ValueError(f"{dataset}: {n_pairs} pairs are too few for a pool of {self.pool}, at least "
                             f"{min(self.held_out, MIN_HELD_OUT)} held out and {tuning} set apart for tuning (choose "
                             "a smaller --preset, or give more pairs)")


PRESETS = {
    # one seed of one data set, all 4 arms, aiming at an hour on 2 idle CPU cores; the recipe (continue with Adam
    # carried, lr 5e-4, 2 epochs) is the demo's, checked by a pilot on the tuning pairs (docs/results.md)
    "cpu": Settings(),
    # bigger sizes for one GPU: both data sets' 3 seeds, 24 arms, in 6 minutes on one H200 with 6 workers
    "gpu": Settings(rounds=6, per_round=16, pool=224, held_out=192, win_prompts=512, samples=2, epochs=2.0,
                    batch_size=8, max_prompt_tokens=1024, max_reply_tokens=512),
}
MIN_HELD_OUT = 32  # fewer held-out pairs than this and a data set is refused
TUNING_KEY = (99, 7)  # the seed of the permutation whose first ``tuning`` usable pairs are set apart
QUICK = Settings(rounds=2, per_round=4, pool=16, held_out=12, tuning=4, win_prompts=8, new_tokens=8, batch_size=4)


@dataclass
class Options:
    datasets: list[str] = field(default_factory=lambda: list(DATASETS))
    hh: Path = Path("../shared/data/hh-harmless-base/dev.jsonl.gz")
    seeds: int = 3
    workers: int = 1
    cluster: str | None = None  # a Dask scheduler's address (app.experiments.executor)
    arms: list[str] | None = None  # None: DEFAULT_ARMS of each data set
    model: str = "SmolLM2-135M-Instruct"
    preset: str = "cpu"
    settings: Settings = field(default_factory=Settings)
    movie_prompts: int = 448
    movie_new_tokens: int = 32
    out: Path = Path("docs/results.md")
    plots: Path = Path("docs/results")
    home: Path = Path("data/experiments")
    command: str = "prefmarket experiment --fidelity dpo"
    report_only: bool = False
    progress: bool = True

    @classmethod
    def make(cls, *, preset: str | None = None, quick: bool = False, **kw) -> Options:
        """The options of a preset (``cpu`` by default) or, with ``quick``, the tests' tiny sizes."""
        preset = preset or "cpu"
        if preset not in PRESETS:
            raise ValueError(f"--preset: unknown {preset!r}; choose from {', '.join(PRESETS)}")
        if quick:
            return cls(**{"seeds": 2, "model": TINY, "preset": preset, "settings": QUICK, "movie_prompts": 64,
                          "movie_new_tokens": 12, **kw})
        return cls(preset=preset, settings=PRESETS[preset], **kw)

    def arms_of(self, dataset: str) -> list[str]:
        return list(self.arms) if self.arms is not None else list(DEFAULT_ARMS[dataset])


def with_settings(opts: Options, **changes) -> Options:
    """``opts`` with some of its ``Settings`` changed (the CLI's --rounds and --per-round)."""
    given = {k: v for k, v in changes.items() if v is not None}
    return replace(opts, settings=replace(opts.settings, **given)) if given else opts


def check(opts: Options) -> None:
    """Refuse bad options before any work, naming the option."""
    bad = [d for d in opts.datasets if d not in DATASETS]
    if bad or not opts.datasets:
        raise ValueError(f"--datasets: unknown data set {', '.join(bad) or '(none given)'}; choose from {', '.join(DATASETS)}")
    if opts.arms is not None:
        unknown = [a for a in opts.arms if a not in ARMS]
        if unknown or not opts.arms:
            extra = " (apl is not run at the dpo fidelity: it samples completions every round)" if "apl" in unknown else ""
            raise ValueError(f"--arms: unknown arm {', '.join(unknown) or '(none given)'} at the dpo fidelity; "
                             f"choose from {', '.join(ARMS)}{extra}")
        if lab.BASELINE not in opts.arms:
            raise ValueError(f"--arms: every comparison is against {lab.BASELINE!r}; include it")
    if opts.seeds < 1:
        raise ValueError("--seeds: at least 1")
    if opts.workers < 1:
        raise ValueError("--workers: at least 1")
    if opts.settings.rounds < 1 or opts.settings.per_round < 1:
        raise ValueError("--rounds and --per-round: at least 1")


# ----------------------------------------------------------------------------- data


@dataclass
class Data:
    """One data set's pairs: texts, truth (an ``Inputs`` with no features) and which pairs may be used."""

    name: str
    prompts: list[str]
    a: list[str]
    b: list[str]
    inputs: Inputs  # truth and its kind, for lab.annotator_answers; features unused here
    usable: np.ndarray  # indices of the pairs this fidelity draws from
    note: str


def _truth_only(truth: np.ndarray, kind: str) -> Inputs:
    n = len(truth)
    return Inputs(np.zeros((n, 0), np.float32), np.zeros((n, 0), np.float32), np.zeros(n), np.zeros(n),
                  np.asarray(truth, dtype=np.float64), kind)


def load_data(dataset: str, opts: Options, tokenizer) -> Data:
    """The pairs of ``dataset``: the movie pool's cached generations, or the HH file through the importer.

    HH pairs are kept only where the prompt and both replies fit ``max_prompt_tokens`` and
    ``max_reply_tokens``: forward and backward passes on a CPU cost in proportion to tokens,
    and HH's long dialogues would take most of an hour's budget on a few pairs.
    """
    from app.experiments.features import movie_texts, read_logged

    if dataset == "movie":
        inputs, texts = movie_texts(opts.movie_prompts, opts.model, opts.home, max_new_tokens=opts.movie_new_tokens,
                                    progress=opts.progress)
        return Data("movie", texts["prompt"], texts["a"], texts["b"], _truth_only(inputs.truth, JUDGE),
                    np.arange(len(inputs)), f"the `linear` fidelity's movie pool: {len(inputs)} pairs the judge does "
                    f"not score equal ({opts.movie_prompts} train-split prompts, two completions each)")
    from policy.scoring import encode

    pairs = read_logged(opts.hh)
    s = opts.settings
    enc_a = encode(tokenizer, pairs.prompts, pairs.completion_a)
    enc_b = encode(tokenizer, pairs.prompts, pairs.completion_b)
    fits = np.array([len(pa) <= s.max_prompt_tokens and len(ca) <= s.max_reply_tokens and len(cb) <= s.max_reply_tokens
                     for (pa, ca), (_, cb) in zip(enc_a, enc_b, strict=True)])
    usable = np.flatnonzero(fits)
    note = (f"{len(pairs.prompts)} pairs imported by the product's HH importer; the {len(usable)} whose prompt is at "
            f"most {s.max_prompt_tokens} tokens and replies at most {s.max_reply_tokens} are used")
    return Data("hh", list(pairs.prompts), list(pairs.completion_a), list(pairs.completion_b),
                _truth_only(pairs.a_preferred.astype(np.float64), LOGGED), usable, note)


@dataclass
class SeedSplit:
    pool: np.ndarray  # data set indices of the candidate pool
    held: np.ndarray  # data set indices of the held-out pairs
    answers: np.ndarray  # (pool,) the annotator's answer is "a"
    coins: np.ndarray  # (pool,) the control's coin
    error: np.ndarray  # (pool,) the market's estimate of the pair's annotator's error


def tuning_pairs(data: Data, s: Settings) -> np.ndarray:
    """The pairs set apart for choosing the recipe: the same for every seed, so no reported figure saw them."""
    if data.name != s.tuning_dataset:
        return np.zeros(0, dtype=data.usable.dtype)
    return np.random.default_rng(TUNING_KEY).permutation(data.usable)[: s.tuning]


def split_seed(data: Data, seed: int, s: Settings) -> SeedSplit:
    """The seed's pool and held-out pairs (``lab.split`` over the usable pairs less the tuning pairs) and the
    pool's answers."""
    usable = np.setdiff1d(data.usable, tuning_pairs(data, s))
    n = len(usable)
    pool_pos, held_pos = lab.split(n, seed, min(s.held_out, n - s.pool) / n)
    pool = np.sort(usable[pool_pos][np.random.default_rng([seed, 5]).permutation(len(pool_pos))[: s.pool]])
    held = usable[held_pos]
    answers, coins, error = lab.annotator_answers(data.inputs, pool, seed, s.gold)
    return SeedSplit(pool, held, answers, coins, error)


# ----------------------------------------------------------------------------- one arm


def _texts(data: Data, index: np.ndarray) -> tuple[list[str], list[str], list[str]]:
    return [data.prompts[i] for i in index], [data.a[i] for i in index], [data.b[i] for i in index]


def held_margins(models, cache, data: Data, index: np.ndarray, beta: float) -> np.ndarray:
    """Per pair of ``index``: the implicit-reward margin of completion a over b (0 for the untrained policy)."""
    from policy.scoring import pair_scores

    return pair_scores(models, cache, *_texts(data, index), beta=beta).margins


def agreement_of(data: Data, index: np.ndarray, margins: np.ndarray) -> np.ndarray:
    """Per pair: 1 where the margin sides with the truth, 0 against it, 0.5 on a tie."""
    from policy.evaluate import agreement

    margins = np.asarray(margins, dtype=np.float64)
    return agreement(np.where(data.inputs.a_wins[index], margins, -margins))


def held_agreement(models, cache, data: Data, index: np.ndarray, beta: float) -> np.ndarray:
    """Per pair of ``index``: 1 where the implicit reward sides with the truth, 0 against it, 0.5 on a tie."""
    return agreement_of(data, index, held_margins(models, cache, data, index, beta))


def choose(arm: str, models, cache, data: Data, split: SeedSplit, bought: np.ndarray, s: Settings, seed: int,
           rng: np.random.Generator) -> np.ndarray:
    """The pool positions ``arm`` buys next, by the worker's scorer on the current policy."""
    from policy import acquisition as acq
    from policy.acquire import SCORERS, AcquisitionConfig, PoolInputs
    from policy.scoring import pair_scores

    free = np.setdiff1d(np.arange(len(split.pool)), bought)
    if arm in (lab.BASELINE, lab.CONTROL):
        return free[rng.permutation(len(free))[: s.per_round]]
    features = arm != "sharp"
    if not features and len(bought) == 0:  # policy = reference: every margin is 0, no pass needed
        margins, feats = np.zeros(len(split.pool)), None
    else:
        scored = pair_scores(models, cache, *_texts(data, split.pool), beta=s.beta, features=features)
        margins, feats = scored.margins, scored.features
    x = PoolInputs(len(free), margins=margins[free])
    if features:
        x.features, x.bought_features, x.bought_margins = feats[free], feats[bought], margins[bought]
    if arm == "noise_aware":
        x.error = split.error[free]
    cfg = AcquisitionConfig(method=arm, n_select=s.per_round, beta=s.beta, seed=seed)
    return free[acq.select(SCORERS[arm](x, cfg, rng), s.per_round, rng)]


def run_arm(base, tokenizer, data: Data, split: SeedSplit, arm: str, seed: int, s: Settings, cache, workdir: Path,
            reference_completions, *, progress: bool = True) -> tuple[dict, object]:
    """One arm of one seed; returns its result and the base model, unwrapped for the next arm."""
    from policy.train import DPORecipe, PreferencePair, initial_models, train_dpo

    t0 = time.perf_counter()
    recipe = DPORecipe(beta=s.beta, learning_rate=s.learning_rate, epochs=s.epochs, batch_size=s.batch_size,
                       schedule=s.schedule, keep_optimizer=True, seed=seed)
    models = initial_models(base, tokenizer, recipe)
    rng = np.random.default_rng([seed, 4, lab.ARMS.index(lab.BASELINE if arm == lab.CONTROL else arm)])
    labels = split.coins if arm == lab.CONTROL else split.answers
    bought = np.zeros(0, dtype=np.int64)
    curve, seconds, losses, state = [0.5], [], [], None
    # after each round, per held-out pair: the margin and its agreement with the truth, which the report's
    # interval over held-out pairs (``report.crossed_interval``) and side-effect checks read
    margins_by_round, agreement_by_round = [], []
    for _ in tqdm(range(s.rounds), desc=f"{data.name} seed {seed} {arm}", disable=not progress, leave=False):
        t = time.perf_counter()
        new = choose(arm, models, cache, data, split, bought, s, seed, rng)
        bought = np.concatenate([bought, new])
        trained = new if s.schedule == "continue" else bought  # continue: the new labels, on Adam's carried state
        prompts, a, b = _texts(data, split.pool[trained])
        pairs = [PreferencePair(p, x if says_a else y, y if says_a else x)
                 for p, x, y, says_a in zip(prompts, a, b, labels[trained], strict=True)]
        out = train_dpo(models, pairs, recipe, cache, workdir, optimizer_state=state)
        models, state = out.models, out.optimizer_state
        losses.append(out.metrics["train_loss"])
        margins = held_margins(models, cache, data, split.held, s.beta)
        right = agreement_of(data, split.held, margins)
        margins_by_round.append([float(m) for m in margins])
        agreement_by_round.append([float(v) for v in right])
        curve.append(float(right.mean()))
        seconds.append(time.perf_counter() - t)
    result = {"dataset": data.name, "seed": seed, "arm": arm, "labels": [r * s.per_round for r in range(s.rounds + 1)],
              "accuracy": curve, "train_loss": losses, "held_out": len(split.held),
              "held_pairs": split.held.tolist(), "held_margins": margins_by_round,
              "held_agreement": agreement_by_round,
              "bought": split.pool[bought].tolist(), "round_seconds": seconds,
              "label_accuracy": float(np.mean(labels[bought] == data.inputs.a_wins[split.pool[bought]])),
              "data": data.note}
    if reference_completions is not None:
        result.update(_win(models, *reference_completions, s, progress))
    result["seconds"] = time.perf_counter() - t0
    return result, models.policy.unload()


def _sampling(s: Settings):
    from policy.generate import SamplingConfig

    return SamplingConfig(max_new_tokens=s.new_tokens, temperature=1.0, batch_size=32, seed=0)


def _win(models, prompts: list[str], theirs: list[list[str | None]], s: Settings, progress: bool) -> dict:
    """The policy's win rate against the reference's cached completions, with its per-prompt shares."""
    from policy.evaluate import judged_outcomes, per_prompt, sample_completions, win_share
    from task.judges import SentimentJudge

    mine = sample_completions(models, prompts, _sampling(s), samples=s.samples, progress=progress)
    outcomes = judged_outcomes(SentimentJudge(), prompts, mine, theirs)
    win = win_share(outcomes)
    return {"win_rate": win.rate, "win_ci": [win.ci_low, win.ci_high], "win_prompts": win.n,
            "win_per_prompt": [None if np.isnan(v) else float(v) for v in per_prompt(outcomes)]}


def reference_completions(models, home: Path, model_name: str, s: Settings, progress: bool):
    """The eval split's win-rate prompts and the reference's completions of them, sampled once and cached."""
    from policy.evaluate import sample_completions
    from task import prompts as task

    prompts = task.prompts("eval", s.win_prompts, seed=0)
    cfg = _sampling(s)
    path = home / "dpo" / f"movie-{model_label(model_name)}" / f"reference-{fingerprint(prompts, vars(cfg), s.samples)}.json"
    if path.exists():
        return prompts, json.loads(path.read_text())
    theirs = sample_completions(models, prompts, cfg, samples=s.samples, reference=True, progress=progress)
    _write_json(path, theirs)
    return prompts, theirs


# ----------------------------------------------------------------------------- the recipe pilot

PILOT_RECIPES = {  # name: (schedule, learning rate, epochs); batch and beta as the preset's
    "keep2_5e-4": ("continue", 5e-4, 2.0),
    "keep2_1e-3": ("continue", 1e-3, 2.0),
    "retrain1_5e-4": ("retrain", 5e-4, 1.0),
    "retrain2_5e-4": ("retrain", 5e-4, 2.0),
}
PILOT_TRAIN = 3 / 8  # share of the tuning pairs bought (48 of 128) in rounds of the preset's size; the rest score it


def pilot_sizes(s: Settings) -> tuple[int, int]:
    """(pairs the pilot trains on, pairs it scores) of the ``tuning`` pairs."""
    train = int(s.tuning * PILOT_TRAIN)
    return train, s.tuning - train


def pilot_path(opts: Options, dataset: str) -> Path:
    """The pilot's file; a preset other than ``cpu`` (other sizes, so another pilot) has its own."""
    suffix = "" if opts.preset == "cpu" else f"-{opts.preset}"
    return records_root(opts) / f"pilot-{dataset}-{model_label(opts.model)}{suffix}.json"


def pilot(opts: Options, dataset: str, recipes: list[str]) -> dict:
    """Train each recipe on the tuning pairs' true answers and on coin flips, and score it on the other tuning pairs.

    This checks a recipe (and chooses among ``PILOT_RECIPES``) without looking at any reported held-out pair
    (``tuning_pairs``: set apart from every seed): a recipe that cannot tell perfect labels from
    coin flips on the other tuning pairs cannot rank acquisition functions either.
    Each round records the held-out agreement per pair (for the smallest detectable difference),
    the train loss and the seconds. Resumable: finished (recipe, answers) runs are kept in the file.
    """
    from app.experiments.features import load_model
    from policy.scoring import ReferenceCache
    from policy.train import DPORecipe, PreferencePair, initial_models, train_dpo

    s = opts.settings
    base, tok = load_model(opts.model)
    data = load_data(dataset, opts, tok)
    tune = tuning_pairs(data, s)
    train, score = np.split(tune, [pilot_sizes(s)[0]])
    coins = np.random.default_rng([TUNING_KEY[0], 8]).random(len(train)) < 0.5
    answers = {"perfect": data.inputs.a_wins[train], "coin": coins}
    folder = opts.home / "dpo" / f"{dataset}-{model_label(opts.model)}"
    cache = ReferenceCache(folder / "reference-logps.json")
    path = pilot_path(opts, dataset)
    results = json.loads(path.read_text()) if path.exists() else {}
    for name in recipes:
        schedule, lr, epochs = PILOT_RECIPES[name]
        for kind, says in answers.items():
            if f"{name}/{kind}" in results:
                continue
            recipe = DPORecipe(beta=s.beta, learning_rate=lr, epochs=epochs, batch_size=s.batch_size,
                               schedule=schedule, keep_optimizer=True, seed=0)
            models, state, rows = initial_models(base, tok, recipe), None, []
            for r in range(len(train) // s.per_round):
                t = time.perf_counter()
                at = range(r * s.per_round if schedule == "continue" else 0, (r + 1) * s.per_round)
                sides = [(data.a[train[i]], data.b[train[i]])[:: 1 if says[i] else -1] for i in at]
                pairs = [PreferencePair(data.prompts[train[i]], *side) for i, side in zip(at, sides, strict=True)]
                out = train_dpo(models, pairs, recipe, cache, folder / "trainer", optimizer_state=state)
                models, state = out.models, out.optimizer_state
                trained = time.perf_counter() - t
                right = held_agreement(models, cache, data, score, s.beta)
                rows.append({"round": r + 1, "labels": (r + 1) * s.per_round, "acc": float(right.mean()),
                             "right": right.tolist(), "loss": out.metrics["train_loss"], "steps": out.metrics["steps"],
                             "train_s": trained, "eval_s": time.perf_counter() - t - trained})
            results[f"{name}/{kind}"] = rows
            base = models.policy.unload()
            cache.save()
            _write_json(path, results)
    return results


def pilot_summary(results: dict, held_out: int, seeds: int = 3) -> tuple[list[str], float, dict[str, report.Interval]]:
    """Table rows of the pilot (held-out accuracy and train loss by round, perfect and coin answers), the
    smallest difference ``held_out`` pairs and ``seeds`` seeds detect (80% power, two-sided 5%), and each
    recipe's perfect − coin gap at the last round, in points, with its 95% interval paired over the scored pairs.

    The spread is the per-pair spread of (perfect − coin) agreement at the last round, scaled to
    ``held_out`` pairs per seed: it holds the sampling of held-out pairs, not training's own
    seed-to-seed noise, so the true figure is larger.
    """
    from policy.evaluate import paired_difference

    rows, sd, gaps = [], [], {}
    for name in PILOT_RECIPES:
        perfect, coin = results.get(f"{name}/perfect"), results.get(f"{name}/coin")
        if not perfect or not coin:
            continue
        cells = lambda runs: ", ".join(f"{100 * r['acc']:.1f}% ({r['loss']:.3f})" for r in runs)
        diff = np.array(perfect[-1]["right"]) - np.array(coin[-1]["right"])
        sd.append(diff.std(ddof=1))
        d = paired_difference(perfect[-1]["right"], coin[-1]["right"])
        gaps[name] = report.Interval(100 * d.mean, 100 * d.ci_low, 100 * d.ci_high)
        schedule, lr, epochs = PILOT_RECIPES[name]
        rows.append(f"| {schedule}, lr {lr:g}, {epochs:g} epoch(s) | {cells(perfect)} | {cells(coin)} | "
                    f"{report.interval_text(gaps[name], report.points)} | "
                    f"{np.mean([r['train_s'] for r in perfect + coin]):.0f} s |")
    mdd = 100 * report.Z_POWER * float(np.mean(sd)) / np.sqrt(held_out * seeds) if sd else float("nan")
    return rows, mdd, gaps


# ----------------------------------------------------------------------------- seeds, resumable


def _write_json(path: Path, value) -> None:
    files.write_text(path, json.dumps(value))


def records_root(opts: Options) -> Path:
    """Where the result files the report is written from go: beside its plots (``docs/results/dpo``), so they
    are committed with the figures and ``--report-only`` rewrites the section from a fresh clone. An arm
    costs a quarter of an hour of CPU; the caches under ``home`` (generations, reference log-probs,
    checkpoints) are cheap to rebuild by comparison and stay out of the repository."""
    return opts.plots / "dpo"


def results_folder(opts: Options, dataset: str) -> Path:
    """Where one data set's arm files go, keyed by the sizes (other sizes, other folder)."""
    return (records_root(opts) /
            f"{dataset}-{model_label(opts.model)}-{opts.preset}-{fingerprint(asdict(opts.settings), opts.movie_prompts)}")


def arm_path(opts: Options, dataset: str, seed: int, arm: str) -> Path:
    return results_folder(opts, dataset) / f"seed-{seed:04d}-{arm}.json"


def ran_on(opts: Options) -> str:
    """The machine an arm ran on, as its file records it: a report written elsewhere (``--report-only`` in a
    clone) states where the figures were measured, not where they were tabulated."""
    import torch

    gpu = f"{torch.cuda.get_device_name(0)} GPU, " if torch.cuda.is_available() else ""
    return f"{gpu}{describe_machine()}, torch {torch.__version__}, {opts.workers} worker(s)"


def section_name(opts: Options) -> str:
    """The marked section of ``opts.out`` a preset's report owns: ``cpu``'s is the fidelity's first, each other
    preset has its own, so the presets' figures (other sizes) are never written over each other."""
    return SECTION if opts.preset == "cpu" else f"{SECTION}-{opts.preset}"


def recorded(opts: Options) -> dict:
    """What each result file records of what made it; a file recording anything else is not reported with it."""
    return {"preset": opts.preset, "model": opts.model, "movie_prompts": opts.movie_prompts, **asdict(opts.settings)}


def set_aside(opts: Options, dataset: str, echo=print) -> list[Path]:
    """Move results that these settings must not be pooled with to ``<results>/superseded/``, saying so.

    A result file in this preset's folder that records other settings (or none: written before
    files recorded them) is moved; and when ``opts`` runs a preset as defined (no --rounds or
    --per-round), so are the folders of that preset's earlier definitions, whose figures
    measured another recipe. Nothing is deleted.
    """
    root = records_root(opts)
    here = results_folder(opts, dataset)
    aside = root / "superseded"
    moved = []
    if opts.settings == PRESETS.get(opts.preset):
        for old in sorted(root.glob(f"{dataset}-{model_label(opts.model)}-{opts.preset}-*")):
            if old != here and old.is_dir():
                moved.append(_move(old, aside / old.name))
    want = recorded(opts)
    for path in sorted(here.glob("seed-*.json")):
        if json.loads(path.read_text()).get("settings") != want:
            moved.append(_move(path, aside / here.name / path.name))
    for path in moved:
        echo(f"moved to {path}: results of other settings than these of preset {opts.preset!r} "
             f"({_sizes(opts.settings)}); they are not reported with these")
    return moved


def _move(path: Path, to: Path) -> Path:
    to.parent.mkdir(parents=True, exist_ok=True)
    if to.exists():
        to = to.with_name(f"{to.name}.{time.time_ns()}")
    os.replace(path, to)
    return to


def run_seed(opts: Options, dataset: str, seed: int) -> int:
    """Every arm of one (data set, seed) that has no result file yet; returns how many it ran."""
    from app.experiments.features import load_model
    from policy.model import PolicyModels
    from policy.scoring import ReferenceCache

    todo = [arm for arm in opts.arms_of(dataset) if not arm_path(opts, dataset, seed, arm).exists()]
    if not todo:
        return 0
    base, tok = load_model(opts.model)
    data = load_data(dataset, opts, tok)
    opts.settings.check(dataset, len(data.usable))
    split = split_seed(data, seed, opts.settings)
    folder = opts.home / "dpo" / f"{dataset}-{model_label(opts.model)}"
    cache = ReferenceCache(folder / "reference-logps.json")
    theirs = None
    if dataset == "movie":
        theirs = reference_completions(PolicyModels(policy=base, tokenizer=tok, reference=base), opts.home, opts.model,
                                       opts.settings, opts.progress)
    for arm in todo:
        result, base = run_arm(base, tok, data, split, arm, seed, opts.settings, cache, folder / "trainer", theirs,
                               progress=opts.progress)
        cache.save()
        _write_json(arm_path(opts, dataset, seed, arm), {**result, "machine": ran_on(opts), "settings": recorded(opts)})
    return len(todo)


def _seed_job(opts: Options, dataset: str, seed: int) -> int:
    from policy.model import configure_threads

    configure_threads()
    return run_seed(opts, dataset, seed)


def _with_records(opts: Options, echo) -> Options:
    """``opts`` narrowed to the data sets with at least one seed whose every arm is finished here: a report-only
    run keeps the published block of the others rather than rewrite it with an empty table (a fresh clone, or
    a data set's arms only partly rerun); with none, a ``ValueError`` and nothing written."""
    have = [d for d in opts.datasets if finished(opts, d)[0]]
    if not have:
        raise ValueError(f"--report-only: no seed with every arm ({', '.join(opts.arms_of(opts.datasets[0]))}"
                         f"{' …' if len(opts.datasets) > 1 else ''}) finished in "
                         f"{' or '.join(str(results_folder(opts, d)) for d in opts.datasets)}; run without "
                         f"--report-only to make them ({opts.out} is left as it was)")
    for dataset in opts.datasets:
        if dataset not in have:
            echo(f"no {dataset} seed has every arm ({', '.join(opts.arms_of(dataset))}) finished in "
                 f"{results_folder(opts, dataset)}: its block of {opts.out} is kept as it was")
    return replace(opts, datasets=have)


def run(opts: Options, echo=print) -> dict:
    """Run what is missing (unless ``report_only``), then write the section from every finished file."""
    check(opts)
    for dataset in opts.datasets:
        set_aside(opts, dataset, echo)
    if opts.report_only:
        opts = _with_records(opts, echo)
    jobs = [(d, seed) for seed in range(opts.seeds) for d in opts.datasets]  # movie seed 0, HH seed 0, then seed 1
    if not opts.report_only:
        bar = tqdm(total=len(jobs), desc="dpo seeds", disable=not opts.progress)
        run_jobs(_seed_job, [(opts, d, seed) for d, seed in jobs], workers=opts.workers, cluster=opts.cluster,
                 done=bar.update)
        bar.close()
    figures = write_report(opts)
    echo(f"wrote the dpo fidelity's section of {opts.out} and plots in {opts.plots}")
    return figures


# ----------------------------------------------------------------------------- the report


def finished(opts: Options, dataset: str) -> tuple[list[dict], list[int]]:
    """Per seed with every arm finished, one record in ``report``'s shape ({"labels", "accuracy": {arm: curve}, ...});
    and the seeds still pending."""
    done, pending = [], []
    for seed in range(opts.seeds):
        paths = {arm: arm_path(opts, dataset, seed, arm) for arm in opts.arms_of(dataset)}
        if not all(p.exists() for p in paths.values()):
            pending.append(seed)
            continue
        arms = {arm: json.loads(p.read_text()) for arm, p in paths.items()}
        first = next(iter(arms.values()))
        done.append({"seed": seed, "labels": first["labels"], "accuracy": {a: r["accuracy"] for a, r in arms.items()},
                     "win": {a: r.get("win_rate") for a, r in arms.items()},
                     "win_per_prompt": {a: r.get("win_per_prompt") for a, r in arms.items()},
                     "seconds": {a: r["seconds"] for a, r in arms.items()},
                     "train_loss": {a: r["train_loss"][-1] for a, r in arms.items()},
                     "held": {a: _last_held(r) for a, r in arms.items()},
                     "label_accuracy": arms[lab.BASELINE]["label_accuracy"]})
    return done, pending


def _last_held(result: dict) -> dict | None:
    """The held-out pairs, margins and agreement after the last round; None in files written before they were
    recorded (2026-12-04)."""
    if "held_agreement" not in result:
        return None
    return {"pairs": np.asarray(result["held_pairs"]), "margins": np.asarray(result["held_margins"][-1]),
            "agreement": np.asarray(result["held_agreement"][-1])}


def _resume_command(opts: Options) -> str:
    return opts.command.replace(" --report-only", "")


def write_report(opts: Options) -> dict:
    s = opts.settings
    now = dt.datetime.now(dt.timezone.utc)
    lines = [f"## Points per label by acquisition function (`dpo` fidelity, `{opts.preset}` preset)", "",
             f"_Run with `{_resume_command(opts)}`"
             + (f", this section written from its finished arms by `{opts.command}`" if opts.report_only else "")
             + f" on {now:%Y-%m-%d %H:%M} UTC; machine writing it: {describe_machine()} (each data set's block "
             f"says where its arms ran); model "
             f"`{opts.model}`; preset `{opts.preset}`; seeds asked 0–{opts.seeds - 1}._", "",
             f"**Setup.** Real LoRA-DPO on the model (`policy.train.train_dpo`, LoRA r 16, β = {s.beta}, "
             f"{s.epochs:g} epoch(s) a round, batch {s.batch_size}, learning rate {_lr(s)}) under the "
             f"**{s.schedule}** schedule: {SCHEDULE_TEXT[s.schedule]} Per seed: {s.pool} candidate pairs and "
             f"{s.held_out} held out (`lab.split`, after {s.tuning} pairs set apart for the recipe pilot), "
             f"{s.rounds} rounds of {s.per_round} labels ({s.labels} in all). Answers, coins and the market's error "
             f"estimates are the `linear` lab's (`lab.annotator_answers`, keyed on (seed, pair)): every arm gets the "
             f"same answer to the same pair. Arms pick with the worker's scorers (`policy.acquire.SCORERS`) on the "
             f"current policy's implicit-reward margins; `noise_aware` is also given each pair's annotator's error "
             f"estimate. After each round: **held-out implicit-reward accuracy** against the truth (50% before any "
             f"label). Movie, at the end: **win rate** against the reference on {s.win_prompts} eval-split prompts "
             f"({s.samples} sample(s) each, {s.new_tokens} new tokens, temperature 1, the same sampling seeds for "
             f"policy and reference), judged by the sentiment judge that is the data set's truth. HH has no judge: "
             f"its final figure is the held-out accuracy. Intervals: 95%, `scipy.stats.bootstrap(..., paired=True)` "
             f"over seeds (percentile); none with fewer than {report.MIN_SEEDS} seeds, where the bootstrap could only "
             f"span the finished seeds' own values. The arms are random, the control and the two "
             f"best methods of the `linear` fidelity on each data set (by their paired difference from random). "
             f"Sizes were fixed before the runs; nothing was tuned on held-out data. Each result file records the "
             f"settings that made it; files of other settings (such as this preset's earlier definitions) are moved "
             f"to `superseded/` and never pooled with these.", "",
             *_block(opts, "pilot", _pilot_text(opts)),
             f"This section is the `{opts.preset}` preset: {_sizes(s)}. "
             + " ".join(f"The `{other}` preset ({_sizes(PRESETS[other])}) has its own section."
                        for other in PRESETS if other != opts.preset), ""]
    figures = {}
    for dataset in DATASETS:
        text = []
        if dataset in opts.datasets:
            text, figures[dataset] = _dataset_section(dataset, opts)
        lines += _block(opts, dataset, text)

    report.replace_section(opts.out, "\n".join(lines), section_name(opts))
    return figures


def _block(opts: Options, name: str, text: list[str]) -> list[str]:
    """``text`` in its own marked block of the section; with no text (a data set not asked for, or no pilot file
    here), the block as ``opts.out`` already has it. A run of one data set, or a clone holding only some result
    files, rewrites what it measured and leaves the rest of the published section as it was."""
    marker = f"{section_name(opts)}-{name}"
    if text:
        return [f"<!-- {marker}:begin -->", *text, f"<!-- {marker}:end -->", ""]
    kept = report.section_block(opts.out, marker)
    return [kept, ""] if kept else []


SCHEDULE_TEXT = {
    "continue": "each round trains the current policy on the round's new labels only, with Adam's moments carried "
                "from the last round (`keep_optimizer`): one run of Adam over the labels in the order they were "
                "bought.",
    "retrain": "each round starts again from the reference, with a LoRA adapter seeded alike in every arm, on "
               "everything bought so far, with a fresh optimiser.",
}


def _lr(s: Settings) -> str:
    return f"{s.learning_rate:g}" if s.learning_rate is not None else "the recipe's LoRA default 5e-4"


def _pilot_text(opts: Options) -> list[str]:
    """The recipe pilot's table and the smallest detectable difference, if the pilot has run on this model."""
    ran = [(d, json.loads(pilot_path(opts, d).read_text())) for d in DATASETS if pilot_path(opts, d).exists()]
    if not ran or not opts.settings.tuning:
        return []
    out = []
    for dataset, results in ran:
        rows, mdd, gaps = pilot_summary(results, opts.settings.held_out, opts.seeds)
        if not rows:
            continue
        s = opts.settings
        bought, score = pilot_sizes(s)
        separated = [name for name, gap in gaps.items() if gap.low > 0]
        verdict = (f"perfect labels beat coin flips on the pilot's {score} pairs with {', '.join(separated)}"
                   if separated else f"**no recipe's perfect labels beat coin flips on the pilot's {score} pairs "
                   "(every interval above holds 0): at these sizes held-out accuracy does not reliably tell perfect "
                   "labels from coin flips, so it cannot rank acquisition functions, whose gains over random, on "
                   "labels about two-thirds right, are a fraction of perfect labels' gain**")
        out += [f"**Recipe pilot ({dataset}).** On the {s.tuning} pairs set apart from every seed (`python -m "
                f"app.experiments.dpo pilot --dataset {dataset}`): {bought} of them bought in rounds of "
                f"{s.per_round} with their true answers, or with coin flips, and the policy scored on the other "
                f"{score} after each round: held-out implicit-reward accuracy (train loss). A recipe whose perfect "
                f"labels do not beat coin flips here cannot rank acquisition functions.",
                "", f"| recipe | perfect labels, by round | coin flips, by round | perfect − coin at {bought}, "
                f"points [95%] | training per round |", "|---|---|---|---|---|", *rows, "",
                f"Smallest detectable difference (80% power, two-sided 5%) between two arms at {opts.seeds} seeds of "
                f"{s.held_out} held-out pairs, from the per-pair spread of (perfect − coin) agreement in the pilot: "
                f"**{mdd:.1f} points** (it counts only the sampling of held-out pairs, not training's seed-to-seed "
                f"noise, so the true figure is larger; the tables below add the one measured over seeds once there "
                f"are two). Verdict: {verdict}.", ""]
    return out


def _partial(opts: Options, dataset: str, pending: list[int]) -> str:
    """The finished arms of incomplete seeds: held-out accuracy and train loss by round, win rate, wall time."""
    out = []
    for seed in pending:
        for arm in opts.arms_of(dataset):
            path = arm_path(opts, dataset, seed, arm)
            if path.exists():
                r = json.loads(path.read_text())
                win = f", win rate {100 * r['win_rate']:.1f}%" if r.get("win_rate") is not None else ""
                by_round = ", ".join(f"{100 * a:.1f}%" for a in r["accuracy"][1:])
                loss = ", ".join(f"{x:.3f}" for x in r["train_loss"])
                out.append(f"seed {seed} `{arm}`: held out by round {by_round} (train loss {loss}){win} "
                           f"({r['seconds'] / 60:.0f} min)")
    return "; ".join(out)


def _over_prompts(results: list[dict], arm: str) -> str:
    """``arm`` minus random in win rate, points, paired over prompts, each prompt averaged over seeds."""
    from policy.evaluate import paired_difference

    def shares(name: str) -> np.ndarray:
        rows = np.array([[np.nan if v is None else v for v in r["win_per_prompt"][name]] for r in results], float)
        with warnings.catch_warnings():  # a prompt skipped in every seed stays NaN and is dropped
            warnings.simplefilter("ignore", RuntimeWarning)
            return 100 * np.nanmean(rows, axis=0)

    d = paired_difference(shares(arm), shares(lab.BASELINE))
    return report.interval_text(report.Interval(d.mean, d.ci_low, d.ci_high), report.points)


def _sizes(s: Settings) -> str:
    return (f"{s.rounds} rounds of {s.per_round} labels, pool {s.pool}, up to {s.held_out} held out, {s.tuning} "
            f"{s.tuning_dataset} pairs set apart for tuning, {s.win_prompts} win-rate prompts × {s.samples}, "
            f"{s.schedule}, lr {_lr(s)}, {s.epochs:g} epoch(s), batch {s.batch_size}, HH pairs up to "
            f"{s.max_prompt_tokens} prompt / {s.max_reply_tokens} reply tokens")


def held_interval(results: list[dict], arm: str, other: str | None) -> report.Interval | None:
    """``arm``'s held-out accuracy minus ``other``'s (None: the untrained policy's 0.5 on every pair), points,
    with the interval over seeds and held-out pairs (``report.crossed_interval``); None where a seed's file
    predates per-pair records."""
    diffs, pairs = [], []
    for r in results:
        held = r.get("held", {})
        mine, theirs = held.get(arm), held.get(other) if other else None
        if mine is None or (other and theirs is None):
            return None
        if other and not np.array_equal(mine["pairs"], theirs["pairs"]):
            raise ValueError(f"seed {r['seed']}: {arm} and {other} were scored on different held-out pairs")
        diffs.append(100 * (mine["agreement"] - (theirs["agreement"] if other else 0.5)))
        pairs.append(mine["pairs"])
    return report.crossed_interval(diffs, pairs)


def margin_correlation(results: list[dict], arm: str) -> float | None:
    """The mean, over pairs of seeds, of the correlation of ``arm``'s final held-out margins on the pairs both
    seeds held out; None without per-pair records.

    For coin flips it tells a side effect from chance: with labels that differ by seed, training
    that moved a held-out pair only through what its labels teach would move it differently in each
    seed (correlation near 0); a high correlation means training moves those pairs alike whatever
    the labels, so the control's lift or loss on one finite set of pairs repeats in every seed.
    """
    held = [r.get("held", {}).get(arm) for r in results]
    if len(held) < 2 or any(h is None for h in held):
        return None
    rs = []
    for i in range(len(held)):
        for j in range(i + 1, len(held)):
            _, a, b = np.intersect1d(held[i]["pairs"], held[j]["pairs"], return_indices=True)
            x, y = held[i]["margins"][a], held[j]["margins"][b]
            if len(a) > 2 and x.std() > 0 and y.std() > 0:
                rs.append(float(np.corrcoef(x, y)[0, 1]))
    return float(np.mean(rs)) if rs else None


SIDE_EFFECT_R = 0.3  # a correlation of coin-flip margins across seeds above this reads as a side effect
SIDE_EFFECT_TEXT = {
    True: "training moves those pairs alike whatever the labels, so its effect on one finite set of held-out pairs "
          "repeats in every seed, and only the interval over seeds and pairs counts that set's sampling.",
    False: "no side effect common to the seeds shows; what the seeds share is the held-out pairs themselves, whose "
           "sampling (up to {sd:.1f} points a seed at {n} pairs) only the interval over seeds and pairs counts.",
}


def _shown(boot: report.Interval, differences: np.ndarray, crossed: report.Interval | None) -> bool:
    """Whether a seed-level difference is read as real: the bootstrap, the t interval and (where per-pair
    records exist) the interval over seeds and held-out pairs all exclude 0."""
    return all(i.excludes(0.0) for i in (boot, report.t_interval(differences), crossed) if i is not None)


def _control_verdict(moved: np.ndarray, crossed: report.Interval | None = None) -> str:
    """What the control's per-seed move from the untrained policy says of the metric (issue 16: no gain
    allowed). A gain is read only where every interval given excludes 0 (``_shown``)."""
    boot = report.paired_interval(moved, np.zeros_like(moved), report.mean_difference)
    if np.isnan(boot.low):
        return f"fewer than {report.MIN_SEEDS} seeds: no interval, no verdict yet"
    if _shown(boot, moved, crossed):
        return "**a gain: the metric is wrong**" if boot.value > 0 else "a loss (no gain)"
    if boot.value > 0 and _shown(boot, moved, None):
        return ("no gain shown: the metric passes this check, but only by the interval over seeds and pairs (the "
                "seed-level intervals exclude 0)")
    return "no gain shown: the metric passes this check"


def _information_line(results: list[dict], last: int) -> str:
    """Real labels against coin flips on the same pairs (the control buys random's): what the labels'
    information adds to held-out accuracy. Where it does not show, no acquisition ranking can."""
    real, coin = (100 * report.curves(results, arm)[:, last] for arm in (lab.BASELINE, lab.CONTROL))
    boot = report.paired_interval(real, coin, report.mean_difference)
    crossed = held_interval(results, lab.BASELINE, lab.CONTROL)
    if np.isnan(boot.low):
        verdict = f"fewer than {report.MIN_SEEDS} seeds: no verdict yet"
    elif boot.value > 0 and _shown(boot, real - coin, crossed):
        verdict = "the labels' information shows"
    else:
        verdict = ("**the labels' information does not show: at these sizes this metric cannot rank acquisition "
                   "functions on this data set**")
    return (f"Real labels against coin flips on the same pairs (`random` − `coin_flip`): "
            f"{_both(boot, real - coin, crossed)} points ({verdict}).")


def _hh_lengths(opts: Options) -> tuple[np.ndarray, np.ndarray] | None:
    """HH's (len(a) − len(b) in characters, a preferred) per pair, through the importer; None where the file
    cannot be read here (a clone without ``../shared``): the report then leaves the length line out."""
    from app.experiments.features import read_logged

    try:
        pairs = read_logged(opts.hh)
    except (OSError, ValueError):
        return None
    lengths = np.array([len(a) - len(b) for a, b in zip(pairs.completion_a, pairs.completion_b, strict=True)])
    return lengths, pairs.a_preferred.astype(bool)


def _length_line(results: list[dict], arms: list[str], a_minus_b: np.ndarray, a_wins: np.ndarray) -> str:
    """A side effect the control cannot name: DPO's implicit reward can lean towards the shorter reply whatever
    the labels, and where the truth leans that way too, the lean alone scores. Per arm, the share of held-out
    pairs (unequal lengths, non-zero margin) whose margin favours the shorter reply, beside the accuracy of the
    rule "prefer the shorter reply" on the same pairs; means over seeds. Empty without per-pair records."""
    from policy.evaluate import agreement

    if any(r["held"].get(arm) is None for r in results for arm in arms):
        return ""
    favour = {arm: [] for arm in arms}
    rule = []
    for r in results:
        for arm in arms:
            held = r["held"][arm]
            d, m = a_minus_b[held["pairs"]], held["margins"]
            both = (d != 0) & (m != 0)
            favour[arm].append(np.mean((m[both] > 0) == (d[both] < 0)) if both.any() else 0.5)
        pairs = r["held"][lab.BASELINE]["pairs"]
        rule.append(np.mean(agreement(np.where(a_wins[pairs], -a_minus_b[pairs], a_minus_b[pairs]))))
    rule_acc = 100 * float(np.mean(rule))
    base_acc = 100 * float(np.mean([r["accuracy"][lab.BASELINE][-1] for r in results]))
    leans = ", ".join(f"`{arm}` {100 * np.mean(v):.0f}%" for arm, v in favour.items())
    reading = ("the length rule alone scores at least what `random` does" if rule_acc >= base_acc
               else "below `random`")
    return (f"Length: the rule \"prefer the shorter reply\" (characters) scores {rule_acc:.1f}% on the same held-out "
            f"pairs ({reading}, {base_acc:.1f}%). After training, the implicit reward favours the shorter reply on "
            f"{leans} of the pairs whose replies differ in length (means over seeds; the untrained policy's margins are 0, "
            "so it favours neither).")


def _both(boot: report.Interval, differences: np.ndarray, crossed: report.Interval | None = None) -> str:
    """A seed-level figure with its bootstrap interval and, beside it, its t interval and (where per-pair
    records exist) its interval over seeds and held-out pairs."""
    t = report.t_interval(differences)
    text = report.interval_text(boot, report.points)
    if np.isnan(t.low):
        return text
    extra = f"t: [{report.points(t.low)}, {report.points(t.high)}]"
    if crossed is not None and not np.isnan(crossed.low):
        extra += f"; seeds and pairs: [{report.points(crossed.low)}, {report.points(crossed.high)}]"
    return f"{text} ({extra})"


def _seed_values(values: np.ndarray) -> str:
    return ", ".join(f"{v:.1f}%" for v in values)


MACHINE_RECORDED_SINCE = "2026-12-04 18:00 UTC"  # arm files written before do not say where they ran


def _machines(files: list[dict]) -> str:
    """Where the arms ran, as their files record it (``ran_on``)."""
    counts = Counter(f.get("machine") or "" for f in files)
    said = [f"{n} ran on {m}" for m, n in sorted(counts.items()) if m]
    if counts[""]:
        said.append(f"{counts['']} do not record their machine (written before {MACHINE_RECORDED_SINCE})")
    return f"Of its {len(files)} arm files, {'; '.join(said)}." if files else ""


def _dataset_section(dataset: str, opts: Options) -> tuple[list[str], dict]:
    results, pending = finished(opts, dataset)
    arms = opts.arms_of(dataset)
    lines = [f"### {TITLES[dataset]}", ""]
    status = f"{len(results)} of {opts.seeds} seeds finished (seeds {', '.join(str(r['seed']) for r in results) or 'none'})"
    if pending:
        status += (f"; {len(pending)} pending (seeds {', '.join(map(str, pending))}): resume with "
                   f"`{_resume_command(opts)}` (finished arms are skipped)")
    files = [json.loads(p.read_text()) for p in sorted(results_folder(opts, dataset).glob("seed-*.json"))]
    note = next((f["data"] for f in files if f.get("data")), DATA_NOTES[dataset])
    held = sorted({f["held_out"] for f in files if "held_out" in f})
    held_text = f"; {' or '.join(map(str, held))} held out per seed" if held else ""
    written = f"written {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC from `{results_folder(opts, dataset)}`"
    lines += [f"Pairs: {note}{held_text}. {status}; {written}. {_machines(files)}", ""]
    if 0 < len(results) < report.MIN_SEEDS:
        lines += [f"**Fewer than {report.MIN_SEEDS} seeds are finished: the table gives means only, with no "
                  f"seed-level interval and no verdict.**", ""]
    partial = _partial(opts, dataset, pending)
    if partial:
        lines += ["Arms finished in seeds not yet complete (not paired, so not in the table): " + partial + ".", ""]
    if not results:
        return lines, {}
    last = len(results[0]["labels"]) - 1
    labels = results[0]["labels"][-1]
    base_acc = 100 * report.curves(results, lab.BASELINE)[:, last]
    movie = dataset == "movie"
    lines.append(f"Bought labels agree with the truth {np.mean([r['label_accuracy'] for r in results]):.1%} of the "
                 "time (random's pairs).")
    if lab.CONTROL in arms:
        moved = 100 * report.curves(results, lab.CONTROL)[:, last] - 50.0  # the untrained policy: 50%
        crossed = held_interval(results, lab.CONTROL, None)
        lines.append(f"Control: `coin_flip` at {labels} labels moves held-out accuracy by "
                     f"{_both(report.control_gain(results, lab.CONTROL, last), moved, crossed)} points from the "
                     f"untrained policy (seeds: {_seed_values(moved + 50.0)}; {_control_verdict(moved, crossed)}).")
        r = margin_correlation(results, lab.CONTROL)
        if r is not None:
            n = len(results[0]["held"][lab.CONTROL]["pairs"])
            lines.append(f"Coin-flip margins on the held-out pairs two seeds share correlate {r:+.2f} (mean over "
                         "pairs of seeds; about 0 if training moves a pair only through what its labels, which differ "
                         f"by seed, teach): {SIDE_EFFECT_TEXT[r >= SIDE_EFFECT_R].format(sd=50 / np.sqrt(n), n=n)}")
        lines.append(_information_line(results, last))
        length = "" if movie or (lengths := _hh_lengths(opts)) is None else _length_line(results, arms, *lengths)
        if length:
            lines.append(length)
        if movie:  # the untrained policy samples the reference's own completions (same seeds): 50%
            won = 100 * np.array([r["win"][lab.CONTROL] for r in results], dtype=np.float64) - 50.0
            lines.append(f"The same control moves the win rate against the reference by "
                         f"{_both(report.paired_interval(won, np.zeros_like(won), report.mean_difference), won)} "
                         f"points from the untrained policy's 50% (seeds: {_seed_values(won + 50.0)}; "
                         f"{_control_verdict(won)}).")
    lines += ["", f"| arm | held-out accuracy at {labels} labels | vs random, points [95%] |"
              + (" win rate vs reference | vs random, points [95%] | vs random, paired over prompts [95%] |"
                 if movie else "") + " min. detectable, points | last round's train loss | wall time per arm |",
              "|---|---|---|" + ("---|---|---|" if movie else "") + "---|---|---|"]
    rows = {}
    for arm in arms:
        acc = 100 * report.curves(results, arm)[:, last]
        vs = "baseline" if arm == lab.BASELINE else _both(
            report.paired_interval(acc, base_acc, report.mean_difference), acc - base_acc,
            held_interval(results, arm, lab.BASELINE))
        cells = [f"{acc.mean():.1f}%", vs]
        if movie:
            win = 100 * np.array([r["win"][arm] for r in results], dtype=np.float64)
            base_win = 100 * np.array([r["win"][lab.BASELINE] for r in results], dtype=np.float64)
            wvs = "baseline" if arm == lab.BASELINE else report.interval_text(
                report.paired_interval(win, base_win, report.mean_difference), report.points)
            cells += [f"{win.mean():.1f}%", wvs, "baseline" if arm == lab.BASELINE else _over_prompts(results, arm)]
            rows[arm] = {"accuracy": float(acc.mean()), "win": float(win.mean())}
        else:
            rows[arm] = {"accuracy": float(acc.mean())}
        minutes = np.mean([r["seconds"][arm] for r in results]) / 60
        mdd = "" if arm == lab.BASELINE or len(results) < report.MIN_SEEDS else \
            f"{report.min_detectable(acc - base_acc):.1f}"
        loss = np.mean([r["train_loss"][arm] for r in results])
        lines.append(f"| {arm} | " + " | ".join(cells) + f" | {mdd} | {loss:.3f} | {minutes:.1f} min |")
    if movie:
        lines += ["", "Win rates: the first interval is over seeds; the second pairs each eval prompt's share of "
                  "wins (averaged over the finished seeds) with random's on the same prompt "
                  "(`policy.evaluate.paired_difference`, a bootstrap over prompts: it holds the sampling noise "
                  "of the completions, not the seed-to-seed spread of training)."]
    plot = opts.plots / f"{section_name(opts)}-{dataset}.png"
    report.plot_curves(results, arms, plot, f"{dataset}, dpo fidelity: held-out accuracy, {len(results)} seeds", labels)
    lines += ["", f"Seed-level intervals: the paired bootstrap, then (t: …) the Student-t interval of the mean "
              f"paired difference (`report.t_interval`). With {len(results)} seeds the percentile bootstrap has few "
              "distinct resamples and is too narrow (for seeds at −1, 0 and +1 it spans [−1, +1], the t interval "
              "[−2.5, +2.5]). Then (seeds and pairs: …) an interval that also holds the sampling of the held-out "
              "pairs (`report.crossed_interval`): the seeds draw their held-out pairs from one finite set, so an "
              "effect of training on those particular pairs repeats in every seed and the seed-level intervals "
              "cannot see it is an accident of the pairs. Arms whose files predate per-pair records "
              "(2026-12-04) have none. Read a difference as shown only where every interval given excludes 0."]
    lines += ["", "Min. detectable: the smallest mean paired difference from random in held-out accuracy that a "
              "two-sided 5% test detects with 80% power at this many seeds, from the spread over the finished seeds "
              "(`report.min_detectable`).", "",
              f"![{dataset} dpo learning curves]({os.path.relpath(plot, opts.out.parent)})", ""]
    return lines, rows


def main(argv: list[str] | None = None) -> None:
    """``python -m app.experiments.dpo pilot``: the recipe pilot on the tuning pairs (see ``pilot``)."""
    import argparse

    from policy.model import configure_threads

    parser = argparse.ArgumentParser(prog="python -m app.experiments.dpo", description=pilot.__doc__.split("\n")[0])
    parser.add_argument("command", choices=["pilot"])
    parser.add_argument("--dataset", choices=DATASETS, default="movie")
    parser.add_argument("--recipes", default=",".join(PILOT_RECIPES), help="comma-separated, from: "
                        + ", ".join(PILOT_RECIPES))
    parser.add_argument("--preset", choices=list(PRESETS), default="cpu")
    parser.add_argument("--hh", type=Path, default=Options.hh)
    args = parser.parse_args(argv)
    recipes = [r for r in args.recipes.split(",") if r]
    unknown = [r for r in recipes if r not in PILOT_RECIPES]
    if unknown or not recipes:
        parser.error(f"--recipes: unknown {', '.join(unknown) or '(none given)'}; "
                     f"choose from {', '.join(PILOT_RECIPES)}")
    opts = Options.make(preset=args.preset, hh=args.hh, progress=False)
    if not opts.settings.tuning:
        parser.error(f"--preset: {args.preset!r} sets no pairs apart for tuning")
    configure_threads()
    results = pilot(opts, args.dataset, recipes)
    rows, mdd, _ = pilot_summary(results, opts.settings.held_out, opts.seeds)
    print("\n".join(rows) + f"\nsmallest detectable difference at {opts.seeds} seeds: {mdd:.1f} points")


if __name__ == "__main__":
    main()

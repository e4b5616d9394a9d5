"""The demo's work with the model outside the market: the pairs before the campaigns, the
paired evaluation after them.

Run as child processes (``python -m app.demo.paired STEP RUN ...``, started by
``app.demo.run``), so the demo itself stays torch-free; each step writes its files into the
run folder atomically and skips what is already there (a resumed run does not redo it).
The steps are cut so that two can run at once on two cores, beside the campaigns' workers:

- ``prepare RUN 1`` and ``prepare RUN 2``: a share each of the pool's pairs (two completions
  for each of ``pool`` train prompts, sampled with the reference), and with part 1 the
  ``heldout_pairs`` judge-labelled held-out pairs (``held_out.jsonl``, ties dropped) on which
  each round's held-out implicit-reward accuracy is measured. ``join_pool`` writes
  ``pool.jsonl`` from the two halves.
- ``sample RUN NAME...``: each named policy (``reference``, a campaign's last checkpoint,
  ``coin_flip``) sampled on the same ``eval_prompts`` held-out prompts with the same seeds
  (``policy.evaluate.sample_completions``), in two blocks of prompts with their own seeds
  (``NAME:B`` samples block ``B`` only), one file per policy and block under ``final/draws``. The
  coin-flip control is trained first: the auction's pairs as its worker trained them, round
  by round with Adam's state carried, the answers replaced by coin flips (the same number of
  labels, the same pairs, the same training).
- ``judge RUN``: every policy against the reference, prompt by prompt, and the auction
  against the baseline and against the control (``paired_difference``): ``paired.json``
  (the figures) and ``paired_completions.jsonl`` (what each policy wrote, to read).

The held-out prompts are drawn with the run's seed from the task's eval split (titles never
trained on): the first ``eval_prompts`` for the final comparison, the next ``heldout_pairs``
for the held-out pairs, so the two never share a prompt.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np

from app.demo.settings import DemoSettings
from market import files
from task import prompts as task

POOL, HELD_OUT, PAIRED, COMPLETIONS = "pool.jsonl", "held_out.jsonl", "paired.json", "paired_completions.jsonl"
CAMPAIGNS = ("auction", "baseline", "no_qc")  # the market's campaigns a policy comes from, when the run has them
COIN_FLIP = "coin_flip"
REFERENCE = "reference"
EVAL_SEED = 1234  # the final sampling's seed offset, the worker's own (``policy.cli``)
EVAL_BLOCKS = 2  # the final prompts' blocks, each with its own seeds (``blocks``)


def held_out_prompts(s: DemoSettings) -> tuple[list[str], list[str]]:
    """The final comparison's prompts and the held-out pairs' prompts, disjoint, drawn with the run's seed."""
    drawn = task.prompts("eval", s.eval_prompts + s.heldout_pairs, seed=s.seed)
    return drawn[: s.eval_prompts], drawn[s.eval_prompts:]


def judge_labelled(prompts: list[str], a: list[str], b: list[str], judge) -> list[dict]:
    """TRL rows (prompt, chosen, rejected) by the judge's verdict; ties, which say nothing, are dropped."""
    outcome = judge.compare(prompts, a, b)
    return [{"prompt": p, "chosen": x if o == 1.0 else y, "rejected": y if o == 1.0 else x}
            for p, x, y, o in zip(prompts, a, b, outcome, strict=True) if o != 0.5]


def coin_flipped(batches, seed: int):
    """The same pairs, trainings and weights, each answer replaced by a fair coin's (keyed on the seed)."""
    from policy.train import PreferencePair

    rng = np.random.default_rng([seed, 17])
    return [[p if rng.random() < 0.5 else PreferencePair(p.prompt, p.rejected, p.chosen, p.weight, p.soft_label)
             for p in batch] for batch in batches]


def _jsonl(rows) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def _model_source(s: DemoSettings, run: Path) -> str | None:
    return str(run / "models" / "tiny") if s.model == "tiny" else s.model


def _sampling(s: DemoSettings, seed: int, temperature: float):
    from policy.generate import SamplingConfig

    return SamplingConfig(max_new_tokens=s.max_new_tokens, temperature=temperature, seed=seed,
                          batch_size=32 if s.device == "cpu" else 64)


def recipe(s: DemoSettings):
    """The DPO recipe every arm trains with: the one ``run._worker_args`` gives the workers."""
    from policy.train import DPORecipe

    return DPORecipe(lora=s.lora, epochs=s.epochs, batch_size=s.batch_size, learning_rate=s.lr, seed=s.seed)


def _untrained(models, dpo):
    """The policy at step 0 (the reference) on the same base weights."""
    from policy.train import initial_models

    return initial_models(models.policy.unload() if models.is_lora else models.reference, models.tokenizer, dpo)


def pool_part(run: Path, part: int) -> Path:
    return run / "prepare" / f"pool-{part}.jsonl"


def prepare(run: Path, part: int) -> None:
    """Sample half of the pool's pairs with the reference (``part`` 1 or 2: two children on two
    cores), and with part 1 the judge-labelled held-out pairs. Each file is written once."""
    s = DemoSettings.load(run / "settings.json")
    target = pool_part(run, part)
    if (run / POOL).exists() or target.exists():
        return
    from policy.generate import generate_pairs
    from policy.model import configure_threads, load
    from task.judges import make_judge

    configure_threads()
    model, tokenizer = load(_model_source(s, run))
    prompts = task.prompts("train", s.pool, seed=s.seed)
    # part 1 also samples the held-out pairs, so it takes that many fewer pool prompts: the
    # two parts then sample as many completions and end together
    cut = min(s.pool, max(0, (s.pool - s.heldout_pairs + 1) // 2))
    half = prompts[:cut] if part == 1 else prompts[cut:]
    # each half its own sampling seed; seed + 1 is the held-out pairs'
    pairs = generate_pairs(model, tokenizer, half, _sampling(s, s.seed if part == 1 else s.seed + 2, 0.8))
    if part == 1 and not (run / HELD_OUT).exists():
        _, held_prompts = held_out_prompts(s)
        held = generate_pairs(model, tokenizer, held_prompts, _sampling(s, s.seed + 1, 0.8))
        labelled = judge_labelled([held_prompts[i] for i in held.index], held.completion_a, held.completion_b,
                                  make_judge(s.judge))
        files.write_text(run / HELD_OUT, _jsonl(labelled))
        print(f"held out: {len(labelled)} judge-labelled pairs of {len(held.index)} (ties dropped)", flush=True)
    target.parent.mkdir(exist_ok=True)
    files.write_text(target, _jsonl({"prompt": half[i], "completion_a": a, "completion_b": b}
                                 for i, a, b in zip(pairs.index, pairs.completion_a, pairs.completion_b, strict=True)))
    print(f"pool part {part}: {len(pairs.index)} pairs ({dict(pairs.skip_counts)} skipped)", flush=True)


def join_pool(run: Path) -> None:
    """``pool.jsonl``: the two parts, in order (once both are written; no model needed)."""
    if not (run / POOL).exists():
        files.write_text(run / POOL, "".join(pool_part(run, k).read_text(encoding="utf-8") for k in (1, 2)))


def draws_path(run: Path, name: str, block: int) -> Path:
    return run / "final" / "draws" / f"{name}-{block}.json"


def blocks(prompts: list[str]) -> list[list[str]]:
    """The final prompts in ``EVAL_BLOCKS`` contiguous blocks: every policy is sampled block by
    block with the same seeds, so the last policy's two blocks can be sampled at once on two cores."""
    size = -(-len(prompts) // EVAL_BLOCKS)
    return [prompts[k * size:(k + 1) * size] for k in range(EVAL_BLOCKS)]


def _wanted(names: list[str]) -> list[tuple[str, int]]:
    """``NAME`` means every block of that policy, ``NAME:B`` block ``B`` (1-based) only."""
    out = []
    for n in names:
        name, _, block = n.partition(":")
        out += [(name, int(block))] if block else [(name, b) for b in range(1, EVAL_BLOCKS + 1)]
    return out


def sample(run: Path, names: list[str]) -> None:
    """Each of ``names`` (``reference``, a campaign, ``coin_flip``; ``NAME:B`` for block ``B``
    only) sampled on the final comparison's held-out prompts with the same seeds, one file per
    policy and block, each written once.

    The demo runs these as soon as their policy exists, beside the campaigns still running
    (the reference after ``prepare``; the auction and the control after the auction's rounds),
    so the end of the run waits only for the last campaign's, whose two blocks run at once."""
    s = DemoSettings.load(run / "settings.json")
    todo: dict[str, list[int]] = {}
    for name, block in _wanted(names):
        if not draws_path(run, name, block).exists():
            todo.setdefault(name, []).append(block)
    if not todo:
        return
    from policy.evaluate import sample_completions
    from policy.model import configure_threads, load
    from policy.train import initial_models, load_checkpoint
    from policy.worker import WorkerState

    configure_threads()
    dpo = recipe(s)
    base, tokenizer = load(_model_source(s, run))
    models = initial_models(base, tokenizer, dpo)
    prompts, _ = held_out_prompts(s)
    for name, todo_blocks in todo.items():
        meta: dict = {}
        if name == COIN_FLIP:
            models, meta = _control(run, s, models, dpo)
        elif name != REFERENCE:
            state = WorkerState.load(run / "workers" / name / "state.json")
            models = load_checkpoint(models, state.checkpoint) if state.checkpoint else _untrained(models, dpo)
            meta = {"trainings": state.version, "labels": len(state.labels_trained)}
        for b in todo_blocks:
            cfg = _sampling(s, s.seed + EVAL_SEED + 1000 * (b - 1), 0.7)  # block b's seeds, whatever the policy
            drawn = sample_completions(models, blocks(prompts)[b - 1], cfg, samples=s.eval_samples,
                                       reference=name == REFERENCE)
            path = draws_path(run, name, b)
            path.parent.mkdir(parents=True, exist_ok=True)
            files.write_text(path, json.dumps({"completions": drawn, **meta}, ensure_ascii=False))
            print(f"{name}: sampled block {b} ({len(drawn)} held-out prompts x {s.eval_samples})", flush=True)


def _control(run: Path, s: DemoSettings, models, dpo):
    """The coin-flip control: the auction's pairs as its worker trained them, round by round
    with Adam's state carried, each answer replaced by a fair coin's."""
    from policy.scoring import ReferenceCache
    from policy.train import train_dpo
    from policy.worker import WorkerState, trained_pairs

    work = run / "final"
    auction = WorkerState.load(run / "workers" / "auction" / "state.json")
    batches = coin_flipped(trained_pairs(run / "workers" / "auction", auction.version), s.seed)
    cache_file = work / "reference_logps.json"
    if not cache_file.exists() and (run / "workers" / "auction" / "reference_logps.json").exists():
        shutil.copy2(run / "workers" / "auction" / "reference_logps.json", cache_file)
    cache = ReferenceCache(cache_file)
    coin, carried = _untrained(models, dpo), None
    for k, batch in enumerate(batches, 1):
        done = train_dpo(coin, batch, dpo, cache, work / "trainer", optimizer_state=carried)
        coin, carried = done.models, done.optimizer_state
        print(f"coin-flip control: training {k} of {len(batches)} ({len(batch)} pairs)", flush=True)
    return coin, {"trainings": len(batches), "labels": sum(map(len, batches))}


def judge(run: Path) -> None:
    """Judge every policy's draws against the reference's, prompt by prompt, and compare the
    auction with the baseline and with the control (``paired_difference``); once."""
    s = DemoSettings.load(run / "settings.json")
    if (run / PAIRED).exists():
        return
    from policy.evaluate import judged_outcomes, paired_difference, per_prompt, win_share
    from task.judges import make_judge

    prompts, _ = held_out_prompts(s)
    drawn, arms = {}, {}
    for name in (REFERENCE, *CAMPAIGNS, COIN_FLIP):
        paths = [draws_path(run, name, b) for b in range(1, EVAL_BLOCKS + 1)]
        if all(p.exists() for p in paths):
            data = [json.loads(p.read_text(encoding="utf-8")) for p in paths]
            drawn[name] = [row for d in data for row in d.pop("completions")]
            if name != REFERENCE:
                arms[name] = data[0]
    judge_ = make_judge(s.judge)
    per = {}
    for name in arms:
        outcomes = judged_outcomes(judge_, prompts, drawn[name], drawn[REFERENCE])
        win = win_share(outcomes, seed=s.seed)
        per[name] = per_prompt(outcomes)
        arms[name].update(win_rate=win.rate, ci_low=win.ci_low, ci_high=win.ci_high, n=win.n)
    pairs = {f"{a}-{b}": paired_difference(per[a], per[b], seed=s.seed).__dict__
             for a, b in (("auction", "baseline"), ("auction", COIN_FLIP)) if a in per and b in per}
    result = {"prompts": len(prompts), "samples": s.eval_samples, "judge": s.judge,
              "seeds": [s.seed + EVAL_SEED + 1000 * b for b in range(EVAL_BLOCKS)],
              "max_new_tokens": s.max_new_tokens, "arms": arms, "differences": pairs}
    files.write_text(run / COMPLETIONS, _jsonl(
        {"prompt": p, **{name: drawn[name][i] for name in drawn}} for i, p in enumerate(prompts)))
    files.write_text(run / PAIRED, json.dumps(result, indent=1))
    print(json.dumps({n: round(a["win_rate"], 3) for n, a in arms.items()}), flush=True)


def main(argv: list[str]) -> None:
    """``prepare RUN PART`` | ``sample RUN NAME...`` | ``judge RUN``."""
    step, folder, rest = argv[0], Path(argv[1]), argv[2:]
    if step == "prepare":
        prepare(folder, int(rest[0]))
    elif step == "sample":
        sample(folder, rest)
    else:
        {"judge": judge}[step](folder)


if __name__ == "__main__":  # pragma: no cover - the demo runs it as a child process
    main(sys.argv[1:])

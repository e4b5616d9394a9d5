"""The demo's work with the model outside the market: the pairs before the campaigns, the
paired evaluation after them.

Run as a child process (``python -m app.demo.paired prepare|final RUN``, started by
``app.demo.run``), so the demo itself stays torch-free; each step writes its files into the
run folder and is skipped when they are there (a resumed run does not redo it).

``prepare`` samples, with the reference model:

- ``pool.jsonl``: two completions for each of ``pool`` train prompts (the campaigns' pairs);
- ``held_out.jsonl``: two completions for each of ``heldout_pairs`` held-out prompts,
  labelled by the judge (ties dropped): each round's held-out implicit-reward accuracy is
  measured on them (forward passes only, no sampling).

``final`` loads each campaign's last checkpoint, trains the coin-flip control (the
auction's pairs as its worker trained them, round by round with Adam's state carried, the
answers replaced by coin flips: the same number of labels, the same pairs, the same
training), samples every policy and the reference on the same ``eval_prompts`` held-out
prompts with the same seeds (``policy.evaluate.sample_completions``), judges each against
the reference, and compares the auction with the baseline and with the control prompt by
prompt (``paired_difference``). It writes ``paired.json`` (the figures) and
``paired_completions.jsonl`` (what each policy wrote, to read).

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
from task import prompts as task

POOL, HELD_OUT, PAIRED, COMPLETIONS = "pool.jsonl", "held_out.jsonl", "paired.json", "paired_completions.jsonl"
CAMPAIGNS = ("auction", "baseline", "no_qc")  # the market's campaigns a policy comes from, when the run has them
COIN_FLIP = "coin_flip"
EVAL_SEED = 1234  # the final sampling's seed offset, the worker's own (``policy.cli``)


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


def prepare(run: Path) -> None:
    """Write the pool's pairs and the judge-labelled held-out pairs (once)."""
    s = DemoSettings.load(run / "settings.json")
    if (run / POOL).exists() and (run / HELD_OUT).exists():
        return
    from policy.generate import generate_pairs
    from policy.model import configure_threads, load
    from task.judges import make_judge

    configure_threads()
    model, tokenizer = load(_model_source(s, run))
    pool_prompts = task.prompts("train", s.pool, seed=s.seed)
    pairs = generate_pairs(model, tokenizer, pool_prompts, _sampling(s, s.seed, 0.8))
    rows = [{"prompt": pool_prompts[i], "completion_a": a, "completion_b": b}
            for i, a, b in zip(pairs.index, pairs.completion_a, pairs.completion_b, strict=True)]
    _, prompts = held_out_prompts(s)
    held = generate_pairs(model, tokenizer, prompts, _sampling(s, s.seed + 1, 0.8))
    labelled = judge_labelled([prompts[i] for i in held.index], held.completion_a, held.completion_b, make_judge(s.judge))
    (run / HELD_OUT).write_text(_jsonl(labelled), encoding="utf-8")
    (run / POOL).write_text(_jsonl(rows), encoding="utf-8")  # last: its presence means both are written
    print(f"pool: {len(rows)} pairs ({dict(pairs.skip_counts)} skipped); held out: {len(labelled)} judge-labelled "
          f"pairs of {len(held.index)} (ties dropped)", flush=True)


def final(run: Path) -> None:
    """The paired evaluation of every campaign's policy and the coin-flip control (once)."""
    s = DemoSettings.load(run / "settings.json")
    if (run / PAIRED).exists():
        return
    from policy.evaluate import judged_outcomes, paired_difference, per_prompt, sample_completions, win_share
    from policy.model import configure_threads, load
    from policy.scoring import ReferenceCache
    from policy.train import initial_models, load_checkpoint, train_dpo
    from policy.worker import WorkerState, trained_pairs
    from task.judges import make_judge

    configure_threads()
    work = run / "final"
    work.mkdir(exist_ok=True)
    dpo = recipe(s)
    base, tokenizer = load(_model_source(s, run))
    models = initial_models(base, tokenizer, dpo)
    prompts, _ = held_out_prompts(s)
    cfg = _sampling(s, s.seed + EVAL_SEED, 0.7)
    drawn = {"reference": sample_completions(models, prompts, cfg, samples=s.eval_samples, reference=True)}
    arms: dict[str, dict] = {}
    for name in CAMPAIGNS:
        state_path = run / "workers" / name / "state.json"
        if not state_path.exists():
            continue
        state = WorkerState.load(state_path)
        models = load_checkpoint(models, state.checkpoint) if state.checkpoint else _untrained(models, dpo)
        arms[name] = {"trainings": state.version, "labels": len(state.labels_trained)}
        drawn[name] = sample_completions(models, prompts, cfg, samples=s.eval_samples)

    auction = WorkerState.load(run / "workers" / "auction" / "state.json")
    batches = coin_flipped(trained_pairs(run / "workers" / "auction", auction.version), s.seed)
    cache_file = work / "reference_logps.json"
    if not cache_file.exists() and (run / "workers" / "auction" / "reference_logps.json").exists():
        shutil.copy2(run / "workers" / "auction" / "reference_logps.json", cache_file)
    cache = ReferenceCache(cache_file)
    coin = _untrained(models, dpo)
    carried = None
    for k, batch in enumerate(batches, 1):
        done = train_dpo(coin, batch, dpo, cache, work / "trainer", optimizer_state=carried)
        coin, carried = done.models, done.optimizer_state
        print(f"coin-flip control: training {k} of {len(batches)} ({len(batch)} pairs)", flush=True)
    arms[COIN_FLIP] = {"trainings": len(batches), "labels": sum(map(len, batches))}
    drawn[COIN_FLIP] = sample_completions(coin, prompts, cfg, samples=s.eval_samples) if batches \
        else drawn["reference"]

    judge = make_judge(s.judge)
    per = {}
    for name in arms:
        outcomes = judged_outcomes(judge, prompts, drawn[name], drawn["reference"])
        win = win_share(outcomes, seed=s.seed)
        per[name] = per_prompt(outcomes)
        arms[name].update(win_rate=win.rate, ci_low=win.ci_low, ci_high=win.ci_high, n=win.n)
    pairs = {f"{a}-{b}": paired_difference(per[a], per[b], seed=s.seed).__dict__
             for a, b in (("auction", "baseline"), ("auction", COIN_FLIP)) if a in per and b in per}
    result = {"prompts": len(prompts), "samples": s.eval_samples, "judge": s.judge, "seed": cfg.seed,
              "max_new_tokens": s.max_new_tokens, "arms": arms, "differences": pairs}
    (run / COMPLETIONS).write_text(_jsonl(
        {"prompt": p, **{name: drawn[name][i] for name in drawn}} for i, p in enumerate(prompts)), encoding="utf-8")
    (run / PAIRED).write_text(json.dumps(result, indent=1))
    print(json.dumps({n: round(a["win_rate"], 3) for n, a in arms.items()}), flush=True)


if __name__ == "__main__":  # pragma: no cover - the demo runs it as a child process
    step, folder = sys.argv[1], Path(sys.argv[2])
    {"prepare": prepare, "final": final}[step](folder)

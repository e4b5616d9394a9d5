"""Headline measurement: DPO on 128 judge-labelled pairs, win rate over the reference.

    python -m app.experiments.winrate            # defaults: 128 pairs, 256 held-out prompts

1. Sample two completions for training prompts with the default model (the reference).
2. Label each pair with the embedded judge (sentiment minus degeneracy penalties); ties
   are dropped until ``--pairs`` labelled pairs remain.
3. DPO through TRL on those pairs (LoRA by default).
4. Held-out prompts (titles never seen in training): the trained policy's completion
   against the reference's, sampled with the same seed, judged; win rate with a
   bootstrap 95% CI, ties counted half.

Generated pairs, the reference's held-out completions and the trained policy are cached
under ``data/experiments/winrate`` (keyed by their settings), so a rerun skips whatever an
earlier run finished. The figures go to ``result.json`` there as well.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import numpy as np


def _cached(folder: Path, key: dict, build):
    """``build()`` once per ``key`` (a JSON-able dict of settings), stored as JSON in ``folder``."""
    digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    path = folder / f"{digest}.json"
    if path.exists():
        return json.loads(path.read_text())["value"]
    value = build()
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"key": key, "value": value}))
    return value


def judged_pairs(policy, tokenizer, prompts: list[str], cfg, judge) -> list[dict]:
    """Two sampled completions per prompt, ordered by the judge into chosen/rejected; ties dropped."""
    from policy.generate import generate_pairs

    pairs = generate_pairs(policy, tokenizer, prompts, cfg, progress=True)
    kept = [prompts[i] for i in pairs.index]
    verdict = judge.compare(kept, pairs.completion_a, pairs.completion_b)
    return [{"prompt": p, "chosen": a if v == 1 else b, "rejected": b if v == 1 else a}
            for p, a, b, v in zip(kept, pairs.completion_a, pairs.completion_b, verdict, strict=True) if v != 0.5]


def run(args) -> dict:
    import torch

    from task import prompts as task
    from policy.evaluate import evaluate_win_rate, reference_completions
    from policy.generate import SamplingConfig
    from task.judges import SentimentJudge
    from policy.model import DEFAULT_MODEL, configure_threads, data_home, load
    from policy.scoring import ReferenceCache
    from policy.train import (
        DPORecipe, PreferencePair, checkpoint_meta, initial_models, load_checkpoint, save_checkpoint, train_dpo,
    )

    configure_threads()
    out = Path(args.out) if args.out else data_home() / "experiments" / "winrate"
    judge = SentimentJudge()
    model, tok = load(args.model)
    recipe = DPORecipe(
        lora=not args.full, learning_rate=args.lr, epochs=args.epochs, beta=args.beta,
        batch_size=args.batch_size, seed=args.seed, lr_scheduler="constant",
    )
    models = initial_models(model, tok, recipe)
    t0 = time.perf_counter()

    pair_cfg = SamplingConfig(max_new_tokens=args.max_new_tokens, temperature=1.0, batch_size=32, seed=args.seed)
    prompts = task.prompts("train", int(args.pairs * 1.5), seed=args.seed)

    key = {"model": args.model or DEFAULT_MODEL, "prompts": len(prompts), "sampling": vars(pair_cfg)}
    rows = _cached(out / "pairs", key, lambda: judged_pairs(models.policy, tok, prompts, pair_cfg, judge))[: args.pairs]
    if len(rows) < args.pairs:
        raise SystemExit(f"only {len(rows)} labelled pairs without ties; ask for fewer --pairs")
    t_pairs = time.perf_counter() - t0

    eval_prompts = task.prompts("eval", args.eval_prompts, seed=args.seed)
    eval_cfg = SamplingConfig(max_new_tokens=args.max_new_tokens, temperature=0.7, batch_size=32, seed=args.seed + 1)
    ekey = {"model": args.model or DEFAULT_MODEL, "prompts": eval_prompts, "sampling": vars(eval_cfg)}
    reference = _cached(out / "reference", ekey, lambda: reference_completions(models, eval_prompts, eval_cfg, progress=True))

    t1 = time.perf_counter()
    pairs = [PreferencePair(r["prompt"], r["chosen"], r["rejected"]) for r in rows]
    tkey = json.dumps({"pairs": key, "n": len(pairs), "recipe": vars(recipe)}, sort_keys=True)
    saved = out / "policies" / hashlib.sha1(tkey.encode()).hexdigest()[:12]
    if saved.exists():  # trained by an earlier run that did not finish its evaluation
        trained, train_metrics = load_checkpoint(models, saved), checkpoint_meta(saved)["train"]
    else:
        result = train_dpo(models, pairs, recipe, ReferenceCache(), out / "trainer", progress=True)
        trained, train_metrics = result.models, result.metrics
        save_checkpoint(trained, saved, {"train": train_metrics, "key": tkey})
    t_train = time.perf_counter() - t1

    report = evaluate_win_rate(trained, eval_prompts, reference, judge, eval_cfg, progress=True)
    keep = [i for i, c in enumerate(report.policy_completions) if c is not None]
    policy_scores = judge.score([eval_prompts[i] for i in keep], [report.policy_completions[i] for i in keep])
    reference_scores = judge.score([eval_prompts[i] for i in keep], [reference[i] for i in keep])
    w = report.win
    figures = {
        "win_rate": w.rate, "ci_low": w.ci_low, "ci_high": w.ci_high, "n": w.n,
        "ci_excludes_half": w.excludes_half(),
        "pairs": len(pairs), "recipe": vars(recipe), "train": train_metrics,
        "judge_mean_policy": float(np.mean(policy_scores)), "judge_mean_reference": float(np.mean(reference_scores)),
        "seconds": {"pairs": t_pairs, "train": t_train, "total": time.perf_counter() - t0},
        "torch_threads": torch.get_num_threads(),
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "result.json").write_text(json.dumps(figures, indent=2, default=str))
    return figures


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="model id or path (default: the embedded SmolLM2-135M-Instruct)")
    parser.add_argument("--pairs", type=int, default=128)
    parser.add_argument("--eval-prompts", type=int, default=256)
    parser.add_argument("--full", action="store_true", help="full fine-tuning instead of LoRA")
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--epochs", type=float, default=3.0)
    parser.add_argument("--beta", type=float, default=0.1)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None)
    figures = run(parser.parse_args(argv))
    print(
        f"win rate {figures['win_rate']:.3f} (95% CI {figures['ci_low']:.3f}-{figures['ci_high']:.3f}, "
        f"n={figures['n']}) after DPO on {figures['pairs']} judge-labelled pairs; "
        f"judge mean {figures['judge_mean_policy']:.3f} vs reference {figures['judge_mean_reference']:.3f}"
    )
    return figures


if __name__ == "__main__":
    main()

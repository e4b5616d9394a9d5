"""What quality control is worth in win rate per dollar, on the real default model.

    python -m app.experiments.quality            # defaults: $9.50 per arm, second price, 20% spammers

The live demo runs the same campaign with and without gold checks, but on two CPU cores
it can afford only a few dozen labels per campaign and 64 held-out prompts, so its win
rates carry ±12-point CIs. This experiment asks the same question at a size where the
answer shows, in two steps that each reuse a measured part of the product:

1. **What a dollar buys.** The offline simulator (``bidders.simulate``) runs the market's
   own mechanism and quality policy (``market.quality``; quality mode ``gold`` against
   ``none``) on a population with 20% spammers for ``--rounds`` rounds. Each arm yields its
   training labels per dollar (gold checks counted as spend) and the accuracy of those labels.
2. **What those labels teach.** ``budget × labels per dollar`` judge-labelled pairs of the
   real model (the win-rate experiment's cached pairs), each flipped with probability
   ``1 − accuracy`` (seeded; with ``--noise bt``, at the same accuracy but as the product's
   bots err: spammers' labels are coin flips and honest readers' are Bradley–Terry on the
   judge's score gap, so their mistakes fall on close pairs, see ``right_probabilities``),
   train a policy with DPO (the same LoRA recipe); its win rate over the reference on
   held-out prompts, with a bootstrap 95% CI, is divided by the budget: win-rate points
   above 50% per dollar.
3. **What the remaining noise costs** (``--ceiling``, on by default). The gold arm's number
   of labels again, none flipped: what perfect quality control would have taught for the
   same money. Far above the gold arm means the honest annotators' own mistakes (the
   population's careful readers agree with the truth about 84% of the time) are what is
   left to fix; near it, too few labels.
4. **Training on what the market knows** (``--soft``, on by default). Each market arm's
   very labels again, as the worker trains them: toward the accuracy the market believes
   of them (a soft label, conservative DPO) rather than as certain. With gold checks that
   is the accuracy they measured; without, the prior's 2/3.

Results go to ``data/experiments/quality/result.json`` and a PNG next to it (``result-bt.json``
and ``winrate_per_dollar-bt.png`` with ``--noise bt``).
"""

from __future__ import annotations

import argparse
import copy
import hashlib
from dataclasses import replace
import json
import time
from pathlib import Path

import numpy as np

from market.quality import skill
from app.experiments.winrate import _cached, judged_pairs

SPAMMY = {"diligent": {"share": 0.6 * 8 / 9}, "noisy": {"share": 0.25 * 8 / 9}, "spammer": {"share": 0.2},
          "adversarial": {"share": 0.05 * 8 / 9}}  # the default mix with spammers raised to 20%


COLOURS = {"gold": "#1f77b4", "none": "#ff7f0e", "gold_ceiling": "#2ca02c", "gold_soft": "#9467bd", "none_soft": "#d62728"}


def market_terms(rule: str, rounds: int, seeds: int) -> dict[str, dict]:
    """Per arm (``gold``, ``none``): training labels per dollar and their accuracy, from the simulator."""
    from bidders.config import parse_config
    from bidders.simulate import simulate

    terms = {}
    for mode in ("gold", "none"):
        cfg = {"population": {"size": 100, "kinds": SPAMMY}, "market": {"rules": [rule], "rounds": rounds},
               "run": {"seeds": list(range(seeds)), "workers": 1, "regret_bidders": 0}, "quality": {"mode": mode}}
        s = simulate(parse_config(cfg)).summary
        spend, labels = float(s["spend"].sum()), float(s["data_labels"].sum())
        accuracy = float((s["accuracy"] * s["data_labels"]).sum() / labels)
        share = float((s["spammer_share_late"] * s["data_labels"]).sum() / labels)
        terms[mode] = {"labels_per_dollar": labels / spend, "accuracy": accuracy, "spammer_share_late": share}
    return terms


def arm_terms(terms: dict[str, dict], *, ceiling: bool, soft: bool) -> dict[str, dict]:
    """The arms to train, each buying as many labels as the market arm it names (``bought``)
    and training them as certain (``soft_label`` None) or toward a soft label.

    Besides the market's two: with ``ceiling``, ``gold_ceiling``, the gold arm's labels all
    right: what perfect quality control would have taught for the same money, which tells
    the noise that remains apart from too few labels. With ``soft``, each market arm again
    as the worker trains it (``DPORecipe.soft_labels``): ``gold_soft`` toward the accuracy
    the gold checks measured, ``none_soft`` toward the prior's 2/3, all a market without
    gold checks can believe of an annotator (one label per item, nobody judged)."""
    def arm(mode, **changes):
        return {**terms[mode], "bought": mode, "soft_label": None, **changes}

    arms = {"gold": arm("gold")}
    if ceiling:
        arms["gold_ceiling"] = arm("gold", accuracy=1.0)
    if soft:
        arms["gold_soft"] = arm("gold", soft_label=terms["gold"]["accuracy"])
        arms["none_soft"] = arm("none", soft_label=float(skill.accuracy(skill.PRIOR_ALPHA, skill.PRIOR_BETA)))
    return arms | {"none": arm("none")}


def right_probabilities(gaps, accuracy: float, random_share: float) -> np.ndarray:
    """Per pair, the chance its label is right when annotators err as the product's bots do.

    A share ``random_share`` of the labels (spammers') are coin flips; the rest are
    Bradley–Terry on the judge's score gap (``bidders.labels.prob_choose_a``: right with
    ``σ(skill · gap)``), so honest readers err mostly on close pairs. ``skill`` is solved
    so that the labels are right ``accuracy`` of the time on these very pairs, as in the
    uniform arms: the two differ only in *which* pairs are wrong. Where coin flips alone
    are already wrong more often than ``1 − accuracy``, their share is cut to fit."""
    from scipy.optimize import brentq

    from bidders.labels import DILIGENT, prob_choose_a

    gaps = np.abs(np.asarray(gaps, dtype=float))
    share = min(random_share, 2.0 * (1.0 - accuracy))
    honest = (accuracy - share / 2.0) / (1.0 - share) if share < 1.0 else 0.5  # honest labels' accuracy
    if honest >= 1.0 - 1e-9:
        skill = np.inf
    elif honest <= 0.5:
        skill = 0.0
    else:
        skill = brentq(lambda k: prob_choose_a(gaps, k, DILIGENT).mean() - honest, 0.0, 1e6)
    with np.errstate(invalid="ignore"):  # an infinite skill on a zero gap: a tie, a coin flip
        right = np.where(gaps > 0, prob_choose_a(gaps, skill, DILIGENT), 0.5)
    return share / 2.0 + (1.0 - share) * right


def noisy_labels(rows: list[dict], accuracy, seed: int) -> list[dict]:
    """``rows`` (judge-labelled) with each preference kept with probability ``accuracy``
    (one number for all pairs: uniform flips, or one per pair: ``right_probabilities``)."""
    rng = np.random.default_rng(seed)
    flip = rng.random(len(rows)) > np.asarray(accuracy, dtype=float)
    return [{**r, "chosen": r["rejected"], "rejected": r["chosen"]} if f else r for r, f in zip(rows, flip, strict=True)]


def run(args) -> dict:
    from task import prompts as task
    from policy.evaluate import evaluate_win_rate, reference_completions
    from policy.generate import SamplingConfig
    from task.judges import SentimentJudge
    from policy.model import DEFAULT_MODEL, configure_threads, data_home, load
    from policy.scoring import ReferenceCache
    from policy.train import DPORecipe, PreferencePair, initial_models, train_dpo

    configure_threads()
    out = Path(args.out) if args.out else data_home() / "experiments" / "quality"
    wr = data_home() / "experiments" / "winrate"  # the win-rate experiment's caches: same pairs, same reference
    t0 = time.perf_counter()
    terms = _cached(out / "terms", {"rule": args.rule, "rounds": args.rounds, "seeds": args.seeds},
                    lambda: market_terms(args.rule, args.rounds, args.seeds))
    wanted = {mode: int(round(args.budget * t["labels_per_dollar"])) for mode, t in terms.items()}

    judge = SentimentJudge()
    model, tok = load(args.model)
    recipe = DPORecipe(lora=True, epochs=args.epochs, batch_size=8, seed=args.seed, lr_scheduler="constant")
    models = initial_models(copy.deepcopy(model), tok, recipe)  # LoRA wraps in place: each use gets a copy
    pair_cfg = SamplingConfig(max_new_tokens=args.max_new_tokens, temperature=1.0, batch_size=32, seed=args.seed)
    # As many prompts as the win-rate experiment samples for its 128 pairs (so its cache serves), or more.
    prompts = task.prompts("train", int(max(128, *wanted.values()) * 1.5), seed=args.seed)

    rows = _cached(wr / "pairs", {"model": args.model or DEFAULT_MODEL, "prompts": len(prompts),
                                  "sampling": vars(pair_cfg)},
                   lambda: judged_pairs(models.policy, tok, prompts, pair_cfg, judge))
    eval_prompts = task.prompts("eval", args.eval_prompts, seed=args.seed)
    eval_cfg = SamplingConfig(max_new_tokens=args.max_new_tokens, temperature=0.7, batch_size=32, seed=args.seed + 1)
    reference = _cached(wr / "reference", {"model": args.model or DEFAULT_MODEL, "prompts": eval_prompts,
                                           "sampling": vars(eval_cfg)},
                        lambda: reference_completions(models, eval_prompts, eval_cfg, progress=True))

    if args.noise == "bt":
        gaps = (judge.score([r["prompt"] for r in rows], [r["chosen"] for r in rows])
                - judge.score([r["prompt"] for r in rows], [r["rejected"] for r in rows]))
    arms = {}
    for mode, t in arm_terms(terms, ceiling=args.ceiling, soft=args.soft).items():
        n = min(wanted[t["bought"]], len(rows))
        right = (t["accuracy"] if args.noise == "uniform"
                 else right_probabilities(gaps[:n], t["accuracy"], t.get("spammer_share_late", 0.0)))
        labelled = noisy_labels(rows[:n], right, seed=args.seed)
        arm_recipe = replace(recipe, soft_labels=t["soft_label"] is not None)

        def train_and_evaluate(labelled=labelled, arm_recipe=arm_recipe, soft=t["soft_label"] or 1.0):
            pairs = [PreferencePair(r["prompt"], r["chosen"], r["rejected"], soft_label=soft) for r in labelled]
            folder = out / "trainer" / hashlib.sha1(json.dumps(labelled).encode()).hexdigest()[:12]
            trained = train_dpo(initial_models(copy.deepcopy(model), tok, arm_recipe), pairs, arm_recipe,
                                ReferenceCache(), folder, progress=True).models
            w = evaluate_win_rate(trained, eval_prompts, reference, judge, eval_cfg, progress=True).win
            return {"win_rate": w.rate, "ci_low": w.ci_low, "ci_high": w.ci_high, "n": w.n}

        recipe_key = {k: v for k, v in vars(arm_recipe).items() if k != "soft_labels" or v}  # older caches still hit
        if arm_recipe.soft_labels:
            recipe_key["soft_label"] = t["soft_label"]
        key = {"labels": labelled, "recipe": recipe_key, "eval": len(eval_prompts)}
        win = _cached(out / "arms", key, train_and_evaluate)
        flipped = sum(a["chosen"] != b["chosen"] for a, b in zip(labelled, rows[:n], strict=True))
        arms[mode] = {**t, "labels": n, "flipped": flipped, "budget_dollars": args.budget, **win,
                      "points_per_dollar": 100 * (win["win_rate"] - 0.5) / args.budget}
    figures = {"rule": args.rule, "noise": args.noise, "arms": arms, "seconds": time.perf_counter() - t0,
               "qc_beats_none": arms["gold"]["points_per_dollar"] > arms["none"]["points_per_dollar"]}
    out.mkdir(parents=True, exist_ok=True)
    suffix = "" if args.noise == "uniform" else f"-{args.noise}"
    (out / f"result{suffix}.json").write_text(json.dumps(figures, indent=2))
    plot(arms, out / f"winrate_per_dollar{suffix}.png", noise=args.noise)
    return figures


def plot(arms: dict, path: Path, noise: str = "uniform") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = {"gold": "gold checks", "none": "no quality control", "gold_ceiling": "gold checks' count,\nall labels right",
             "gold_soft": "gold checks,\nsoft labels", "none_soft": "no quality control,\nsoft labels"}
    fig, ax = plt.subplots(figsize=(2.4 * len(arms) + 1.5, 4.2))
    for i, (mode, a) in enumerate(arms.items()):
        y = 100 * a["win_rate"]
        ax.bar(i, y, color=COLOURS[mode], width=0.6)
        ax.errorbar(i, y, yerr=[[y - 100 * a["ci_low"]], [100 * a["ci_high"] - y]], color="black", capsize=6)
        ax.text(i, 100 * a["ci_high"] + 1, f"{a['labels']} labels, {100 * a['accuracy']:.0f}% right\n"
                f"{a['points_per_dollar']:.2f} points/$", ha="center", fontsize=9)
    ax.axhline(50, color="grey", linestyle=":")
    ax.set_xticks(range(len(arms)), [names[m] for m in arms])
    ax.set_ylim(30, 105)
    ax.set_ylabel("win rate against the reference (%)")
    errors = "wrong labels on close pairs (Bradley–Terry)" if noise == "bt" else "wrong labels at random"
    ax.set_title(f"Same budget (${next(iter(arms.values()))['budget_dollars']:g}), 20% spammers, {errors}")
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="model id or path (default: the embedded SmolLM2-135M-Instruct)")
    parser.add_argument("--budget", type=float, default=9.5, help="dollars per arm")
    parser.add_argument("--rule", default="second_price")
    parser.add_argument("--rounds", type=int, default=200, help="simulated rounds behind the market terms")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--eval-prompts", type=int, default=256)
    parser.add_argument("--epochs", type=float, default=3.0)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ceiling", action=argparse.BooleanOptionalAction, default=True,
                        help="also train on the gold arm's number of labels with none flipped (default: on)")
    parser.add_argument("--soft", action=argparse.BooleanOptionalAction, default=True,
                        help="also train each market arm's labels as soft labels, as the worker does (default: on)")
    parser.add_argument("--noise", choices=("uniform", "bt"), default="uniform",
                        help="which labels are wrong: uniform (any pair, equally) or bt (spammers' coin flips, "
                             "and honest readers' Bradley–Terry mistakes on close pairs, as the demo's bots make; "
                             "results go to result-bt.json)")
    parser.add_argument("--out", default=None)
    figures = run(parser.parse_args(argv))
    for mode, a in figures["arms"].items():
        print(f"{mode}: {a['labels']} labels at {100 * a['accuracy']:.1f}% accuracy -> win rate "
              f"{100 * a['win_rate']:.1f}% (95% CI {100 * a['ci_low']:.1f}-{100 * a['ci_high']:.1f}), "
              f"{a['points_per_dollar']:.2f} points per dollar")
    return figures


if __name__ == "__main__":
    main()

"""``prefmarket experiment``: points per label by acquisition function, and dollars per point.

Checks every option and data file before any work (a bad one is a ``ValueError`` naming it),
builds or reuses the cached inputs of each data set (``features``), runs the seeds
(``lab.run_seeds``: resumable, in parallel), then writes its marked section of
docs/results.md and the plots beside it. A pilot of the first seeds comes first: the
seed-to-seed spread of its paired differences gives the minimum detectable difference at
the number of seeds asked, printed and recorded before the full run.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from app.experiments import lab, report
from app.experiments.features import TINY, inputs_folder, logged_inputs, model_label, movie_inputs
from app.machine import describe as describe_machine
from market import files

DATASETS = ("movie", "hh")
DEFAULT_HH = Path("../shared/data/hh-harmless-base/dev.jsonl.gz")
MOVIE_PROMPTS = 448
PILOT_SEEDS = 10
QUICK = lab.Settings(rounds=4, budget_rounds=2, per_round=4, dims=8, apl_f_pair=4, apl_f_prompt=2)
TITLES = {"movie": "movie-review task (judge = truth, bots' population answers)",
          "hh": "Anthropic HH harmless-base (logged human preference = truth, simulated annotator noise)"}


@dataclass
class Options:
    datasets: list[str] = field(default_factory=lambda: list(DATASETS))
    hh: Path = DEFAULT_HH
    hh_pairs: int | None = None
    seeds: int = 20
    workers: int = 1
    cluster: str | None = None  # a Dask scheduler's address (app.experiments.executor)
    arms: list[str] = field(default_factory=lambda: list(lab.ARMS))
    model: str = "SmolLM2-135M-Instruct"
    settings: lab.Settings = field(default_factory=lab.Settings)
    movie_prompts: int = MOVIE_PROMPTS
    movie_new_tokens: int = 32
    prices: bool = True
    price_supply: str = "thin"  # a new campaign: the lab's campaigns are small and new
    price_quality: str = "gold"  # gold checks on the simulated campaigns, or none
    price_rounds: int | None = None
    out: Path = Path("docs/results.md")
    plots: Path = Path("docs/results")
    home: Path = Path("data/experiments")
    command: str = "prefmarket experiment"
    progress: bool = True

    @classmethod
    def quick(cls, **kw) -> Options:
        """Small enough for the tests: the tiny model, 3 seeds, 4 rounds of 4 labels, a small movie pool."""
        return cls(**{"seeds": 3, "model": TINY, "settings": QUICK, "movie_prompts": 96, "movie_new_tokens": 12,
                      "price_rounds": 2, "price_quality": "none", **kw})  # gold checks buy no data in 2 rounds


def check(opts: Options) -> None:
    """Refuse bad options before any work, naming the option or file."""
    unknown = [a for a in opts.arms if a not in lab.ARMS]
    if unknown or not opts.arms:
        raise ValueError(f"--arms: unknown arm {', '.join(unknown) or '(none given)'}; choose from {', '.join(lab.ARMS)}")
    if lab.BASELINE not in opts.arms:
        raise ValueError(f"--arms: every comparison is against {lab.BASELINE!r}; include it")
    bad = [d for d in opts.datasets if d not in DATASETS]
    if bad or not opts.datasets:
        raise ValueError(f"--datasets: unknown data set {', '.join(bad) or '(none given)'}; choose from {', '.join(DATASETS)}")
    if opts.seeds < report.MIN_SEEDS:
        raise ValueError(f"--seeds: at least {report.MIN_SEEDS} (the intervals are over seeds)")
    if opts.workers < 1:
        raise ValueError("--workers: at least 1")
    if opts.prices:
        from app.experiments.price import QUALITY, SUPPLIES

        if opts.price_supply not in SUPPLIES:
            raise ValueError(f"--price-supply: unknown {opts.price_supply!r}; choose from {', '.join(SUPPLIES)}")
        if opts.price_quality not in QUALITY:
            raise ValueError(f"--price-quality: unknown {opts.price_quality!r}; choose from {', '.join(QUALITY)}")
    if "movie" in opts.datasets:
        # about 10% of sampled pairs are judge ties and dropped
        opts.settings.check(int(opts.movie_prompts * 0.9))
    if "hh" in opts.datasets:
        from app.experiments.features import read_logged

        pairs = read_logged(opts.hh)  # names the file when unreadable or not logged preferences
        try:
            opts.settings.check(min(len(pairs.prompts), opts.hh_pairs or len(pairs.prompts)))
        except ValueError as exc:
            raise ValueError(f"{opts.hh}: {exc}") from None


def _inputs_path(dataset: str, opts: Options) -> tuple[Path, int, str]:
    """Build or reuse a data set's cached inputs; (their file, pairs, a note on what was dropped)."""
    if dataset == "hh":
        inputs, pairs, path = logged_inputs(opts.hh, opts.model, opts.home, limit=opts.hh_pairs, progress=opts.progress)
        note = f"{len(pairs.prompts)} pairs imported by the product's HH importer, {len(pairs.refused)} lines refused"
        if len(inputs) < len(pairs.prompts):
            note += f"; the lab uses the file's first {len(inputs)} (`--hh-pairs`)"
        if pairs.refused:
            note += " (" + "; ".join(f"line {n}: {why.split(',')[0]}" for n, why in pairs.refused[:3]) + ")"
        return path, len(inputs), note
    inputs = movie_inputs(opts.movie_prompts, opts.model, opts.home, max_new_tokens=opts.movie_new_tokens,
                          progress=opts.progress)
    path = inputs_folder(opts.home, dataset, opts.model) / "inputs.npz"
    note = (f"{opts.movie_prompts} train-split prompts, two completions each sampled once by the model "
            f"(temperature 1, {opts.movie_new_tokens} new tokens); {len(inputs)} pairs the judge does not score equal")
    return path, len(inputs), note


def run(opts: Options, echo=print) -> dict:
    """The whole experiment; returns the figures it wrote."""
    check(opts)
    seeds = list(range(opts.seeds))
    prices = _prices(opts, echo) if opts.prices else None
    sections, figures = [], {}
    for dataset in opts.datasets:
        path, n, note = _inputs_path(dataset, opts)
        if dataset == "movie":
            opts.settings.check(n)
        folder = lab.results_folder(opts.home, f"{dataset}-{model_label(opts.model)}", opts.settings)
        pilot = seeds[: min(PILOT_SEEDS, len(seeds))]
        pilot_results = lab.run_seeds(path, folder, pilot, opts.arms, opts.settings, workers=opts.workers,
                                      cluster=opts.cluster, progress=opts.progress, desc=f"{dataset} pilot")
        mdd = _pilot_mdd(pilot_results, opts)
        echo(f"{dataset}: pilot of {len(pilot)} seeds: minimum detectable difference at {len(seeds)} seeds "
             + ", ".join(f"{arm} {v:.1f} pts" for arm, v in mdd.items()))
        results = lab.run_seeds(path, folder, seeds, opts.arms, opts.settings, workers=opts.workers,
                                cluster=opts.cluster, progress=opts.progress, desc=dataset)
        text, figs = _dataset_section(dataset, results, note, mdd, len(pilot), prices, opts)
        sections.append(text)
        figures[dataset] = figs
    body = _header(opts, seeds) + "\n".join(sections)
    if prices is None:
        body += "\n_Dollars per point: not computed (`--no-prices`)._\n"
    report.replace_section(opts.out, body)
    echo(f"wrote the experiment's section of {opts.out} and plots in {opts.plots}")
    return figures


def _where(opts: Options) -> str:
    return f"on the Dask cluster at {opts.cluster}" if opts.cluster else f"in {opts.workers} worker processes"


def _checks(opts: Options) -> str:
    return "gold checks" if opts.price_quality == "gold" else "no gold checks"


def _prices(opts: Options, echo) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Cents per correct label and fill (data labels bought / wanted) per pricing arm and seed,
    from ``app.experiments.price`` (same seeds), cached."""
    from app.experiments.price import ARMS, price_per_label

    setting = f"{opts.price_supply}-{opts.price_quality}-{opts.price_rounds or 'default'}-{opts.seeds}"
    cache = opts.home / "prices" / f"{setting}-fill.npz"
    if cache.exists():
        with np.load(cache) as z:
            return {arm: z[arm] for arm in ARMS}, {arm: z[f"fill:{arm}"] for arm in ARMS}
    echo(f"price per label: {opts.seeds} seeds of the offline market "
         f"({opts.price_supply} supply, {_checks(opts)})")
    table = price_per_label(opts.seeds, supply=opts.price_supply, quality=opts.price_quality, rounds=opts.price_rounds,
                            workers=opts.workers)
    prices = {arm: np.asarray(table[arm], dtype=np.float64) for arm in ARMS}
    fill = {arm: np.asarray(table["fill"][arm], dtype=np.float64) for arm in ARMS}
    with files.replacing(cache, ".tmp.npz") as tmp:
        np.savez(tmp, **prices, **{f"fill:{arm}": f for arm, f in fill.items()})
    return prices, fill


def _pilot_mdd(results: list[dict], opts: Options) -> dict[str, float]:
    """Minimum detectable difference (points) at ``opts.seeds`` seeds, from the pilot's paired spread."""
    b = opts.settings.budget_rounds
    base = report.curves(results, lab.BASELINE)[:, b]
    out = {}
    for arm in opts.arms:
        if arm == lab.BASELINE:
            continue
        diff = 100 * (report.curves(results, arm)[:, b] - base)
        out[arm] = report.Z_POWER * float(diff.std(ddof=1)) / np.sqrt(opts.seeds) if len(diff) > 1 else float("nan")
    return out


def _header(opts: Options, seeds: list[int]) -> str:
    s = opts.settings
    return f"""## Points per label by acquisition function (`linear` fidelity)

_Written by `{opts.command}` on {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC; machine: {describe_machine()};
model `{opts.model}`; seeds {seeds[0]}–{seeds[-1]} ({len(seeds)}), run {_where(opts)}._

**Setup.** For each pair the frozen model's last-layer state, averaged over each completion's tokens, is the
feature φ(x, y); the policy is log-linear on it (implicit reward θᵀφ), so DPO's loss on bought pairs is a logistic
loss on φ_a − φ_b with an L2 prior (λ = {s.lam}), after projecting on the {s.dims} principal directions of the
seed's candidate pool. Each seed holds out {s.held_out:.0%} of the pairs; each arm buys {s.per_round} labels a
round for {s.rounds} rounds from the rest and is scored after every round by **held-out preference accuracy**
against the truth (50% before any label). The campaign is {s.budget} labels ({s.budget_rounds} rounds): tables
read the arms there; the curves go on so that a cheaper rule can be read at equal spend. Every pair's annotator
is drawn from the bots' population (60% careful, 25% noisy, 10% spammers, 5% adversarial) and answers through
`bidders.labels`, drawn once per (seed, pair): every arm that buys a pair gets the same answer. Arms:
`random` (baseline), `sharp` (least certain |Δ| first), `apl` (an entropy filter keeping 1/{s.apl_f_prompt} of the
pool, at most {s.per_round * s.apl_f_pair} pairs, then most certain), `adpo` (greedy D-optimal design carrying the pairs already bought), `noise_aware`
(mutual information of the label and θ under the Laplace posterior, given the pair's annotator's error as the
market estimates it from {s.gold} gold answers: it is the only arm that knows who will answer), and the control
`coin_flip` (random's pairs, coin-flip answers). W-SHARP ranks pairs exactly like SHARP and is left out.
Intervals: 95%, `scipy.stats.bootstrap(..., paired=True)` over seeds (percentile). Settings were fixed before
the runs; nothing was tuned on held-out data.

"""


def _dataset_section(dataset: str, results: list[dict], note: str, mdd: dict[str, float], n_pilot: int,
                     prices: dict[str, np.ndarray] | None, opts: Options) -> tuple[str, dict]:
    s = opts.settings
    b = s.budget_rounds
    rows = report.acquisition_rows(results, opts.arms, b, lab.BASELINE)
    base_final = next(r.final for r in rows if r.arm == lab.BASELINE)
    label_acc = np.mean([r["label_accuracy"] for r in results])
    lines = [f"### {TITLES[dataset]}", "",
             f"{note}. Per seed: {results[0]['pool']} pairs in the candidate pool, {results[0]['held_out']} held out. "
             f"Bought labels agree with the truth {label_acc:.1%} of the time (all arms: the same answers). "
             f"Ceiling of the features: the policy fitted on every pool pair with its true label scores "
             f"{np.mean([r['ceiling'] for r in results]):.1%} held out (mean over seeds).", ""]
    if lab.CONTROL in opts.arms:
        gain = report.control_gain(results, lab.CONTROL, b)
        verdict = "no gain: the metric passes" if not gain.excludes(0.0) else "**a gain: the metric is wrong**"
        lines += [f"Control: `coin_flip` at {s.budget} labels moves held-out accuracy by "
                  f"{report.interval_text(gain, report.points)} points from the untrained policy ({verdict}).", ""]
    lines += [f"| arm | accuracy at {s.budget} labels | vs random, points [95%] | labels to reach random's "
              f"{s.budget}-label accuracy, % of {s.budget} [95%] | min. detectable (pilot) |",
              "|---|---|---|---|---|"]
    for r in rows:
        vs = "baseline" if r.arm == lab.BASELINE else report.interval_text(r.vs_baseline, report.points)
        need = report.interval_text(r.labels_share, report.pct)
        md = "" if r.arm == lab.BASELINE else f"{mdd.get(r.arm, float('nan')):.1f} pts"
        lines.append(f"| {r.arm} | {100 * r.final:.1f}% | {vs} | {need} | {md} |")
    plot = opts.plots / f"experiment-{dataset}.png"
    report.plot_curves(results, opts.arms, plot, f"{dataset}: held-out accuracy, {len(results)} seeds", s.budget)
    rel = os.path.relpath(plot, opts.out.parent)
    lines += ["", f"Minimum detectable difference: 80% power, two-sided 5%, at {len(results)} seeds, from the "
              f"seed-to-seed spread of the first {n_pilot} seeds' paired differences (computed before the full run). "
              f"\"never\": the seed-averaged curve does not reach random's {100 * base_final:.1f}% within "
              f"{s.labels} labels.", ""]
    lines += _noise_aware_verdict(results, rows, b)
    lines += [f"![{dataset} learning curves]({rel})", ""]
    figures = {"rows": rows, "base_final": base_final}
    if prices is not None:
        dollar, figs = _dollar_section(dataset, results, prices, opts)
        lines += dollar
        figures["dollars"] = figs
    return "\n".join(lines) + "\n", figures


def _noise_aware_verdict(results: list[dict], rows: list[report.ArmRow], budget_index: int) -> list[str]:
    """``noise_aware`` against random and against the best of the other methods (by mean at the budget), paired."""
    names = {r.arm for r in rows}
    others = [r for r in rows if r.arm not in (lab.BASELINE, lab.CONTROL, "noise_aware")]
    if "noise_aware" not in names or not others:
        return []
    best = max(others, key=lambda r: r.final)
    mine = 100 * report.curves(results, "noise_aware")[:, budget_index]
    theirs = 100 * report.curves(results, best.arm)[:, budget_index]
    vs_best = report.paired_interval(mine, theirs, report.mean_difference)
    vs_random = next(r.vs_baseline for r in rows if r.arm == "noise_aware")
    def word(i: report.Interval) -> str:
        return "ahead" if i.low > 0 else "behind" if i.high < 0 else "not distinguishable"
    return [f"`noise_aware` against `random`: {report.interval_text(vs_random, report.points)} points "
            f"({word(vs_random)}); against the best other method, `{best.arm}`: "
            f"{report.interval_text(vs_best, report.points)} points ({word(vs_best)}).", ""]


def _dollar_section(dataset: str, results: list[dict], priced: tuple[dict, dict], opts: Options):
    """The (pricing rule × acquisition) tables. Each rule's fill is shown beside its price: a rule
    that fills less than the campaign wants could not buy its labels in its rounds at that price,
    so its dollars read what the labels cost, not that they could be had."""
    from app.experiments.price import BASELINE as PRICE_BASELINE

    prices, fill = priced

    s = opts.settings
    price_default = "the supply's own"
    arms = [a for a in opts.arms if a != lab.CONTROL]
    rows = report.dollar_rows(results, arms, prices, s.budget_rounds, lab.BASELINE, PRICE_BASELINE)
    rules = list(dict.fromkeys(r.rule for r in rows))
    cell = {(r.rule, r.arm): r for r in rows}
    head = "| pricing | ¢/label | fill | " + " | ".join(arms) + " |"
    sep = "|---|---|---|" + "---|" * len(arms)
    lines = [f"**Dollars per point** ({dataset}). Dollars = labels × cents per correct accepted label of each "
             f"pricing arm on the same seed (`app.experiments.price.price_per_label`, {opts.price_supply} supply, "
             f"{_checks(opts)}, {opts.price_rounds or price_default} rounds). Baseline: `{PRICE_BASELINE}` with `random` items buying {s.budget} labels. "
             "First table: dollars to reach the baseline's final accuracy, % of the baseline's dollars [95%] "
             "(\"never\": not within the labels run). Second: accuracy at the baseline's spend minus the "
             "baseline's, points [95%] (a rule that buys more labels than the curves cover reads their end: a "
             "lower bound). Fill: the data labels each pricing arm bought over those its simulated campaign "
             "wanted; below 100% the price could not buy a campaign's labels in its rounds, so that row's dollars "
             "price labels that could not all be had. `first_price` is not truthful: its cents depend on how the "
             "simulated bidders shade (`bidders.strategies`), so it stays for contrast and is never a default.",
             "", head, sep]
    for rule in rules:
        lines.append(f"| {rule} | {cell[(rule, arms[0])].cents_per_label:.1f} | {100 * fill[rule].mean():.0f}% | "
                     + " | ".join(report.interval_text(cell[(rule, a)].dollars_share, report.pct) for a in arms) + " |")
    lines += ["", head, sep]
    for rule in rules:
        lines.append(f"| {rule} | {cell[(rule, arms[0])].cents_per_label:.1f} | {100 * fill[rule].mean():.0f}% | "
                     + " | ".join(report.interval_text(cell[(rule, a)].at_equal_spend, report.points) for a in arms)
                     + " |")
    unpriced = [rule for rule in prices if rule not in rules]
    if unpriced:
        lines += ["", f"No price for {', '.join(f'`{r}`' for r in unpriced)}: on some seed it bought no data label "
                      "in its rounds."]
    plot = opts.plots / f"experiment-{dataset}-dollars.png"
    report.plot_dollars(rows, plot, f"{dataset}: dollars to reach posted-median + random's accuracy")
    lines += ["", f"![{dataset} dollars per point]({os.path.relpath(plot, opts.out.parent)})", ""]
    return lines, rows


def with_settings(opts: Options, **changes) -> Options:
    """``opts`` with some of its ``Settings`` changed (the CLI's --rounds and friends)."""
    given = {k: v for k, v in changes.items() if v is not None}
    return replace(opts, settings=replace(opts.settings, **given)) if given else opts

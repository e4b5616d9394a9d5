"""Several demo runs side by side: what each campaign bought over seeds, pooled.

One demo run evaluates each policy on its own seed's held-out prompts, so a single run
says little about how the campaigns compare across pools, bots and samples (README, "The
demo"). Runs on different seeds are independent measurements of
the same campaigns, so they pool: ``prefmarket demo-compare runs/a runs/b ...`` reads each
run's ``summary.json`` and reports, per campaign, every run's final win rate and $ per
point, the pooled win rate over all runs' held-out prompts, and $ per point at the pooled
win rate and the mean spend; and, against the campaign without gold checks, how many seeds
each gold campaign won on $ per point and its mean win-rate difference.

Spend is everything a campaign paid, rounds after its last evaluation included (gold
checks that bought no training label still cost money): the one definition of $ per
point, ``market.accounting.cents_per_point``, which each run's report shows as the API
serves it. Pooled runs are priced with the same function; money reads as
``market.money.usd`` writes it.

Pooling: each run's win rate is a mean over its ``n`` prompts with the standard error its
own bootstrap CI implies (half-width / 1.96); the pooled rate weighs runs by ``n`` and its
standard error combines theirs. The difference between two campaigns of one run is taken
as if their evaluations were independent (they share prompts, which only makes the
interval wider than it needs to be).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from market.accounting import cents_per_point
from market.money import usd
from app.demo import plots
from app.demo.report import pct

Z95 = 1.96
TITLES = {"auction": "auction with gold checks", "no_qc": "auction, no gold checks",
          "baseline": "baseline (posted price, random items)"}
GOLD_CAMPAIGNS = ("auction",)
UNTRAINED = ("vetting",)  # campaigns that buy gold records, not a policy: nothing to pool
NO_QC = "no_qc"


class CompareError(ValueError):
    """A run folder that cannot be compared; the message says which and what to do."""


@dataclass(frozen=True)
class Final:
    """One campaign's end in one run."""

    seed: int
    spend_cents: int
    win_rate: float | None  # None: never evaluated (bought no training labels)
    se: float
    n: int
    training_labels: int
    gold_labels: int

    @property
    def cents_per_point(self) -> float | None:
        return None if self.win_rate is None else cents_per_point(self.spend_cents, self.win_rate)


@dataclass(frozen=True)
class Pooled:
    """One campaign over all runs."""

    runs: int
    mean_spend_cents: float
    win_rate: float | None
    ci_low: float | None
    ci_high: float | None

    @property
    def cents_per_point(self) -> float | None:
        return None if self.win_rate is None else cents_per_point(round(self.mean_spend_cents), self.win_rate)


def load(run: Path) -> dict:
    """A finished run's summary, or a ``CompareError`` naming the folder."""
    path = Path(run) / "summary.json"
    if not path.is_file():
        raise CompareError(f"{run}: no summary.json; finish it (or resume it) with: prefmarket demo --out {run}")
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CompareError(f"{path}: not a readable demo summary ({exc})") from None


def finals(summaries: list[dict]) -> dict[str, list[Final]]:
    """Each campaign's end in each run (campaigns in the order the first run lists them)."""
    out: dict[str, list[Final]] = {}
    for s in summaries:
        for name, c in s["campaigns"].items():
            if name in UNTRAINED:
                continue
            f = c.get("final")
            out.setdefault(name, []).append(Final(
                seed=s["settings"]["seed"], spend_cents=c["spent_cents"],
                win_rate=None if f is None else f["win_rate"],
                se=0.0 if f is None else (f["ci_high"] - f["ci_low"]) / (2 * Z95),
                n=0 if f is None else f["n"], training_labels=c["training_labels"], gold_labels=c["gold_labels"]))
    return out


def pool(runs: list[Final]) -> Pooled:
    """The campaign's win rate over all runs' prompts, with a 95% CI (see the module doc).
    A run that never evaluated counts as no gain: 50% on no prompts, so it adds spend only."""
    measured = [r for r in runs if r.win_rate is not None and r.n > 0]
    spend = sum(r.spend_cents for r in runs) / len(runs)
    if not measured:
        return Pooled(len(runs), spend, None, None, None)
    total = sum(r.n for r in measured)
    rate = sum(r.win_rate * r.n for r in measured) / total
    se = math.sqrt(sum((r.n * r.se) ** 2 for r in measured)) / total
    return Pooled(len(runs), spend, rate, rate - Z95 * se, rate + Z95 * se)


def _cheaper(a: float | None, b: float | None) -> bool:
    """Did $ per point ``a`` beat ``b``? No gain (None) loses to any gain."""
    return a is not None and (b is None or a < b)


@dataclass(frozen=True)
class Against:
    """A gold campaign against the campaign without gold checks, seed by seed."""

    seeds: int
    cheaper_per_point: int  # seeds where its $ per point beat the other's
    mean_difference: float  # mean final win-rate difference (gold − none)
    ci_low: float
    ci_high: float


def against(gold: list[Final], none: list[Final]) -> Against:
    """Seed by seed (runs matched by seed), the gold campaign against the one without."""
    by_seed = {r.seed: r for r in none}
    pairs = [(g, by_seed[g.seed]) for g in gold if g.seed in by_seed]
    if not pairs:
        raise CompareError("no seed has both a gold campaign and the campaign without gold checks")
    diffs = [((g.win_rate or 0.5) - (b.win_rate or 0.5), math.hypot(g.se, b.se)) for g, b in pairs]
    mean = sum(d for d, _ in diffs) / len(diffs)
    se = math.sqrt(sum(s * s for _, s in diffs)) / len(diffs)
    return Against(len(pairs), sum(_cheaper(g.cents_per_point, b.cents_per_point) for g, b in pairs), mean,
                   mean - Z95 * se, mean + Z95 * se)


def compare(runs: list[Path]) -> dict:
    """Everything the report shows, as plain data."""
    if not runs:
        raise CompareError("RUNS: give at least one demo run folder")
    summaries = [load(r) for r in runs]
    presets = {s["settings"]["preset"] for s in summaries}
    if len(presets) > 1:
        raise CompareError(f"RUNS: these runs used different sizes ({', '.join(sorted(presets))}); "
                           "compare runs of one preset")
    seeds = [s["settings"]["seed"] for s in summaries]
    if len(set(seeds)) < len(seeds):
        raise CompareError(f"RUNS: seed {max(set(seeds), key=seeds.count)} appears twice; pooling needs "
                           "independent runs, one per seed")
    ends = finals(summaries)
    out = {"runs": [str(r) for r in runs], "seeds": seeds, "preset": presets.pop(), "finals": ends,
           "pooled": {name: pool(rs) for name, rs in ends.items()}, "against": {}}
    if NO_QC in ends:
        out["against"] = {g: against(ends[g], ends[NO_QC]) for g in GOLD_CAMPAIGNS if g in ends}
    return out


def markdown(result: dict) -> str:
    names = list(result["finals"])
    seeds = result["seeds"]
    lines = [f"# prefmarket demo: {len(seeds)} runs compared ({result['preset']} sizes, seeds "
             f"{', '.join(map(str, seeds))})", "",
             "| campaign | " + " | ".join(f"seed {s}" for s in seeds) + " | pooled |",
             "|---|" + "---|" * (len(seeds) + 1)]
    for name in names:
        p = result["pooled"][name]
        cells = [f"{pct(f.win_rate)}, {usd(f.cents_per_point, none='no gain')}/pt, {f.training_labels} labels"
                 + (f" + {f.gold_labels} gold" if f.gold_labels else "") + f", {usd(f.spend_cents)}"
                 for f in result["finals"][name]]
        pooled = (f"**{pct(p.win_rate)}** [{pct(p.ci_low)}, {pct(p.ci_high)}], "
                  f"{usd(p.cents_per_point, none='no gain')}/pt at {usd(p.mean_spend_cents)}")
        lines.append(f"| {TITLES.get(name, name)} | " + " | ".join(cells) + f" | {pooled} |")
    lines += ["", "Each cell: final win rate against the reference, $ per win-rate point above 50% "
              "(spend / points; no gain when not above 50%), training labels (+ gold checks), spend. Pooled: "
              "the win rate over all runs' held-out prompts with its 95% CI, and $ per point at that rate and "
              "the mean spend.", ""]
    for g, a in result["against"].items():
        lines.append(f"- **{TITLES[g]}** against the auction without gold checks: cheaper per point on "
                     f"{a.cheaper_per_point} of {a.seeds} seeds; final win rate {100 * a.mean_difference:+.1f} "
                     f"points on average [{100 * a.ci_low:+.1f}, {100 * a.ci_high:+.1f}].")
    lines += ["", "![final win rate per run and pooled](compare.png)", ""]
    return "\n".join(lines)


def write(runs: list[Path], out: Path) -> dict:
    """Compare ``runs`` and write ``compare.md``, ``compare.png`` and ``compare.json`` into ``out``."""
    result = compare(runs)
    out.mkdir(parents=True, exist_ok=True)
    plots.pooled_win_rates({n: ([(f.win_rate, Z95 * f.se) for f in fs], result["pooled"][n])
                            for n, fs in result["finals"].items()}, TITLES, out / "compare.png")
    (out / "compare.md").write_text(markdown(result))
    plain = {**result, "finals": {n: [f.__dict__ | {"cents_per_point": f.cents_per_point} for f in fs]
                                  for n, fs in result["finals"].items()},
             "pooled": {n: p.__dict__ | {"cents_per_point": p.cents_per_point} for n, p in result["pooled"].items()},
             "against": {n: a.__dict__ for n, a in result["against"].items()}}
    (out / "compare.json").write_text(json.dumps(plain, indent=1))
    return result

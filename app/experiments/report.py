"""Seed-level statistics of the lab and its section of docs/results.md.

Every comparison with the baseline is paired: seed ``s`` of an arm and seed ``s`` of
``random`` saw the same pool, held-out set and answers, so the interval is a bootstrap over
seeds of the paired statistic (``scipy.stats.bootstrap(..., paired=True)``, percentile
method, 95%). Curve statistics (labels or dollars needed to reach a level) are computed on
the seed-averaged curves of each resample, which a single noisy seed could not support.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import stats

from market import files

BEGIN, END = "<!-- experiment:begin -->", "<!-- experiment:end -->"
RESAMPLES = 4999
# Below three seeds there is no seed-level interval: the percentile bootstrap of two seeds can
# only resample {a, a}, {a, b} or {b, b}, so its "interval" is the two values' range, whatever
# the spread of training really is, and a verdict read from it is a coin toss.
MIN_SEEDS = 3
Z_POWER = 1.959964 + 0.841621  # two-sided 5% test with 80% power


@dataclass(frozen=True)
class Interval:
    value: float
    low: float
    high: float

    def excludes(self, x: float) -> bool:
        """Whether the interval rules ``x`` out; no interval (NaN bounds) rules nothing out."""
        if np.isnan(self.low) or np.isnan(self.high):
            return False
        return not (self.low <= x <= self.high)


def paired_interval(x: np.ndarray, y: np.ndarray, statistic: Callable[[np.ndarray, np.ndarray], float],
                    *, seed: int = 0) -> Interval:
    """``statistic(x[i], y[i])`` over seeds ``i`` and its 95% paired bootstrap interval.

    ``x`` and ``y`` hold one row per seed (a number or a curve). The bootstrap resamples seed
    indices, the same ones for both arms (``paired=True``), and hands the statistic the
    resampled rows. Below ``MIN_SEEDS`` seeds the interval is NaN: no interval, no verdict.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(x) != len(y):
        raise ValueError("paired samples need one row per seed in both arms")
    index = np.arange(len(x), dtype=np.float64)

    def on_rows(i, j):
        return statistic(x[i.astype(int)], y[j.astype(int)])

    value = float(statistic(x, y))
    if len(x) < MIN_SEEDS:
        return Interval(value, np.nan, np.nan)
    with np.errstate(invalid="ignore"):  # a curve that never reaches a level gives inf (its standard error: NaN)
        res = stats.bootstrap((index, index), on_rows, paired=True, vectorized=False, n_resamples=RESAMPLES,
                              method="percentile", rng=np.random.default_rng(seed))
    return Interval(value, float(res.confidence_interval.low), float(res.confidence_interval.high))


def t_interval(differences: np.ndarray) -> Interval:
    """The mean of per-seed ``differences`` and its Student-t 95% interval (``scipy.stats.ttest_1samp``).

    Given beside the bootstrap where seeds are few (the ``dpo`` fidelity's 3): a percentile
    bootstrap over 3 seeds has 10 distinct resamples and, for values -1, 0, 1, spans [-1, 1],
    where t with 2 degrees of freedom spans [-2.48, 2.48]. Below about 10 seeds the bootstrap is
    too narrow, so a verdict there needs both intervals to exclude 0.
    """
    d = np.asarray(differences, dtype=np.float64)
    if len(d) < MIN_SEEDS:
        return Interval(float(d.mean()) if len(d) else np.nan, np.nan, np.nan)
    if np.all(d == d[0]):  # no spread: the t interval is the point (scipy would give NaN)
        return Interval(float(d[0]), float(d[0]), float(d[0]))
    ci = stats.ttest_1samp(d, 0.0).confidence_interval(0.95)
    return Interval(float(d.mean()), float(ci.low), float(ci.high))


def crossed_interval(differences: list[np.ndarray], pairs: list[np.ndarray]) -> Interval:
    """The mean over seeds of each seed's mean per-pair difference, with a 95% interval that holds
    the sampling of the held-out pairs as well as the seed-to-seed spread.

    ``differences[s]`` holds seed ``s``'s per-pair difference (an arm's agreement minus random's on
    the same pair, or the control's minus the untrained policy's 0.5) on its held-out pairs
    ``pairs[s]`` (data set indices). Why both: where seeds draw their held-out pairs from one
    finite set (the ``dpo`` movie seeds hold out 200 of the same 313), any effect training has on
    those particular pairs repeats in every seed, and the seed-level intervals, which resample
    only seeds, cannot see that it is an accident of the pairs. The interval adds in quadrature the
    t interval's half-width over seeds and 1.96 times the standard error of a paired bootstrap
    over the union of held-out pairs (``scipy.stats.bootstrap``, each resampled pair keeping its
    value in every seed that held it out). For crossed random effects the two one-way resamplings
    together count the pair-by-seed residual twice (McCullagh 2000), so the interval errs wide.
    """
    if len(differences) != len(pairs):
        raise ValueError("one array of held-out pairs per seed's differences")
    means = np.array([np.mean(d) for d in differences], dtype=np.float64)
    value = float(means.mean()) if len(means) else np.nan
    if len(means) < MIN_SEEDS:
        return Interval(value, np.nan, np.nan)
    union = np.unique(np.concatenate([np.asarray(p) for p in pairs]))
    table = np.full((len(means), len(union)), np.nan)
    for row, (d, p) in enumerate(zip(differences, pairs, strict=True)):
        if len(d) != len(p):
            raise ValueError(f"seed {row}: {len(d)} differences for {len(p)} held-out pairs")
        table[row, np.searchsorted(union, p)] = d

    def mean_of_seeds(*rows, axis=-1):
        return np.mean([np.nanmean(r, axis=axis) for r in rows], axis=0)

    with warnings.catch_warnings():  # a resample that leaves a seed no pair is NaN, and the error with it
        warnings.simplefilter("ignore", RuntimeWarning)
        boot = stats.bootstrap(tuple(table), mean_of_seeds, paired=True, vectorized=True, n_resamples=RESAMPLES,
                               method="percentile", rng=np.random.default_rng(0))
    over_pairs = float(boot.standard_error)
    over_seeds = t_interval(means)
    half = float(np.hypot(over_seeds.high - over_seeds.value, stats.norm.ppf(0.975) * over_pairs))
    return Interval(value, value - half, value + half)


def mean_difference(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(x - y))


def min_detectable(differences: np.ndarray) -> float:
    """The smallest mean paired difference a two-sided 5% test detects with 80% power at this many seeds."""
    d = np.asarray(differences, dtype=np.float64)
    return float(Z_POWER * d.std(ddof=1) / np.sqrt(len(d))) if len(d) >= MIN_SEEDS else float("nan")


def reach(grid: np.ndarray, curve: np.ndarray, level: float) -> float:
    """The first point of ``grid`` where ``curve`` (linear between points) reaches ``level``; inf if never."""
    above = np.flatnonzero(curve >= level)
    if len(above) == 0:
        return float("inf")
    j = int(above[0])
    if j == 0:
        return float(grid[0])
    x0, x1, y0, y1 = grid[j - 1], grid[j], curve[j - 1], curve[j]
    return float(x0 + (level - y0) * (x1 - x0) / (y1 - y0))


def at(grid: np.ndarray, curve: np.ndarray, x: float) -> float:
    """``curve`` read at ``x`` (linear between points; beyond the grid it stays at its last value)."""
    return float(np.interp(x, grid, curve))


# ----------------------------------------------------------------------------- acquisition tables


@dataclass(frozen=True)
class ArmRow:
    arm: str
    final: float  # mean held-out accuracy at the budget
    vs_baseline: Interval  # paired difference at the budget, points
    labels_share: Interval  # labels to reach the baseline's final accuracy / the budget
    min_detectable: float  # points


def curves(results: list[dict], arm: str) -> np.ndarray:
    return np.array([r["accuracy"][arm] for r in results], dtype=np.float64)


def acquisition_rows(results: list[dict], arms: list[str], budget_index: int, baseline: str) -> list[ArmRow]:
    """Per arm: accuracy at the budget, the paired difference from the baseline and the labels it
    needs to reach the baseline's mean accuracy at the budget, as a share of the budget."""
    grid = np.array(results[0]["labels"], dtype=np.float64)
    base = curves(results, baseline)
    budget = grid[budget_index]

    def share(a: np.ndarray, b: np.ndarray) -> float:
        return reach(grid, a.mean(axis=0), b.mean(axis=0)[budget_index]) / budget

    rows = []
    for arm in arms:
        c = curves(results, arm)
        diff = 100 * (c[:, budget_index] - base[:, budget_index])
        rows.append(ArmRow(
            arm, float(c[:, budget_index].mean()),
            paired_interval(100 * c[:, budget_index], 100 * base[:, budget_index], mean_difference),
            paired_interval(c, base, share), min_detectable(diff)))
    return rows


def control_gain(results: list[dict], control: str, budget_index: int) -> Interval:
    """The control's gain (points) at the budget over its own start (the reference, 50%): must hold 0."""
    c = 100 * curves(results, control)
    return paired_interval(c[:, budget_index], c[:, 0], mean_difference)


# ----------------------------------------------------------------------------- dollars


@dataclass(frozen=True)
class DollarRow:
    rule: str
    arm: str
    cents_per_label: float  # mean over seeds
    dollars_share: Interval  # dollars to reach the baseline's final metric / the baseline's dollars
    at_equal_spend: Interval  # metric at the baseline's spend minus the baseline's, points


def dollar_rows(results: list[dict], arms: list[str], prices: dict[str, np.ndarray], budget_index: int,
                baseline_arm: str, baseline_rule: str) -> list[DollarRow]:
    """Dollars per point for each (pricing rule, acquisition) against ``baseline_rule`` with ``baseline_arm`` items.

    ``prices[rule]`` is cents per label, one per seed (seed ``i`` of the prices pairs with seed
    ``i`` of the learning curves). Dollars = labels × price per label. The baseline spends
    ``budget × price[baseline_rule]``; at that spend a rule buys ``budget × price[baseline_rule] /
    price[rule]`` labels, read off the arm's curve (a curve stays at its last value beyond the
    labels the lab ran, so a very cheap rule's figure is a lower bound).
    """
    grid = np.array(results[0]["labels"], dtype=np.float64)
    budget = grid[budget_index]
    base = curves(results, baseline_arm)
    base_price = np.asarray(prices[baseline_rule], dtype=np.float64)
    rows = []
    for rule, price in prices.items():
        price = np.asarray(price, dtype=np.float64)
        if len(price) < len(results) or not np.isfinite(price[: len(results)]).all():
            continue
        p, bp = price[: len(results)], base_price[: len(results)]
        for arm in arms:
            c = curves(results, arm)
            # rows carry (curve, price) of the arm and (curve, price) of the baseline, paired by seed
            x, y = np.column_stack([c, p]), np.column_stack([base, bp])

            def share(a: np.ndarray, b: np.ndarray) -> float:
                labels = reach(grid, a[:, :-1].mean(axis=0), b[:, :-1].mean(axis=0)[budget_index])
                return labels * a[:, -1].mean() / (budget * b[:, -1].mean())

            def equal_spend(a: np.ndarray, b: np.ndarray) -> float:
                labels = budget * b[:, -1].mean() / a[:, -1].mean()
                return 100 * (at(grid, a[:, :-1].mean(axis=0), labels) - b[:, :-1].mean(axis=0)[budget_index])

            rows.append(DollarRow(rule, arm, float(p.mean()), paired_interval(x, y, share),
                                  paired_interval(x, y, equal_spend)))
    return rows


# ----------------------------------------------------------------------------- markdown and plots


def pct(x: float) -> str:
    return "never" if not np.isfinite(x) else f"{100 * x:.0f}%"


def interval_text(i: Interval, fmt: Callable[[float], str]) -> str:
    if np.isnan(i.low) and np.isnan(i.high):  # fewer than MIN_SEEDS seeds: no interval
        return fmt(i.value)
    return f"{fmt(i.value)} [{fmt(i.low)}, {fmt(i.high)}]"


def points(x: float) -> str:
    return f"{x:+.1f}"


def plot_curves(results: list[dict], arms: list[str], path: Path, title: str, budget: float) -> None:
    """Mean held-out accuracy against labels bought, with 95% bands (±1.96 standard errors over seeds)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = np.array(results[0]["labels"])
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for arm in arms:
        c = 100 * curves(results, arm)
        mean, se = c.mean(axis=0), c.std(axis=0, ddof=1) / np.sqrt(len(c)) if len(c) > 1 else np.zeros(c.shape[1])
        ax.plot(grid, mean, label=arm, lw=2 if arm in ("random", "coin_flip") else 1.5,
                ls="--" if arm == "coin_flip" else "-")
        ax.fill_between(grid, mean - 1.96 * se, mean + 1.96 * se, alpha=0.15)
    ax.axvline(budget, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("labels bought")
    ax.set_ylabel("held-out preference accuracy (%)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_dollars(rows: list[DollarRow], path: Path, title: str) -> None:
    """Dollars to reach the baseline's metric, as a share of the baseline's, per (rule, acquisition)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [r for r in rows if np.isfinite(r.dollars_share.value)]
    fig, ax = plt.subplots(figsize=(7, max(3, 0.22 * len(shown) + 1)))
    y = np.arange(len(shown))
    v = np.array([100 * r.dollars_share.value for r in shown])
    lo = np.array([100 * r.dollars_share.low for r in shown])
    hi = np.array([100 * r.dollars_share.high for r in shown])
    hi = np.where(np.isfinite(hi), hi, np.nanmax(np.where(np.isfinite(hi), hi, v)) * 1.1 if len(v) else 0)
    ax.errorbar(v, y, xerr=[v - lo, hi - v], fmt="o", ms=3, lw=1)
    ax.axvline(100, color="grey", lw=0.8, ls=":")
    ax.set_yticks(y, [f"{r.rule} + {r.arm}" for r in shown], fontsize=7)
    ax.set_xlabel("dollars to reach the baseline's final accuracy (% of the baseline's)")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def section_block(path: Path, name: str) -> str | None:
    """The block ``<!-- name:begin -->`` … ``<!-- name:end -->`` of ``path``, markers included; None if absent."""
    return _block_in(path.read_text() if path.exists() else "", name)


def _block_in(text: str, name: str) -> str | None:
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    if begin not in text or end not in text or text.index(begin) > text.index(end):
        return None
    return text[text.index(begin): text.index(end) + len(end)]


def replace_section(path: Path, body: str, name: str = "experiment") -> None:
    """Write ``body`` between ``<!-- name:begin -->`` and ``<!-- name:end -->`` in ``path``
    (the markers appended when missing), whole; the rest of the file stays as it was, so
    each command that measures owns its own section of docs/results.md."""
    text = path.read_text() if path.exists() else ""
    block = f"<!-- {name}:begin -->\n{body.strip()}\n<!-- {name}:end -->"
    old = _block_in(text, name)
    if old is not None:
        text = text.replace(old, block, 1)
    else:
        text = text.rstrip() + ("\n\n" if text.strip() else "") + block + "\n"
    files.write_text(path, text)

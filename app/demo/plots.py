"""The report's PNGs: the final win rates, held-out accuracy against dollars, clearing prices,
spend by annotator kind, and spammers' share of paid training labels per round; and
``demo-compare``'s pooled win rates.

Each function takes plain rows (what the API returned) and a path, so the plots can be
redrawn from a run folder's CSVs as well.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never a window
import matplotlib.pyplot as plt  # noqa: E402

COLOURS = {"auction": "#1f77b4", "vetting": "#2ca02c", "no_qc": "#ff7f0e", "baseline": "#d62728",
           "coin_flip": "#7f7f7f"}
KIND_ORDER = ("diligent", "noisy", "spammer", "adversarial", "unknown")


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def metric_vs_spend(curves: dict[str, tuple[str, list[dict]]], path: Path, *, ylabel: str, title: str) -> Path:
    """``curves``: name -> (legend label, accounting curve points, the value as ``win_rate``).
    The step-0 origin is drawn hollow: it is 50% by construction, not measured."""
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for name, (label, points) in curves.items():
        colour = COLOURS.get(name)
        x = [p["spend_cents"] / 100 for p in points]
        y = [100 * p["win_rate"] for p in points]
        ax.fill_between(x, [100 * p["ci_low"] for p in points], [100 * p["ci_high"] for p in points], color=colour,
                        alpha=0.15, linewidth=0)
        ax.plot(x, y, color=colour, label=label, linewidth=2)
        measured = [(xi, yi) for xi, yi, p in zip(x, y, points, strict=True) if p["measured"]]
        ax.scatter([m[0] for m in measured], [m[1] for m in measured], color=colour, zorder=3, s=28)
        ax.scatter([x[0]], [y[0]], facecolors="white", edgecolors=colour, zorder=3, s=28)
    ax.axhline(50, color="grey", linestyle=":", linewidth=1)
    lows = [100 * p["ci_low"] for _, pts in curves.values() for p in pts]
    highs = [100 * p["ci_high"] for _, pts in curves.values() for p in pts]
    ax.set_ylim(min([40.0, *lows]) - 2, max([60.0, *highs]) + 2)  # at least 40-60%: flat noise must look flat
    ax.set_xlabel("cumulative spend on accepted labels ($)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(loc="best", fontsize=9)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def final_win_rates(arms: dict[str, tuple[str, dict]], final: dict, path: Path) -> Path:
    """Each policy's final win rate against the reference with its 95% interval (``arms``:
    name -> (label, the arm in ``paired.json``)), on the same prompts and seeds."""
    fig, ax = plt.subplots(figsize=(7.5, 0.9 + 0.7 * len(arms)))
    names = list(arms)[::-1]
    for k, name in enumerate(names):
        _, a = arms[name]
        ax.errorbar(100 * a["win_rate"], k, xerr=[[100 * (a["win_rate"] - a["ci_low"])], [100 * (a["ci_high"] - a["win_rate"])]],
                    fmt="o", color=COLOURS.get(name, "black"), capsize=4, markersize=7)
    ax.set_yticks(range(len(names)), [arms[n][0] for n in names], fontsize=8)
    ax.axvline(50, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel(f"win rate against the reference (%), {final['prompts']} held-out prompts × {final['samples']}, 95% CI")
    ax.set_title("Final policies on the same prompts and sampling seeds")
    ax.grid(alpha=0.3, axis="x")
    return _save(fig, path)


def clearing_prices(rounds: dict[str, list[dict]], path: Path) -> Path:
    """Per round: the uniform clearing price (posted price for the baseline) and the average
    paid per accepted label."""
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for name, rows in rounds.items():
        colour = COLOURS.get(name)
        k = list(range(1, len(rows) + 1))
        price = [r["clearing_price_cents"] for r in rows]
        kind = "posted price" if rows and rows[0].get("rule") == "posted_price" else "clearing price"
        ax.plot(k, [float("nan") if p is None else p for p in price], color=colour, marker="o",
                label=f"{name}: {kind}")
        paid = [r["paid_cents"] / r["labels"] if r["labels"] else float("nan") for r in rows]
        ax.plot(k, paid, color=colour, marker="x", linestyle="--", label=f"{name}: paid per accepted label")
    ax.set_xlabel("round")
    ax.set_ylabel("cents per label")
    top = max([r["clearing_price_cents"] or 0 for rows in rounds.values() for r in rows] + [1])
    ax.set_ylim(0, 1.2 * top)  # prices against zero, so a one-cent change looks like one
    ax.set_title("Price per label, round by round")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    ax.xaxis.get_major_locator().set_params(integer=True)
    return _save(fig, path)


def spend_by_kind(spend: dict[str, dict[str, int]], path: Path) -> Path:
    """``spend``: campaign name -> {annotator kind: cents paid}. Grouped bars in dollars."""
    kinds = [k for k in KIND_ORDER if any(k in s for s in spend.values())]
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    width = 0.8 / max(1, len(spend))
    for i, (name, by_kind) in enumerate(spend.items()):
        xs = [j + (i - (len(spend) - 1) / 2) * width for j in range(len(kinds))]
        dollars = [by_kind.get(k, 0) / 100 for k in kinds]
        bars = ax.bar(xs, dollars, width, color=COLOURS.get(name), label=name)
        ax.bar_label(bars, fmt="$%.2f", fontsize=8)
    ax.set_xticks(range(len(kinds)), kinds)
    ax.set_ylabel("paid ($)")
    ax.set_title("Who was paid: spend by annotator kind")
    ax.legend(fontsize=9)
    ax.grid(alpha=0.3, axis="y")
    return _save(fig, path)


def labels_right(right: dict[str, dict], path: Path) -> Path:
    """``right``: campaign name -> ``report.labels_right``. Bars of each campaign's training
    labels the judge agrees with, in all and by annotator kind, with the label counts."""
    groups = ["all"] + [k for k in KIND_ORDER if any(k in r["labels_right_by_kind"] for r in right.values())]
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    width = 0.8 / max(1, len(right))
    for i, (name, r) in enumerate(right.items()):
        by_kind = r["labels_right_by_kind"]
        cells = [(r["labels_right"], sum(v["labels"] for v in by_kind.values()))] + [
            (by_kind[k]["right"], by_kind[k]["labels"]) if k in by_kind else (None, 0) for k in groups[1:]]
        xs = [j + (i - (len(right) - 1) / 2) * width for j in range(len(groups))]
        bars = ax.bar(xs, [0 if v is None else 100 * v for v, _ in cells], width, color=COLOURS.get(name), label=name)
        ax.bar_label(bars, labels=[f"{n}" if n else "" for _, n in cells], fontsize=8)
    ax.axhline(50, color="grey", linestyle=":", linewidth=1)
    ax.set_xticks(range(len(groups)), groups)
    ax.set_ylim(0, 105)
    ax.set_ylabel("training labels the judge agrees with (%)")
    ax.set_title("How right the labels bought were (bar labels: how many)")
    ax.legend(fontsize=9)
    ax.grid(alpha=0.3, axis="y")
    return _save(fig, path)


def spammer_share(rounds: dict[str, list[dict]], path: Path) -> Path:
    """Per round and campaign: spammers' share of the paid training labels (rounds that bought
    only gold checks have none), against the issue's 5% line."""
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for name, rows in rounds.items():
        k = list(range(1, len(rows) + 1))
        share = [float("nan") if r["spammer_share"] is None else 100 * r["spammer_share"] for r in rows]
        ax.plot(k, share, color=COLOURS.get(name), marker="o", label=name)
    ax.axhline(5, color="grey", linestyle=":", linewidth=1, label="5%")
    ax.set_ylim(0, 100)
    ax.set_xlabel("round")
    ax.set_ylabel("spammers' share of paid training labels (%)")
    ax.set_title("Who the money went to: spammers' share, round by round")
    ax.legend(fontsize=9)
    ax.grid(alpha=0.3)
    ax.xaxis.get_major_locator().set_params(integer=True)
    return _save(fig, path)


def pooled_win_rates(campaigns: dict[str, tuple[list[tuple], object]], titles: dict[str, str], path: Path) -> Path:
    """``campaigns``: name -> (each run's (final win rate or None, 95% half-width), the pool:
    an object with ``win_rate``, ``ci_low``, ``ci_high``). Each run a dot, the pool a diamond."""
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for k, (name, (runs, pool)) in enumerate(campaigns.items()):
        colour = COLOURS.get(name)
        for j, (rate, half) in enumerate(runs):
            if rate is not None:
                x = k - 0.3 + 0.45 * j / max(1, len(runs) - 1)
                ax.errorbar(x, 100 * rate, yerr=100 * half, fmt="o", color=colour, alpha=0.5, capsize=2)
        if pool.win_rate is not None:
            below, above = pool.win_rate - pool.ci_low, pool.ci_high - pool.win_rate
            ax.errorbar(k + 0.3, 100 * pool.win_rate, yerr=[[100 * below], [100 * above]], fmt="D", color=colour,
                        markersize=8, capsize=4)
    ax.axhline(50, color="grey", linestyle=":", linewidth=1)
    ax.set_xticks(range(len(campaigns)), [titles.get(n, n).replace(", ", ",\n", 1) for n in campaigns], fontsize=8)
    ax.set_ylabel("final win rate against the reference (%)")
    seeds = max((len(runs) for runs, _ in campaigns.values()), default=0)
    ax.set_title(f"{seeds} seeds: each run (dots) and pooled (diamond), 95% CI")
    ax.grid(alpha=0.3, axis="y")
    return _save(fig, path)

"""PNG plots of a simulation, one set per config point.

Built on ``matplotlib.figure.Figure`` rather than pyplot, so plotting needs no display,
keeps no global state and is safe inside worker processes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure


def plot_point(summary: pd.DataFrame, rounds: pd.DataFrame, out_dir: Path, title: str = "") -> list[Path]:
    """The four standard plots for one config point's runs; returns the files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rules = list(dict.fromkeys(summary["rule"]))
    makers = {
        "cost_vs_labels.png": _cost_vs_labels,
        "surplus_split.png": _surplus_split,
        "regret_by_rule.png": _regret_by_rule,
        "price_over_rounds.png": _price_over_rounds,
    }
    written = []
    for name, make in makers.items():
        fig = make(summary, rounds, rules)
        if title:
            fig.suptitle(title, fontsize=9)
        path = out_dir / name
        fig.savefig(path, dpi=110, bbox_inches="tight")
        written.append(path)
    return written


def _cost_vs_labels(summary, rounds, rules) -> Figure:
    """Cumulative spend against cumulative labels bought, mean over seeds."""
    fig = Figure(figsize=(6.5, 4.5))
    ax = fig.add_subplot()
    for rule in rules:
        r = rounds[rounds["rule"] == rule]
        per_seed = r.pivot(index="round", columns="seed", values=["labels", "spend"]).cumsum()
        ax.plot(per_seed["labels"].mean(axis=1), per_seed["spend"].mean(axis=1), label=rule)
    ax.set_xlabel("labels bought (cumulative)")
    ax.set_ylabel("spend, $ (cumulative)")
    ax.set_title("What labels cost under each rule")
    ax.legend(fontsize=8)
    return fig


def _surplus_split(summary, rounds, rules) -> Figure:
    """Requester and annotator surplus per round, stacked; the omniscient optimum marked."""
    fig = Figure(figsize=(7, 4.5))
    ax = fig.add_subplot()
    per = summary.assign(
        req=summary["requester_surplus"] / summary["rounds"],
        ann=summary["annotator_surplus"] / summary["rounds"],
        opt=summary["optimum"] / summary["rounds"],
    ).groupby("rule")[["req", "ann", "opt"]].mean().loc[rules]
    x = np.arange(len(rules))
    ax.bar(x, per["req"], label="requester surplus")
    ax.bar(x, per["ann"], bottom=per["req"], label="annotator surplus")
    ax.scatter(x, per["opt"], marker="_", s=600, color="black", zorder=3, label="optimum welfare")
    ax.set_xticks(x, rules, rotation=25, ha="right", fontsize=8)
    ax.set_ylabel("$ per round (mean over seeds)")
    ax.set_title("Who keeps the surplus")
    ax.legend(fontsize=8)
    return fig


def _regret_by_rule(summary, rounds, rules) -> Figure:
    """Truthfulness regret per rule: per unit (the rules' claim) and per whole bid."""
    fig = Figure(figsize=(7, 4.5))
    ax = fig.add_subplot()
    per = summary.groupby("rule")[
        ["regret_mean", "regret_max", "regret_bidder_mean", "regret_bidder_max"]
    ].agg({"regret_mean": "mean", "regret_max": "max",
           "regret_bidder_mean": "mean", "regret_bidder_max": "max"}).loc[rules]
    x = np.arange(len(rules))
    width = 0.2
    for i, col in enumerate(per.columns):
        ax.bar(x + (i - 1.5) * width, per[col], width, label=col.replace("_", " "))
    ax.set_xticks(x, rules, rotation=25, ha="right", fontsize=8)
    ax.set_ylabel("best gain over truthful asking, $")
    ax.set_title("Truthfulness regret (0 = no profitable deviation found)")
    ax.legend(fontsize=8)
    return fig


def _price_over_rounds(summary, rounds, rules) -> Figure:
    """Price per label and learners' markup over rounds (rolling mean, mean over seeds)."""
    fig = Figure(figsize=(7, 6))
    top, bottom = fig.subplots(2, 1, sharex=True)
    window = max(1, int(rounds["round"].max() + 1) // 50)
    for rule in rules:
        r = rounds[rounds["rule"] == rule].groupby("round")[["price", "learner_markup"]].mean()
        smooth = r.rolling(window, min_periods=1).mean()
        top.plot(smooth.index, smooth["price"], label=rule)
        bottom.plot(smooth.index, smooth["learner_markup"], label=rule)
    top.set_ylabel("mean price per label, $")
    top.set_title("Prices over rounds")
    top.legend(fontsize=8)
    bottom.set_ylabel("learners' markup on sold labels")
    bottom.set_xlabel("round")
    return fig

"""Quality control, measured in the simulator: does it push spammers out, and does it pay?

Issue 7's claim: with 20% spammers in the population, spammers' share of paid labels falls
below 5% after the first rounds, and label accuracy per dollar beats the same campaign
without quality control. Measured on the offline simulator (``bidders.simulate``), whose
``gold`` quality mode plays the market's own policy (``market.quality.skill`` and
``market.quality.mixing``) at the simulator's suggested settings (``bidders.quality``:
gold rate 0.1, bar 0.65, confidence 0.8, 4 answers, probation share 0.2), against the
same seeds with quality mode ``none`` (what the live market does without gold: every
label paid, q = 1 for everyone). Common random numbers: both modes face the same
annotators, availability and item values.

"After the first rounds" is read as after the first quarter of the run (50 of 200
rounds); the per-window shares printed below show how fast the share falls.

"Label accuracy per dollar" is read as *net* correct labels per dollar: expected correct
minus wrong labels on the requester's items, over all money spent (gold checks and
probation included as overhead). A random click is right half the time, so counting
correct labels alone rewards buying cheap coin flips; the naive figure is printed too.

Also measured: how well each aggregation method recovers the truth when every item has
three labels from this population (``market.quality.aggregate``), against majority vote.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.common import Figure, show
from bidders.config import parse_config
from bidders.labels import SPAMMER
from bidders.population import PopulationConfig, sample_population
from bidders.simulate import simulate
from market.quality import skill
from market.quality.aggregate import METHODS, soft_labels

RULES = ["second_price", "budget_feasible", "quality_second_price", "quality_budget_feasible"]
SPAMMY = {"diligent": {"share": 0.6 * 8 / 9}, "noisy": {"share": 0.25 * 8 / 9}, "spammer": {"share": 0.2},
          "adversarial": {"share": 0.05 * 8 / 9}}  # the default mix with spammers raised to 20%
CONFIG = {
    "population": {"size": 100, "kinds": SPAMMY},
    "market": {"rules": RULES, "rounds": 200},
    "run": {"seeds": [0, 1, 2, 3, 4], "workers": 2, "regret_bidders": 0},
}
WINDOW = 25


def run(mode: str):
    return simulate(parse_config({**CONFIG, "quality": {"mode": mode}}))


def windows(rounds: pd.DataFrame) -> pd.DataFrame:
    """Spammers' share of paid labels per window of rounds, by rule (all seeds pooled)."""
    w = rounds.assign(window=rounds["round"] // WINDOW * WINDOW).groupby(["rule", "window"], sort=False)
    share = (w["spammer_labels"].sum() / w["labels"].sum()).unstack("window")
    return share.reindex(RULES)


def aggregation_accuracy(seed: int = 0, items: int = 600, per_item: int = 3, gold_answers: int = 10) -> dict:
    """Share of items whose soft label (> 0.5) matches the truth, per method.

    Annotators come from the same 20%-spammer population; each item gets ``per_item``
    labels from distinct annotators; each annotator's accuracy posterior rests on
    ``gold_answers`` simulated gold answers."""
    rng = np.random.default_rng([seed, 7])
    pop = sample_population(PopulationConfig(size=100, kinds=SPAMMY), rng)
    correct = 1.0 - pop.error
    truth = np.where(rng.random(items) < 0.5, "a", "b")
    rows = []
    for t in range(items):
        for w in rng.choice(pop.size, per_item, replace=False):
            right = rng.random() < correct[w]
            rows.append((t, int(w), truth[t] if right else ("b" if truth[t] == "a" else "a")))
    votes = pd.DataFrame(rows, columns=["task", "worker", "label"])
    right = rng.binomial(gold_answers, correct)
    alpha, beta = skill.posterior(right, gold_answers)
    accuracy = pd.Series(skill.accuracy(alpha, beta))
    gold = pd.Series(truth[:items // 10])  # a tenth of the items double as gold (known answers)
    out = {}
    for method in METHODS:
        p = soft_labels(votes, method, accuracy=accuracy, gold=gold)
        out[method] = float((np.where(p > 0.5, "a", "b") == truth[p.index]).mean())
    return out


def main() -> list[Figure]:
    none, gold = run("none"), run("gold")
    cols = ["spammer_share", "spammer_share_late", "accuracy", "net_correct_per_dollar", "correct_per_dollar",
            "spend", "labels", "data_labels", "gold_labels", "rejected_labels"]
    base = none.summary.groupby("rule", sort=False)[cols].mean().reindex(RULES)
    qc = gold.summary.groupby("rule", sort=False)[cols].mean().reindex(RULES)
    figures = []
    for rule in RULES:
        figures.append(Figure(
            "quality", f"{rule}: spammers' share of paid labels after round 50 (5 seeds, 20% spammers)",
            qc.loc[rule, "spammer_share_late"], "", "no quality control", base.loc[rule, "spammer_share_late"],
            "< 0.05", bool(qc.loc[rule, "spammer_share_late"] < 0.05)))
    for rule in RULES:
        figures.append(Figure(
            "quality", f"{rule}: net correct labels per dollar (correct - wrong, gold overhead included)",
            qc.loc[rule, "net_correct_per_dollar"], "/$", "no quality control",
            base.loc[rule, "net_correct_per_dollar"], "> 1x",
            bool(qc.loc[rule, "net_correct_per_dollar"] > base.loc[rule, "net_correct_per_dollar"])))
    for rule in RULES:
        figures.append(Figure(
            "quality", f"{rule}: accuracy of the labels bought", qc.loc[rule, "accuracy"], "",
            "no quality control", base.loc[rule, "accuracy"], "", None))
    agg = aggregation_accuracy()
    for method in ("skill", "ds", "bt"):
        figures.append(Figure(
            "quality", f"aggregation '{method}': items right at 3 labels each (600 items, 20% spammers)",
            agg[method], "", "majority vote", agg["mv"], "", None))
    show(figures, "Quality control in the simulator (bidders.simulate, quality mode gold vs none)")
    print("\nPer rule, mean over seeds (gold = quality control, none = without):")
    print(pd.concat({"none": base, "gold": qc}, axis=1).swaplevel(axis=1).sort_index(axis=1, level=0)
          .round(3).to_string())
    print(f"\nSpammers' share of paid labels per {WINDOW}-round window, with quality control:")
    print(windows(gold.rounds).round(3).to_string())
    print("\nthe same without quality control:")
    print(windows(none.rounds).round(3).to_string())
    pop = sample_population(PopulationConfig(size=100, kinds=SPAMMY), np.random.default_rng(0))
    print(f"\n(spammers are {pop.share_of(SPAMMER):.0%} of the population and ask "
          f"{np.median(pop.cost[pop.kind == SPAMMER]) / np.median(pop.cost[pop.kind != SPAMMER]):.0%} "
          "of the others' median cost)")
    return figures


if __name__ == "__main__":
    main()

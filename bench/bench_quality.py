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
three labels from this population (``market.quality.aggregate``), against majority vote;
and the same claim on the live market, smaller: 40 annotator bots (``bidders.bots``, the
same population mix, truthful asks) working a campaign through the HTTP API in process
(SQLite), with and without gold checks, read back from the ledger and the export, on
three seeds (different populations); the target figure is the worst seed's. Then the same
requester's next campaign (12 rounds, fresh pairs, the same bots), carrying the first
campaign's gold records (``gold_carry`` 1) against vetting everyone again (0): net correct
labels per dollar, and the share of the paid labels that were gold checks.

``python -m bench quality`` runs it all and writes results.md; ``python -m
bench.bench_quality --live [--seeds 0,1,2]`` runs only the live market and prints its
figures (about 30 s a campaign on a free core).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bench.common import Figure, show
from bidders.config import parse_config
from bidders.labels import SPAMMER
from bidders.bots import register_bots
from bidders.population import PopulationConfig, sample_population
from bidders.simulate import simulate
from bidders.strategies import StrategyConfig
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


LIVE = dict(bots=40, rounds=48, items=1200, gold_items=80, round_size=20, follow_up_rounds=12)
LIVE_SEEDS = (0, 1, 2)
LIVE_QC = dict(gold_rate=0.1, quality_bar=0.65, quality_confidence=0.8, min_gold_answers=4, probation_share=0.2)


def live_pairs(n: int, start: int = 0, gold: bool = False) -> str:
    """Pairs whose better side says "wonderful" (the bots' word judge scores it +1) and the
    worse "dull" (−1); the better side alternates between a and b."""
    lines = []
    for i in range(start, start + n):
        good, bad = f"A wonderful film, number {i}.", f"A dull film, number {i}."
        a, b = (good, bad) if i % 2 == 0 else (bad, good)
        row = {"prompt": f"Review movie {i}", "completion_a": a, "completion_b": b}
        if gold:
            row |= {"gold": "a" if i % 2 == 0 else "b", "gold_check": True}
        lines.append(json.dumps(row))
    return "\n".join(lines) + "\n"


def live_market(quality_control: bool, seed: int = 0) -> dict:
    """One campaign on the real API with bots; returns what the ledger and export say. With
    quality control, the same requester then runs two short follow-up campaigns on fresh
    pairs with the same bots, carrying the first campaign's gold records (``gold_carry``
    1) and not (0), to measure what vetting once saves; the carrying one runs first, so
    that it carries the first campaign's records only."""
    from fastapi.testclient import TestClient

    from market import accounts, db
    from market.api.app import create_app
    from market.client import MarketClient

    with tempfile.TemporaryDirectory() as tmp:
        engine = db.make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        db.init_db(engine)
        with db.session_scope(engine) as s:
            _, token = accounts.create_account(s, "root", "admin")
            s.commit()
        with TestClient(create_app(engine, rate_limit="0")) as http:  # measuring quality, not rate limits
            admin = MarketClient("http://testserver", token, transport=http)
            req = admin.with_token(admin.create_account("requester", "requester")["token"])
            rng = np.random.default_rng([seed, 11])
            pop = sample_population(PopulationConfig(size=LIVE["bots"], kinds=SPAMMY), rng)
            bots = register_bots(admin, pop, StrategyConfig(truthful=1.0, learner=0.0), rng)
            kind_of = {b.client.me()["id"]: int(k) for b, k in zip(bots, pop.kind, strict=True)}
            c = _live_campaign(req, LIVE_QC if quality_control else {}, start=0)
            paid_by_round = _live_rounds(req, c, bots, LIVE["rounds"])
            pays = [e for rnd in paid_by_round for e in rnd]
            late_pays = [e for rnd in paid_by_round[LIVE["rounds"] // 4:] for e in rnd]
            rows = {r["label_id"]: r for r in req.export_labels(c["id"])}
            out = {"all rounds": _live_figures(pays, rows, kind_of),
                   f"after round {LIVE['rounds'] // 4}": _live_figures(late_pays, rows, kind_of)}
            if quality_control:
                for k, carry in enumerate((1.0, 0.0), start=1):
                    c = _live_campaign(req, LIVE_QC | {"gold_carry": carry}, start=k * 100_000)
                    pays = [e for rnd in _live_rounds(req, c, bots, LIVE["follow_up_rounds"]) for e in rnd]
                    rows = {r["label_id"]: r for r in req.export_labels(c["id"])}
                    out[f"next campaign, gold_carry {carry:g}"] = _live_figures(pays, rows, kind_of)
            return out


def _live_campaign(req, quality: dict, start: int) -> dict:
    """A live campaign with the bench's terms, its pairs numbered from ``start``, and gold
    items when ``quality`` turns gold checks on."""
    c = req.create_campaign(name="live", budget_cents=1_000_000, max_price_cents=60, rule="second_price",
                            round_size=LIVE["round_size"], **quality)
    req.upload_items(c["id"], live_pairs(LIVE["items"], start=start))
    if quality:
        req.upload_items(c["id"], live_pairs(LIVE["gold_items"], start=start + 10_000, gold=True))
    return c


def _live_rounds(req, c: dict, bots, rounds: int) -> list[list[dict]]:
    """Play ``rounds`` rounds (every bot bids, then labels); the pay entries of each, read
    once all are played (a label held on probation is paid at a later round's settlement,
    from its own round's escrow)."""
    ids = []
    for _ in range(rounds):
        r = req.open_round(c["id"])
        for bot in bots:
            bot.bid()
        req.close_round(r["id"])
        for bot in bots:
            bot.label()
        ids.append(r["id"])
    pays = [e for e in req.ledger(c["id"])["entries"] if e["reason"] == "pay"]
    return [[e for e in pays if e["round_id"] == rid] for rid in ids]


def _live_figures(pays: list[dict], rows: dict[int, dict], kind_of: dict[int, int]) -> dict:
    """Spammers' share of these payments, and what the data labels among them are worth."""
    spammer = [kind_of[int(e["to_account"].split(":")[1])] == SPAMMER for e in pays]
    data = [rows[e["label_id"]] for e in pays if e["label_id"] in rows]  # gold checks are not exported
    right = sum(r["chosen"].startswith("A wonderful") for r in data)
    spend = sum(e["cents"] for e in pays) / 100.0
    return {"spammer_share": float(np.mean(spammer)), "net_correct_per_dollar": (2 * right - len(data)) / spend,
            "accuracy": right / len(data), "paid_labels": len(pays), "data_labels": len(data), "spend": spend,
            "gold_share": 1.0 - len(data) / len(pays)}


def live_figures(seeds=LIVE_SEEDS) -> tuple[list[Figure], pd.DataFrame, float]:
    """The live market with and without quality control on each seed: its figures (the
    spammers' share at its worst seed, net correct labels per dollar over all seeds) and
    the per-seed table."""
    start = time.perf_counter()
    runs = {(qc, seed): live_market(qc, seed) for seed in seeds for qc in (False, True)}
    took = time.perf_counter() - start
    what = f"live market, {LIVE['bots']} bots, {LIVE['rounds']} rounds, second price"
    late = f"after round {LIVE['rounds'] // 4}"
    n = len(seeds)

    def pooled(qc: bool, window: str) -> float:  # net correct labels per dollar over all seeds
        rows = [runs[qc, seed][window] for seed in seeds]
        return sum(r["net_correct_per_dollar"] * r["spend"] for r in rows) / sum(r["spend"] for r in rows)

    share = {qc: [runs[qc, seed][late]["spammer_share"] for seed in seeds] for qc in (False, True)}
    figures = [
        Figure("quality", f"{what}: spammers' share of paid labels {late}, worst of {n} seeds",
               max(share[True]), "", "no quality control", max(share[False]), "< 0.05", bool(max(share[True]) < 0.05)),
        Figure("quality", f"{what}: spammers' share of paid labels {late}, mean of {n} seeds",
               float(np.mean(share[True])), "", "no quality control", float(np.mean(share[False])), "", None),
        Figure("quality", f"{what}: net correct labels per dollar {late} ({n} seeds)", pooled(True, late), "/$",
               "no quality control", pooled(False, late), "> 1x", bool(pooled(True, late) > pooled(False, late))),
        Figure("quality", f"{what}: net correct labels per dollar, all rounds (probation included, {n} seeds)",
               pooled(True, "all rounds"), "/$", "no quality control", pooled(False, "all rounds"), "", None),
    ]
    carried, fresh = "next campaign, gold_carry 1", "next campaign, gold_carry 0"
    nxt = f"the same requester's next campaign, {LIVE['follow_up_rounds']} rounds"
    gold_share = {w: float(np.mean([runs[True, seed][w]["gold_share"] for seed in seeds])) for w in (carried, fresh)}
    figures += [
        Figure("quality", f"{nxt}: net correct labels per dollar, carrying the first campaign's gold records "
               f"({n} seeds)", pooled(True, carried), "/$", "vetting again (gold_carry 0)", pooled(True, fresh),
               "> 1x", bool(pooled(True, carried) > pooled(True, fresh))),
        Figure("quality", f"{nxt}: gold checks' share of the paid labels, carrying the records (mean of {n} seeds)",
               gold_share[carried], "", "vetting again (gold_carry 0)", gold_share[fresh], "", None),
    ]
    table = pd.concat({(("with" if qc else "without") + " quality control", f"seed {seed}", window): pd.Series(row)
                       for (qc, seed), windows in sorted(runs.items(), key=lambda kv: (kv[0][1], kv[0][0]))
                       for window, row in windows.items()}, axis=1).T
    return figures, table, took


def main(argv: list[str] | None = None) -> list[Figure]:
    args = _parse(argv or [])
    seeds = tuple(args.seeds)
    if args.live:
        figures, table, took = live_figures(seeds)
        show(figures, "Quality control in the live market (bench.bench_quality --live)")
        print(f"\nLive market, per seed ({took:.0f} s for {4 * len(seeds)} campaigns):")
        print(table.round(3).to_string())
        return figures
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
    live, live_table, live_s = live_figures(seeds)
    figures += live
    show(figures, "Quality control in the simulator (bidders.simulate, quality mode gold vs none) and the live market")
    print(f"\nLive market, per seed ({live_s:.0f} s for {4 * len(seeds)} campaigns):")
    print(live_table.round(3).to_string())
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


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_quality", description=__doc__.splitlines()[0])
    parser.add_argument("--live", action="store_true", help="run only the live market (no results.md)")
    parser.add_argument("--seeds", type=lambda text: [int(x) for x in text.split(",")], default=list(LIVE_SEEDS),
                        help="the live market's seeds, comma-separated (default %(default)s)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    main(sys.argv[1:])

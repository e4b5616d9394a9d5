"""The economist's offline simulator: many rounds of auction rules over a population.

No database and no HTTP: each round calls the market's own mechanism core,
``market.mechanisms.clear``, so what is measured here is what annotators get live.

One run is one (config point, seed, rule). Everything chance decides before anyone bids
— the population, who shows up to each round, the items' values — comes from the seed
alone (a ``World``), so every rule of a seed faces the same annotators and items (common
random numbers: differences between rules are the rules'). Rounds are sequential only
because learners adapt; within a round all work is array maths.

Money is in dollars here (the market uses cents; see ``bidders.replay``). Values of labels
are the requester's declared item values; quality enters as what the quality-weighted
rules divide asks by and as the expected share of correct labels bought. How the market
knows quality is the config's ``quality.mode`` (``bidders.quality``): the true quality
(``oracle``, the default), nothing (``none``), or the market's own quality control
(``gold``: gold checks, posteriors, rejected labels not paid, labels of work won on
probation held until the annotator's test ends and counted in the round they are paid).

Metrics per run (``summary`` table), all over the run's rounds:

==========================  ==========================================================
spend, labels, value        Σ payments, paid labels (winning units whose label was accepted),
                            Σ values of the items their data labels label
data_labels, gold_labels    paid labels on the requester's items, and on gold checks
rejected_labels             labels the quality policy rejected (not paid; ``gold`` mode)
true_cost                   Σ winners' private costs
cost_per_label              spend / labels
overpayment                 spend / true_cost (≥ 1 when IR holds; the price of truth)
requester_surplus           value − spend
annotator_surplus           spend − true_cost
welfare, optimum            value − true_cost; the omniscient buyer's welfare, who knows
                            costs, pays them, and buys within each round's budget (a
                            campaign budget is ignored there, so with one the optimum is
                            an upper bound)
efficiency                  welfare / optimum
regret_mean, regret_max     truthfulness regret of one unit: the best gain over asking
                            its cost from any ask on ``run.regret_grid`` × cost, others
                            fixed (the mechanisms' own claim: each unit is a bidder)
regret_bidder_*             the same for an annotator's whole bid (all units at one ask):
                            uniform prices are *not* truthful for multi-unit bidders
                            (one unit can set the price the others are paid)
ir_violations               winning units paid less than their ask
budget_violations           rounds whose payments exceed the round's budget
spammer_share               share of paid labels bought from spammers (gold checks included)
spammer_share_late          the same after the first quarter of the rounds (once quality
                            control, if any, has had time to judge the population)
accuracy                    expected share of data labels that are correct
cost_per_correct_label      spend / expected correct data labels (gold checks are overhead)
correct_per_dollar          expected correct data labels per dollar spent: counts a coin
                            flip as half a correct label, so cheap random clicks score well
net_correct_per_dollar      expected correct minus wrong data labels per dollar: what a
                            dollar buys net of noise (a coin flip nets nothing, and a wrong
                            preference cancels a right one in DPO)
learner_markup_start/end    mean markup on the labels learners sold, first / last tenth
                            of rounds (under pay-as-bid, what learning adds to the price)
==========================  ==========================================================
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pandas as pd

from bidders.config import SimulationConfig
from bidders.labels import SPAMMER
from bidders.population import Population, sample_population
from bidders.quality import GoldScreen
from bidders.strategies import Learner, Strategy, assign_strategies
from market.mechanisms import RULES, clear
from market.mechanisms.reserve import cents_grid, clear_with_reserve, reserves_excluding_own

TOLERANCE = 1e-9  # float slack for IR and budget checks, in dollars


@dataclass(frozen=True)
class World:
    """What chance decides for one seed before any bid: shared by every rule."""

    population: Population
    seed: int
    available: np.ndarray  # (rounds, annotators) bool: who bids in each round
    values: np.ndarray  # (rounds, round_size) item values, descending
    optimum: np.ndarray  # (rounds,) omniscient welfare with the round budget


def make_world(cfg: SimulationConfig, seed: int) -> World:
    rng = np.random.default_rng([seed, 0])
    pop = sample_population(cfg.population, rng)
    m = cfg.market
    available = rng.random((m.rounds, pop.size)) < pop.availability
    scores = np.exp(m.score_sigma * rng.standard_normal((m.rounds, m.round_size)))
    values = m.max_price * -np.sort(-scores, axis=1) / scores.max(axis=1, keepdims=True)
    optimum = omniscient_welfare(pop.cost, pop.capacity, available, values, m.round_budget)
    return World(pop, seed, available, values, optimum)


def omniscient_welfare(cost, capacity, available, values, budget) -> np.ndarray:
    """Best welfare per round for a buyer who knows every cost and pays exactly it.

    With unit-size items the budgeted knapsack is a sorted computation: the best ``k``
    labels pair the ``k`` cheapest units with the ``k`` most valuable items, so the optimum
    is the best prefix whose total cost fits the budget. All rounds at once.
    """
    unit_cost = np.repeat(cost, capacity)
    unit_available = np.repeat(available, capacity, axis=1)
    demand = values.shape[1]
    costs = np.sort(np.where(unit_available, unit_cost, np.inf), axis=1)[:, :demand]
    if costs.shape[1] < demand:
        costs = np.pad(costs, ((0, 0), (0, demand - costs.shape[1])), constant_values=np.inf)
    gains = np.cumsum(values - costs, axis=1)
    feasible = np.cumsum(costs, axis=1) <= budget
    return np.maximum(0.0, np.where(feasible, gains, -np.inf).max(axis=1))


def _clear_kwargs(cfg: SimulationConfig, rule: str, values, budget, quality) -> dict[str, Any]:
    """The contract's keywords each rule uses: quality only for the quality-weighted
    rules, the posted price only for the posted-price rule."""
    kw: dict[str, Any] = {"values": values, "budget": budget}
    if rule.startswith("quality_"):
        kw["quality"] = quality
    if rule == "posted_price":
        kw["price"] = cfg.market.posted_price
    return kw


def _clear(rule: str, asks, kw: dict[str, Any]):
    """``clear``, or ``clear_with_reserve`` when ``kw`` carries per-unit ``reserves``."""
    return clear_with_reserve(rule, asks, **kw) if "reserves" in kw else clear(rule, asks, **kw)


def utility_at(rule, asks, units: slice, ask: float, cost: float, kw) -> float:
    """Profit of the units in ``units`` if they all ask ``ask``, the others unchanged."""
    trial = asks.copy()
    trial[units] = ask
    c = _clear(rule, trial, kw)
    mine = (c.winners >= units.start) & (c.winners < units.stop)
    return float(np.sum(c.payments[mine]) - cost * np.count_nonzero(mine))


def regret(rule, asks, units: slice, cost: float, grid: np.ndarray, kw) -> float:
    """Best gain over asking ``cost`` from any ask in ``cost · grid`` (≥ 0)."""
    truth = utility_at(rule, asks, units, cost, cost, kw)
    best = max(utility_at(rule, asks, units, cost * g, cost, kw) for g in grid)
    return max(0.0, best - truth)


@dataclass
class RuleRun:
    """Per-round series of one (seed, rule) run, plus sampled regrets."""

    rounds: pd.DataFrame
    regret_unit: np.ndarray
    regret_bidder: np.ndarray


def run_rule(cfg: SimulationConfig, world: World, rule: str, *, reserve_window: int | None = None) -> RuleRun:
    """Play every round of one rule: array maths within a round (the population is never
    looped over); rounds run in sequence only because learners adapt between them.

    ``reserve_window``: when set, each unit also faces a reserve learned from the asks
    that entered the clearings of the last ``reserve_window`` rounds, other annotators'
    only (``market.mechanisms.reserve``), against the requester's value of a label, the
    round's budget per label demanded. The random streams are the rule's own, so a run
    with a reserve is paired with the run without.
    """
    pop, m, r = world.population, cfg.market, cfg.run
    n, rounds = pop.size, m.rounds
    strategies: list[Strategy] = assign_strategies(
        cfg.strategies, n, np.random.default_rng([world.seed, 1])
    )
    play_rng = np.random.default_rng([world.seed, 2, RULES.index(rule)])
    regret_rng = np.random.default_rng([world.seed, 3])  # same draws every rule
    label_rng = np.random.default_rng([world.seed, 4, RULES.index(rule)])  # gold answers, labelling order
    lottery_rng = np.random.default_rng([world.seed, 5, RULES.index(rule)])  # probation lottery
    grid = np.asarray(r.regret_grid)
    learners = [s for s in strategies if isinstance(s, Learner)]
    spammer = pop.kind == SPAMMER
    correct = 1.0 - pop.error
    screen = GoldScreen(cfg.quality, n) if cfg.quality.mode == "gold" else None
    known_quality = np.ones(n) if cfg.quality.mode == "none" else pop.quality
    is_learner = np.zeros(n, dtype=bool)
    for s in learners:
        is_learner[s.members] = True

    cols = {k: np.zeros(rounds) for k in (
        "budget", "spend", "labels", "data_labels", "gold_labels", "rejected_labels", "value", "true_cost",
        "spammer_labels", "correct_labels", "ir_violations", "budget_violation")}
    price = np.full(rounds, np.nan)
    learner_markup = np.full(rounds, np.nan)  # mean markup on the labels learners sold
    regret_unit, regret_bidder = [], []
    remaining = np.inf if m.campaign_budget is None else m.campaign_budget
    markup = np.zeros(n)
    history: list[tuple[np.ndarray, np.ndarray]] = []  # (asks, owners) of the clearings, for the reserve
    pending = {"who": np.empty(0, dtype=np.int64), "paid": np.empty(0), "gold": np.empty(0, dtype=bool),
               "value": np.empty(0)}  # held labels (quality mode ``gold``)

    for t in range(rounds):
        active = world.available[t]
        for s in strategies:
            on = active[s.members]
            markup[s.members[on]] = s.markups(on, play_rng)
        idx = np.flatnonzero(active)
        cap = pop.capacity[idx]
        budget = max(0.0, min(m.round_budget, remaining))
        if screen is not None:
            cap = screen.admit(idx, cap, m.round_size, lottery_rng.random(idx.size),
                               pop.cost[idx] * (1.0 + markup[idx]), budget)
            idx, cap = idx[cap > 0], cap[cap > 0]
            quality = screen.quality(idx)
        else:
            quality = known_quality[idx]
        owner = np.repeat(idx, cap)
        asks = pop.cost[owner] * (1.0 + markup[owner])
        kw = _clear_kwargs(cfg, rule, world.values[t], budget, np.repeat(quality, cap))
        if reserve_window:
            value = budget / m.round_size
            past = history[-reserve_window:]
            kw["reserves"] = np.repeat(reserves_excluding_own(
                np.concatenate([a for a, _ in past] or [np.empty(0)]),
                np.concatenate([o for _, o in past] or [np.empty(0, dtype=np.int64)]),
                value, idx, cents_grid(value)), cap)
            history.append((asks, owner))
            del history[:-reserve_window]
        c = _clear(rule, asks, kw)

        won = owner[c.winners]
        if screen is not None and won.size:  # a round where nobody won has nothing to judge
            gold, rejected, held = screen.label(won, pop.error, label_rng)
        else:
            gold = rejected = held = np.zeros(won.size, dtype=bool)
        value = np.zeros(won.size)  # the round's best values go to its labels on real items
        value[~gold & ~rejected] = world.values[t, : np.count_nonzero(~gold & ~rejected)]
        committed = float(np.sum(np.where(rejected, 0.0, c.payments)))  # a rejected label's price stays
        # held labels wait in escrow (``pending``) until their annotator's test ends: then
        # they are paid, and counted in that round, or rejected, and their price returns
        pending = {k: np.concatenate([v, x[held]]) for (k, v), x in
                   zip(pending.items(), (won, c.payments, gold, value), strict=True)}
        outcome = screen.held_outcome(pending["who"]) if screen is not None else np.empty(0, dtype=object)
        settled = outcome == True  # noqa: E712 - an object array: True, False or None
        returned = float(pending["paid"][outcome == False].sum())  # noqa: E712
        now = ~rejected & ~held
        done = {k: np.concatenate([x[now], v[settled]]) for (k, v), x in
                zip(pending.items(), (won, c.payments, gold, value), strict=True)}
        pending = {k: v[outcome == None] for k, v in pending.items()}  # noqa: E711
        paid_to, paid, paid_gold = done["who"], done["paid"], done["gold"]
        data = ~paid_gold
        k = int(paid_to.size)
        spend = float(np.sum(paid))
        remaining -= committed - returned
        cols["budget"][t] = budget
        cols["spend"][t] = spend
        cols["labels"][t] = k
        cols["data_labels"][t] = np.count_nonzero(data)
        cols["gold_labels"][t] = np.count_nonzero(paid_gold)
        cols["rejected_labels"][t] = np.count_nonzero(rejected) + np.count_nonzero(outcome == False)  # noqa: E712
        cols["value"][t] = done["value"][data].sum()
        cols["true_cost"][t] = pop.cost[won].sum()
        cols["spammer_labels"][t] = np.count_nonzero(spammer[paid_to])
        cols["correct_labels"][t] = correct[paid_to[data]].sum()
        cols["ir_violations"][t] = np.count_nonzero(c.payments < asks[c.winners] - TOLERANCE)
        cols["budget_violation"][t] = committed > budget + TOLERANCE
        if k:
            price[t] = spend / k

        profit = np.bincount(paid_to, weights=paid, minlength=n) - np.bincount(won, weights=pop.cost[won], minlength=n)
        for s in learners:
            on = active[s.members]
            mem = s.members[on]
            s.learn(on, profit[mem], pop.cost[mem], pop.capacity[mem])
        sold = markup[won][is_learner[won]]
        if sold.size:
            learner_markup[t] = sold.mean()

        if r.regret_bidders and t % r.regret_every == 0 and idx.size:
            starts = np.concatenate(([0], np.cumsum(cap)))
            for j in regret_rng.choice(idx.size, min(r.regret_bidders, idx.size), replace=False):
                cost = pop.cost[idx[j]]
                one = slice(starts[j], starts[j] + 1)
                regret_unit.append(regret(rule, asks, one, cost, grid, kw))
                if cap[j] > 1:
                    regret_bidder.append(regret(rule, asks, slice(starts[j], starts[j + 1]),
                                                cost, grid, kw))
                else:
                    regret_bidder.append(regret_unit[-1])

    table = pd.DataFrame({"round": np.arange(rounds), **cols, "price": price,
                          "learner_markup": learner_markup, "optimum": world.optimum})
    return RuleRun(table, np.array(regret_unit), np.array(regret_bidder))


def summarise(run: RuleRun) -> dict[str, float]:
    """One row of the summary table from a run's rounds (see the module doc)."""
    t = run.rounds
    spend, labels, value, true_cost = (float(t[c].sum()) for c in ("spend", "labels", "value", "true_cost"))
    welfare, optimum = value - true_cost, float(t["optimum"].sum())
    correct = float(t["correct_labels"].sum())
    data_labels = float(t["data_labels"].sum())
    tenth = max(1, len(t) // 10)
    quarter = len(t) // 4
    late = t.iloc[quarter:] if len(t) > quarter else t
    late_labels = float(late["labels"].sum())
    markups = t["learner_markup"].to_numpy()
    return {
        "rounds": len(t),
        "spend": spend,
        "labels": labels,
        "data_labels": data_labels,
        "gold_labels": float(t["gold_labels"].sum()),
        "rejected_labels": float(t["rejected_labels"].sum()),
        "value": value,
        "true_cost": true_cost,
        "cost_per_label": spend / labels if labels else np.nan,
        "overpayment": spend / true_cost if true_cost else np.nan,
        "requester_surplus": value - spend,
        "annotator_surplus": spend - true_cost,
        "welfare": welfare,
        "optimum": optimum,
        "efficiency": welfare / optimum if optimum else np.nan,
        "regret_mean": _mean(run.regret_unit),
        "regret_max": _max(run.regret_unit),
        "regret_bidder_mean": _mean(run.regret_bidder),
        "regret_bidder_max": _max(run.regret_bidder),
        "regret_samples": run.regret_unit.size,
        "ir_violations": int(t["ir_violations"].sum()),
        "budget_violations": int(t["budget_violation"].sum()),
        "spammer_share": float(t["spammer_labels"].sum()) / labels if labels else np.nan,
        "spammer_share_late": float(late["spammer_labels"].sum()) / late_labels if late_labels else np.nan,
        "accuracy": correct / data_labels if data_labels else np.nan,
        "cost_per_correct_label": spend / correct if correct else np.nan,
        "correct_per_dollar": correct / spend if spend else np.nan,
        "net_correct_per_dollar": (2.0 * correct - data_labels) / spend if spend else np.nan,
        "learner_markup_start": _nanmean(markups[:tenth]),
        "learner_markup_end": _nanmean(markups[-tenth:]),
    }


def _mean(x):
    return float(x.mean()) if x.size else np.nan


def _max(x):
    return float(x.max()) if x.size else np.nan


def _nanmean(x):
    return float(np.nanmean(x)) if np.isfinite(x).any() else np.nan


@dataclass
class Result:
    """Tidy tables: ``summary`` (one row per point × rule × seed) and ``rounds`` (one row
    per point × rule × seed × round); ``swept`` names the swept keys (columns of both)."""

    summary: pd.DataFrame
    rounds: pd.DataFrame
    swept: list[str]

    def write(self, out_dir: str | Path) -> list[Path]:
        """Write both tables as CSV and Parquet, and one set of PNG plots per point."""
        from bidders.plots import plot_point  # matplotlib only when writing, not in workers

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for name, table in (("summary", self.summary), ("rounds", self.rounds)):
            for path, save in ((out / f"{name}.csv", table.to_csv),
                               (out / f"{name}.parquet", table.to_parquet)):
                save(path, index=False)
                written.append(path)
        for point, summary in self.summary.groupby("point"):
            first = summary.iloc[0]
            title = ", ".join(f"{k}={first[k]}" for k in self.swept)
            plots = out / "plots" / (f"point-{point}" if self.swept else "")
            written += plot_point(summary, self.rounds[self.rounds["point"] == point], plots, title)
        return written


Task = tuple[int, dict[str, Any], SimulationConfig, int, str]


def run_task(task: Task) -> tuple[dict[str, Any], pd.DataFrame]:
    """One (point, seed, rule): top level so a process pool can pickle it."""
    point, swept, cfg, seed, rule = task
    start = time.perf_counter()
    run = run_rule(cfg, make_world(cfg, seed), rule)
    keys = {"point": point, **swept, "rule": rule, "seed": seed}
    row = {**keys, **summarise(run), "seconds": time.perf_counter() - start}
    rounds = run.rounds.assign(**keys)
    return row, rounds[[*keys, *run.rounds.columns]]


def simulate(
    points: SimulationConfig | list[tuple[dict[str, Any], SimulationConfig]],
    *,
    workers: int | None = None,
    on_done: Callable[[], None] | None = None,
) -> Result:
    """Run every (point, seed, rule); seeds and rules in parallel over a process pool.

    ``points`` is one config or the output of ``bidders.config.sweep_points``. ``workers``
    defaults to the first point's ``run.workers``, else the machine's cores; 1 runs in this
    process (no pool). ``on_done`` is called after each task, for a progress bar.
    """
    if isinstance(points, SimulationConfig):
        points = [({}, points)]
    tasks: list[Task] = [
        (i, swept, cfg, seed, rule)
        for i, (swept, cfg) in enumerate(points)
        for seed in cfg.run.seeds
        for rule in cfg.market.rules
    ]
    workers = workers or points[0][1].run.workers or os.cpu_count() or 1
    outputs = []
    if workers == 1 or len(tasks) == 1:
        for task in tasks:
            outputs.append(run_task(task))
            if on_done:
                on_done()
    else:
        with ProcessPoolExecutor(max_workers=min(workers, len(tasks))) as pool:
            for future in as_completed([pool.submit(run_task, task) for task in tasks]):
                outputs.append(future.result())
                if on_done:
                    on_done()
    summary = pd.DataFrame([row for row, _ in outputs])
    rounds = pd.concat([r for _, r in outputs], ignore_index=True)
    return Result(_in_rule_order(summary, ["point", "rule", "seed"]),
                  _in_rule_order(rounds, ["point", "rule", "seed", "round"]),
                  swept=list(points[0][0]))


def _in_rule_order(table: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Rows sorted with rules in ``RULES`` order (baselines first), not alphabetically."""
    key = {"rule": lambda col: col.map(RULES.index)}
    return table.sort_values(by, key=lambda col: key.get(col.name, lambda c: c)(col),
                             kind="stable").reset_index(drop=True)

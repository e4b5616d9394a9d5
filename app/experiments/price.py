"""Price per label: what each auction rule pays per correct label against posted prices.

    python -m app.experiments.price            # 20 seeds, every scenario, writes docs/results

Issue 16, item 2. In the offline simulator (``bidders.simulate``), with the same
population and the same labels wanted (``ROUND_SIZE`` a round, each worth ``VALUE`` to
the requester, a round budget of exactly that), every pricing arm of a seed faces the same
annotators, arrivals and answers (the simulator's common random numbers), so arms are
compared seed by seed:

* ``posted_median``: the posted price a requester would guess, the population's median
  cost (whole cents), set before seeing supply;
* ``posted_hindsight``: the best posted price in hindsight, per seed, on a grid of whole
  cents (the median guess included): the cheapest per correct label among the prices that
  fill at least ``FILL_TARGET`` of the best fill any posted price reaches (see
  :func:`best_posted`), so it is never worse than the guess by construction;
* the auction rules (``first_price`` for contrast, ``second_price``, ``budget_feasible``
  and their quality-weighted variants), and the truthful ones again with a reserve learned
  from the market's own bid history (``*_reserve``: ``market.mechanisms.reserve``, from the
  last ``RESERVE_WINDOW`` rounds, other annotators' asks only).

Two supplies, each with quality control (``gold``: the market's gold checks) and without
(``none``): ``normal``, a campaign of ``NORMAL_ROUNDS`` rounds, and ``thin``, a new campaign
of ``THIN_ROUNDS`` rounds, where under gold checks everyone starts on probation and qualified
supply is short: the budget-feasible rule then clears at the value cap, since nobody
competes for the last unit.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from bidders.config import SimulationConfig, parse_config
from bidders.simulate import World, make_world, run_rule, summarise

VALUE = 0.50  # the requester's value of a label, dollars: the per-label cap (the demo's 50¢)
ROUND_SIZE = 50  # labels wanted per round
NORMAL_ROUNDS = 200
THIN_ROUNDS = 20
RESERVE_WINDOW = 50  # rounds of bid history the reserve learns from
FILL_TARGET = 0.99  # the hindsight price must fill this share of the best posted fill
POSTED_GRID = np.arange(5, 51, 1) / 100.0  # the hindsight search, whole cents up to the value

AUCTIONS = ("first_price", "second_price", "budget_feasible", "quality_second_price", "quality_budget_feasible")
RESERVED = ("second_price", "budget_feasible", "quality_budget_feasible")
ARMS = ("posted_median", "posted_hindsight", *AUCTIONS, *(f"{r}_reserve" for r in RESERVED))
SUPPLIES = {"normal": NORMAL_ROUNDS, "thin": THIN_ROUNDS}
QUALITY = ("none", "gold")
BASELINE = "posted_median"


def config(supply: str = "normal", quality: str = "gold", rounds: int | None = None) -> SimulationConfig:
    """The study's market: the default population (100 annotators), one value per label
    (``score_sigma`` 0, so the cap is ``VALUE``), a round budget of ``ROUND_SIZE × VALUE``."""
    if supply not in SUPPLIES:
        raise ValueError(f"supply: unknown {supply!r}; choose one of {', '.join(SUPPLIES)}")
    if quality not in QUALITY:
        raise ValueError(f"quality: unknown {quality!r}; choose one of {', '.join(QUALITY)}")
    return parse_config({
        "market": {"rounds": rounds or SUPPLIES[supply], "round_size": ROUND_SIZE, "max_price": VALUE,
                   "round_budget": ROUND_SIZE * VALUE, "score_sigma": 0.0},
        "quality": {"mode": quality},
        "run": {"regret_bidders": 0},
    })


def _measure(cfg: SimulationConfig, world: World, rule: str, **kw) -> tuple[float, float]:
    """(cents per expected correct data label, fill = data labels bought / labels wanted)."""
    s = summarise(run_rule(cfg, world, rule, **kw))
    wanted = cfg.market.rounds * cfg.market.round_size
    return 100.0 * s["cost_per_correct_label"], s["data_labels"] / wanted


def _posted(cfg: SimulationConfig, world: World, price: float) -> tuple[float, float]:
    market = cfg.market.model_copy(update={"posted_price": price})
    return _measure(cfg.model_copy(update={"market": market}), world, "posted_price")


def best_posted(prices: np.ndarray, cents: np.ndarray, fill: np.ndarray, target: float = FILL_TARGET) -> int:
    """Index of the best posted price in hindsight: the most fill up to ``target`` × the
    best fill on offer, then the fewest cents per correct label (a price that buys no
    correct label ranks last). Lexicographic, so every candidate, the median guess among
    them, scores no better than the one chosen."""
    need = target * np.max(fill)
    cost = np.where(np.isfinite(cents), cents, np.inf)
    return int(np.lexsort((prices, cost, -np.minimum(fill, need)))[0])


def seed_arms(seed: int, supply: str = "normal", quality: str = "gold", rounds: int | None = None
              ) -> dict[str, tuple[float, float, float]]:
    """One seed: each arm's (cents per correct label, fill, posted price or NaN)."""
    cfg = config(supply, quality, rounds)
    world = make_world(cfg, seed)
    median = round(float(np.median(world.population.cost)), 2)
    grid = np.union1d(POSTED_GRID, [median])
    posted = np.array([_posted(cfg, world, p) for p in grid])
    best = best_posted(grid, posted[:, 0], posted[:, 1])
    at_median = int(np.flatnonzero(grid == median)[0])
    out = {"posted_median": (*posted[at_median], median), "posted_hindsight": (*posted[best], grid[best])}
    for rule in AUCTIONS:
        out[rule] = (*_measure(cfg, world, rule), np.nan)
    for rule in RESERVED:
        out[f"{rule}_reserve"] = (*_measure(cfg, world, rule, reserve_window=RESERVE_WINDOW), np.nan)
    return out


def _seed_task(args) -> dict[str, tuple[float, float, float]]:
    return seed_arms(*args)


def price_per_label(seeds: int, *, supply: str = "normal", quality: str = "gold", rounds: int | None = None,
                    workers: int = 1) -> dict:
    """Per-seed cents per correct accepted label for every pricing arm, paired over seeds.

    Seeds are ``0 .. seeds - 1``; row ``i`` of every array is seed ``i`` in every arm
    (same population, arrivals and answers), so differences between arms are paired.

    Returns a dict with exactly these keys:

    * each name in :data:`ARMS` (``posted_median``, ``posted_hindsight``, ``first_price``,
      ``second_price``, ``budget_feasible``, ``quality_second_price``,
      ``quality_budget_feasible``, ``second_price_reserve``, ``budget_feasible_reserve``,
      ``quality_budget_feasible_reserve``) → float array of shape ``(seeds,)``: cents
      spent (gold checks included) per expected correct data label accepted; NaN where an
      arm bought no correct label;
    * ``"fill"`` → ``{arm: float array (seeds,)}``: data labels bought / labels wanted
      (``rounds × ROUND_SIZE``), in [0, 1];
    * ``"posted_price"`` → ``{"posted_median": (seeds,), "posted_hindsight": (seeds,)}``:
      the posted price each used, dollars;
    * ``"seeds"`` → int array ``(seeds,)``.

    ``supply`` is ``normal`` or ``thin`` (a new campaign), ``quality`` ``gold`` or
    ``none``; ``rounds`` overrides the supply's campaign length; ``workers`` > 1 runs seeds
    in that many processes.
    """
    if not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"seeds: must be a positive whole number, got {seeds!r}")
    config(supply, quality, rounds)  # validate before any work
    tasks = [(s, supply, quality, rounds) for s in range(seeds)]
    if workers > 1:
        with ProcessPoolExecutor(max_workers=min(workers, seeds)) as pool:
            rows = list(pool.map(_seed_task, tasks))
    else:
        rows = [_seed_task(t) for t in tasks]
    table = {arm: np.array([r[arm] for r in rows]) for arm in ARMS}
    return {
        **{arm: table[arm][:, 0] for arm in ARMS},
        "fill": {arm: table[arm][:, 1] for arm in ARMS},
        "posted_price": {arm: table[arm][:, 2] for arm in ("posted_median", "posted_hindsight")},
        "seeds": np.arange(seeds),
    }

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
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from app.experiments import report
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


# --- the command: table, plot and a section of docs/results.md ------------------------------

SECTION = "price"
SCENARIOS = tuple((supply, quality) for supply in SUPPLIES for quality in QUALITY)


def _bootstrap(data: tuple[np.ndarray, ...], statistic, paired: bool) -> tuple[float, float]:
    """95% BCa interval over seeds from ``scipy.stats.bootstrap``; the point itself when
    every seed agrees (no spread to resample)."""
    from scipy.stats import bootstrap

    point = float(statistic(*data))
    if data[0].size < 2 or all(np.ptp(d) == 0 for d in data):
        return point, point
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a statistic that never varies: scipy warns and gives NaN
        ci = bootstrap(data, statistic, paired=paired, vectorized=True, confidence_level=0.95,
                       n_resamples=9999, random_state=np.random.default_rng(0)).confidence_interval
    if not (np.isfinite(ci.low) and np.isfinite(ci.high)):
        return point, point
    return float(ci.low), float(ci.high)


def _mean(x, axis=-1):
    return np.mean(x, axis=axis)


def _mean_difference(a, b, axis=-1):
    return np.mean(a - b, axis=axis)


def summarise_arms(result: dict, baseline: str = BASELINE) -> list[dict]:
    """Per arm: mean cents per correct label and fill with 95% intervals over seeds, and the
    mean paired difference against ``baseline`` (seeds where either arm bought no correct
    label are left out of that arm's figures; ``n`` says how many remain)."""
    rows = []
    for arm in ARMS:
        cents, base = result[arm], result[baseline]
        ok = np.isfinite(cents) & np.isfinite(base)
        fill = result["fill"][arm]
        rows.append({
            "arm": arm, "n": int(ok.sum()),
            "cents": float(np.mean(cents[ok])), "cents_ci": _bootstrap((cents[ok],), _mean, paired=False),
            "diff": float(np.mean(cents[ok] - base[ok])),
            "diff_ci": _bootstrap((cents[ok], base[ok]), _mean_difference, paired=True),
            "fill": float(np.mean(fill)), "fill_ci": _bootstrap((fill,), _mean, paired=False),
        })
    return rows


def round_prices(seed: int, supply: str, quality: str, rule: str, reserve: bool, rounds: int = 5) -> list[float]:
    """Cents paid per paid label in each of a campaign's first ``rounds`` rounds: where a
    thin supply shows clearing at the cap."""
    cfg = config(supply, quality)
    run = run_rule(cfg, make_world(cfg, seed), rule, reserve_window=RESERVE_WINDOW if reserve else None)
    return (100.0 * run.rounds["price"].to_numpy()[:rounds]).tolist()


def _fmt(x: float, ci: tuple[float, float], digits: int = 1, pct: bool = False) -> str:
    f = 100.0 if pct else 1.0
    return f"{f * x:.{digits}f} [{f * ci[0]:.{digits}f}, {f * ci[1]:.{digits}f}]"


def markdown_table(rows: list[dict], seeds: int) -> str:
    lines = ["| arm | ¢ per correct label | Δ¢ vs posted median (paired) | fill % |",
             "|---|---|---|---|"]
    for r in rows:
        n = "" if r["n"] == seeds else f" (n={r['n']})"
        lines.append(f"| {r['arm']}{n} | {_fmt(r['cents'], r['cents_ci'])} | "
                     f"{'—' if r['arm'] == BASELINE else _fmt(r['diff'], r['diff_ci'])} | "
                     f"{_fmt(r['fill'], r['fill_ci'], 0, pct=True)} |")
    return "\n".join(lines)


def reserve_table(results: dict[tuple[str, str], dict]) -> str:
    """Each reserved rule against the same rule without the reserve, paired over seeds."""
    lines = ["| supply, quality control | rule | ¢ per correct: without → with reserve | Δ¢ [95% CI] | "
             "fill %: without → with |", "|---|---|---|---|---|"]
    for (supply, quality), res in results.items():
        for rule in RESERVED:
            a, b = res[f"{rule}_reserve"], res[rule]
            ok = np.isfinite(a) & np.isfinite(b)
            ci = _bootstrap((a[ok], b[ok]), _mean_difference, paired=True)
            fa, fb = res["fill"][f"{rule}_reserve"], res["fill"][rule]
            lines.append(f"| {supply}, {quality} | {rule} | {np.mean(b[ok]):.1f} → {np.mean(a[ok]):.1f} | "
                         f"{_fmt(float(np.mean(a[ok] - b[ok])), ci)} | {100 * np.mean(fb):.0f} → {100 * np.mean(fa):.0f} |")
    return "\n".join(lines)


def plot(summaries: dict[tuple[str, str], list[dict]], path: Path) -> Path:
    """One panel per (supply, quality control): each arm's cents per correct label with its
    95% interval over seeds, its fill written beside the bar."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = min(2, len(summaries))
    fig, axes = plt.subplots(-(-len(summaries) // columns), columns, figsize=(7 * columns, 4.5 * len(summaries) / columns),
                             squeeze=False)
    for ax, ((supply, quality), rows) in zip(axes.ravel(), summaries.items()):
        y = np.arange(len(rows))
        x = np.array([r["cents"] for r in rows])
        err = np.array([[r["cents"] - r["cents_ci"][0], r["cents_ci"][1] - r["cents"]] for r in rows]).T
        colours = ["#7f7f7f" if r["arm"].startswith("posted") else "#d62728" if r["arm"].endswith("reserve")
                   else "#1f77b4" for r in rows]
        ax.barh(y, x, xerr=err, color=colours, capsize=3)
        for yi, r in zip(y, rows):
            ax.text(r["cents_ci"][1] + 1, yi, f"fill {100 * r['fill']:.0f}%", va="center", fontsize=8)
        ax.set_yticks(y, [r["arm"] for r in rows], fontsize=8)
        ax.invert_yaxis()  # the baseline on top
        ax.set_xlim(0, 1.3 * max(r["cents_ci"][1] for r in rows))
        ax.set_title(f"{supply} supply, quality control {'on' if quality == 'gold' else 'off'}", fontsize=10)
        ax.set_xlabel("cents per correct label (95% CI over seeds)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.experiments.price", description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=20, help="seeds 0..N-1, paired across arms (default 20)")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1), help="processes (default 2)")
    parser.add_argument("--out", type=Path, default=Path("docs/results"), help="folder for price.png")
    parser.add_argument("--results", type=Path, default=Path("docs/results.md"), help="file to write the section in")
    args = parser.parse_args(argv)
    if args.seeds < 2:
        parser.error("--seeds: at least 2, for an interval over seeds")
    if args.workers < 1:
        parser.error("--workers: at least 1")
    if not args.results.parent.is_dir():
        parser.error(f"--results: no folder {args.results.parent}")

    start = time.perf_counter()
    results = {(s, q): price_per_label(args.seeds, supply=s, quality=q, workers=args.workers) for s, q in SCENARIOS}
    summaries = {k: summarise_arms(r) for k, r in results.items()}
    figure = plot(summaries, args.out / "price.png")
    seconds = time.perf_counter() - start

    bf = {(q, res): round_prices(0, "thin", q, "budget_feasible", res) for q in QUALITY for res in (False, True)}
    cents = lambda xs: ", ".join("—" if not np.isfinite(x) else f"{x:.0f}" for x in xs)
    command = "python -m app.experiments.price " + " ".join(argv if argv is not None else sys.argv[1:])
    parts = [
        "## Price per label (issue 16, item 2)",
        f"`{command.strip()}` on {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC, "
        f"{os.cpu_count()} cores ({args.workers} workers), seeds 0–{args.seeds - 1} (paired: every arm of a seed "
        f"faces the same annotators, arrivals and answers), {seconds / 60:.1f} min.",
        f"Market: the simulator's default population (100 annotators; careful readers' costs lognormal with "
        f"median 25¢, noisy annotators' 80% and spammers' 40% of that), "
        f"{ROUND_SIZE} labels wanted a round, each worth {100 * VALUE:.0f}¢ (the cap), a round budget of "
        f"${ROUND_SIZE * VALUE:.0f}; normal supply is a {NORMAL_ROUNDS}-round campaign, thin supply a new "
        f"{THIN_ROUNDS}-round one (with gold checks everyone starts on probation). Cents are all a campaign "
        f"spent, gold checks included, per expected correct data label; fill is data labels bought / wanted. "
        f"posted_median posts the population's median cost; posted_hindsight the cheapest whole-cent price per "
        f"correct label among those filling at least {100 * FILL_TARGET:.0f}% of the best posted fill, per seed. "
        f"`*_reserve`: a Myerson reserve, argmax (v − r)·F(r) with F the empirical CDF of the last "
        f"{RESERVE_WINDOW} rounds' asks of the other annotators (`market/mechanisms/reserve.py`). "
        f"Intervals: 95% BCa over seeds, `scipy.stats.bootstrap` (paired for the differences).",
        "Thin supply, seed 0, budget-feasible, cents per paid label in rounds 1–5: "
        f"with gold checks {cents(bf['gold', False])}; the same with the reserve {cents(bf['gold', True])}; "
        f"without gold checks {cents(bf['none', False])} (—: nothing paid that round; work won on probation "
        "is held until the annotator's gold test ends, then paid in the round that ends it).",
        f"![price per label]({figure.relative_to(args.results.parent) if figure.is_relative_to(args.results.parent) else figure})",
    ]
    for (supply, quality), rows in summaries.items():
        parts.append(f"### {supply.capitalize()} supply, quality control {'on (gold)' if quality == 'gold' else 'off'}")
        prices = results[supply, quality]["posted_price"]
        parts.append(f"Posted prices, mean over seeds: median guess {100 * np.mean(prices['posted_median']):.1f}¢, "
                     f"best in hindsight {100 * np.mean(prices['posted_hindsight']):.1f}¢.")
        parts.append(markdown_table(rows, args.seeds))
    parts += ["### The reserve against the same rule without it (paired over seeds)", reserve_table(results)]
    body = "\n\n".join(parts)
    report.replace_section(args.results, body, SECTION)
    print(body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

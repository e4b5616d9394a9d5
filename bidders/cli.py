"""Command line for economists and the demo: ``prefmarket simulate CONFIG``,
``prefmarket replay BIDS`` and ``prefmarket bots``.

The market's CLI mounts this ``app`` (``app.add_typer(bidders.cli.app)`` adds the
commands at its top level). ``simulate`` and ``replay`` need no server; ``bots`` runs a
population of annotator bots against a live market until it is told to stop. Nothing
here imports torch.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from bidders.bots import AnnotatorBot, Persona, register_bots, word_judge
from bidders.config import ConfigError, parse_sweep, read_config_file, sweep_points
from bidders.replay import ReplayError, load_rounds, replay as replay_rounds, replay_summary
from bidders.labels import KINDS
from bidders.population import PopulationConfig, sample_population, with_spammer_share
from bidders.simulate import simulate as run_simulation
from bidders.strategies import Learner, Markup, StrategyConfig, Truthful
from market.client import MarketClient, MarketError
from market.files import write_private

app = typer.Typer(help="Offline auction simulator and counterfactual replay.", no_args_is_help=True)
console = Console(stderr=True)

HEADLINE = ["spend", "labels", "cost_per_label", "efficiency", "requester_surplus",
            "annotator_surplus", "regret_max", "budget_violations", "spammer_share",
            "learner_markup_end"]


@app.command()
def simulate(
    config: Path = typer.Argument(..., help="TOML or YAML file: population, strategies, market, run."),
    sweep: list[str] = typer.Option([], "--sweep", help="key=v1,v2,... (repeatable; cartesian product)."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Output folder (default: run.out, else runs/simulate/<config name>)."),
    workers: int | None = typer.Option(None, "--workers", "-w", min=1, help="Processes (default: run.workers, else all cores)."),
) -> None:
    """Run every rule of CONFIG over many rounds and seeds; write tables and plots."""
    try:
        data = read_config_file(config)
        points = sweep_points(data, parse_sweep(sweep))
    except ConfigError as err:
        console.print(f"[red]{err}[/red]")
        raise typer.Exit(2) from None
    first = points[0][1]
    out_dir = out or Path(first.run.out or Path("runs") / "simulate" / config.stem)
    total = sum(len(cfg.run.seeds) * len(cfg.market.rules) for _, cfg in points)
    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console) as progress:
        task = progress.add_task("simulating", total=total)
        result = run_simulation(points, workers=workers, on_done=lambda: progress.advance(task))
    written = result.write(out_dir)
    _print_headline(result.summary, result.swept)
    console.print(f"wrote {len(written)} files to {out_dir}")


@app.command()
def replay(
    bids: Path = typer.Argument(..., help="JSON rows exported by GET /v1/campaigns/{id}/bids (see bidders.replay)."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write the per-bid replay table as CSV here."),
) -> None:
    """Re-clear a logged campaign's rounds under every rule and compare with the live one."""
    try:
        rounds = load_rounds(json.loads(bids.read_text()))
    except (OSError, json.JSONDecodeError, ReplayError) as err:
        console.print(f"[red]{bids}: {err}[/red]")
        raise typer.Exit(2) from None
    table = replay_rounds(rounds)
    if out:
        table.to_csv(out, index=False)
    _print_table(replay_summary(table), "replay: every rule on the logged bids (cents)")


@app.command()
def bots(
    url: str = typer.Option("http://127.0.0.1:8000", "--url", envvar="PREFMARKET_URL", help="Market base URL."),
    token: str = typer.Option(None, "--token", envvar="PREFMARKET_TOKEN",
                              help="Admin token: creates one annotator account per bot."),
    size: int = typer.Option(30, min=1, help="Annotators in the population (bidders.population defaults)."),
    seed: int = typer.Option(0, help="Seed for the population, strategies and labels."),
    roster: Path | None = typer.Option(None, help="JSON file of the bots' accounts and personas: written on the "
                                       "first start, reused on a restart (same annotators, same tokens)."),
    judge: str = typer.Option("sentiment", help="What annotators read completions by: sentiment (the "
                              "VADER judge, from prefmarket[policy]), facets (the judge that reads the prompt: "
                              "film, aspect, tone, fluency; docs/judges.md) or words (a small word list)."),
    poll: float = typer.Option(0.5, min=0.05, help="Seconds between looks at the market."),
    prefix: str = typer.Option("bot", help="Account name prefix."),
    spammers: float = typer.Option(None, min=0.0, max=0.99, help="Share of spammers in a new population (the "
                                   "other kinds keep their proportions); default: the population's 10%."),
    capacity: str = typer.Option(None, metavar="MIN-MAX", help="Labels each bot of a new population can deliver "
                                 "per round, drawn uniformly from MIN to MAX; default: the population's 1-3."),
) -> None:
    """Run a population of annotator bots against a live market until SIGINT/SIGTERM.

    Each bot bids on open rounds, labels what it won and learns from closed rounds, all
    through the HTTP API with its own token. The bots act only when the market's rounds
    change (one request per poll otherwise), so an idle population costs the server little.
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s bots %(message)s")
    if not token:
        console.print("[red]--token / PREFMARKET_TOKEN: an admin token is needed to create the bots' accounts[/red]")
        raise typer.Exit(2)
    admin = MarketClient(url, token)
    cfg = PopulationConfig(size=size, **_capacity_range(capacity))
    try:
        population = _load_or_register(admin, roster, cfg, seed=seed, judge=_bot_judge(judge), prefix=prefix,
                                        spammers=spammers)
    except MarketError as err:
        console.print(f"[red]the market answered {err.status}: {err.detail}[/red]")
        raise typer.Exit(1) from None
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    logging.info("%d bots working on %s", len(population), url)
    _work(admin, population, stop, poll)
    logging.info("stopped")


def _bot_judge(name: str):
    if name == "words":
        return word_judge
    if name not in ("sentiment", "facets"):
        raise typer.BadParameter("choose sentiment, facets or words", param_hint="--judge")
    from task.judges import make_judge  # torch-free; the same judges the policy's evaluation uses

    scorer = make_judge(name)
    return lambda prompt, completion: float(scorer.score([prompt], [completion])[0])


def _capacity_range(text: str | None) -> dict[str, int]:
    """``"3-6"`` → the population's capacity bounds; ``None`` → its defaults."""
    if text is None:
        return {}
    low, sep, high = text.partition("-")
    try:
        bounds = {"capacity_min": int(low), "capacity_max": int(high)} if sep else None
    except ValueError:
        bounds = None
    if bounds is None or not 1 <= bounds["capacity_min"] <= bounds["capacity_max"]:
        raise typer.BadParameter(f"{text!r}: give MIN-MAX with 1 <= MIN <= MAX, e.g. 3-6", param_hint="--capacity")
    return bounds


def _load_or_register(admin: MarketClient, roster: Path | None, cfg: PopulationConfig, *, seed: int, judge,
                      prefix: str, spammers: float | None = None):
    """The bots of ``roster`` if it exists, else a fresh population registered and written there.

    A restarted bot keeps its account, cost, skill, kind and strategy; a learner starts
    its learning afresh (its weights are not saved)."""
    strategies = StrategyConfig()
    if roster is not None and roster.exists():
        rows = json.loads(roster.read_text())["bots"]
        rng = np.random.default_rng([seed, 1])
        one = np.array([0])
        made = {"truthful": lambda: Truthful(one), "markup": lambda: Markup(one, strategies.markup_rate),
                "learner": lambda: Learner(one, strategies.learning)}
        return [AnnotatorBot(admin.with_token(r["token"]),
                             Persona(cost=r["cost"], skill=r["skill"], kind=KINDS.index(r["kind"]), capacity=r["capacity"]),
                             made[r["strategy"]](), np.random.default_rng(rng.integers(2**63)), judge) for r in rows]
    rng = np.random.default_rng(seed)
    population = sample_population(cfg if spammers is None else with_spammer_share(cfg, spammers), rng)
    bots = register_bots(admin, population, strategies, rng, prefix=prefix, judge=judge)
    if roster is not None:
        rows = []
        for bot in bots:
            me = bot.client.me()
            p = bot.persona
            rows.append({"id": me["id"], "name": me["name"], "token": bot.client.token, "kind": KINDS[p.kind],
                         "cost": p.cost, "cost_cents": p.cost_cents, "skill": p.skill, "capacity": p.capacity,
                         "strategy": bot.strategy.name})
        write_private(roster, json.dumps({"bots": rows}, indent=1))  # tokens: owner-only, whole or none
    return bots


def _work(admin: MarketClient, bots: list[AnnotatorBot], stop: threading.Event, poll: float) -> None:
    """Step every bot whenever some round changed state (or a step failed), until ``stop``."""
    seen, retry = None, True
    while not stop.is_set():
        try:
            now = tuple((r["id"], r["state"]) for r in admin.list_rounds())
        except MarketError as err:
            logging.warning("cannot list rounds (%s: %s); retrying", err.status, err.detail)
            stop.wait(max(poll, 1.0))
            continue
        if retry or now != seen:
            seen, retry = now, False
            totals = {"learned": 0, "bids": 0, "labels": 0}
            for bot in bots:
                if stop.is_set():
                    return
                try:
                    for key, n in bot.step().items():
                        totals[key] += n
                except MarketError as err:  # a round closed under us, a label came too late: look again
                    logging.info("a bot's step failed (%s: %s); it will retry", err.status, err.detail)
                    retry = True
            if any(totals.values()):
                logging.info("%(bids)d bids, %(labels)d labels, learned from %(learned)d rounds", totals)
        stop.wait(poll)


def _print_headline(summary: pd.DataFrame, swept: list[str]) -> None:
    means = summary.groupby([*swept, "rule"], sort=False)[HEADLINE].mean().reset_index()
    _print_table(means, "mean over seeds")


def _print_table(frame: pd.DataFrame, title: str) -> None:
    table = Table(title=title)
    for col in frame.columns:
        table.add_column(str(col), justify="left" if frame[col].dtype == object else "right")
    for row in frame.itertuples(index=False):
        table.add_row(*(f"{v:.4g}" if isinstance(v, float) else str(v) for v in row))
    Console().print(table)

"""Command line for economists: ``prefmarket simulate CONFIG`` and ``prefmarket replay BIDS``.

The market's CLI mounts this ``app`` (``app.add_typer(bidders.cli.app)`` adds both
commands at its top level). Nothing here imports torch or needs a server.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from bidders.config import ConfigError, parse_sweep, read_config_file, sweep_points
from bidders.replay import ReplayError, load_rounds, replay as replay_rounds, replay_summary
from bidders.simulate import simulate as run_simulation

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

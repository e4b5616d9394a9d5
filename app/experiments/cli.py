"""The ``prefmarket experiment`` command (mounted by app/cli.py); the work is in ``experiment``."""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

console = Console()
err = Console(stderr=True)


def _command_line(ctx: typer.Context) -> str:
    """The command as typed: the options given on the command line, in a form that can be rerun."""
    words = ["prefmarket", "experiment"]
    for param in ctx.command.params:
        source = ctx.get_parameter_source(param.name)
        if source is None or source.name != "COMMANDLINE":
            continue
        value = ctx.params[param.name]
        flag = param.opts[0]
        if isinstance(value, bool):
            words.append(flag if value or not getattr(param, "secondary_opts", None) else param.secondary_opts[0])
        else:
            words += [flag, str(value)]
    return shlex.join(words)


def _names(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def experiment(
    ctx: typer.Context,
    datasets: Annotated[str, typer.Option(help="comma-separated: movie (the embedded task), hh (logged human preferences)")] = "movie,hh",
    hh: Annotated[Path, typer.Option(help="HH (or TRL) JSONL(.gz) file of logged preferences, read by path")] = Path(
        "../shared/data/hh-harmless-base/dev.jsonl.gz"),
    hh_pairs: Annotated[Optional[int], typer.Option(help="use only the HH file's first N pairs (whole chunks of 32)")] = None,
    movie_prompts: Annotated[Optional[int], typer.Option(help="prompts of the movie pool, generated once (default 448)")] = None,
    seeds: Annotated[Optional[int], typer.Option(help="seeds 0..N-1, each its own held-out split and annotators (default 20; --quick 3)")] = None,
    workers: Annotated[int, typer.Option(help="worker processes for the seeds")] = os.cpu_count() or 1,
    cluster: Annotated[Optional[str], typer.Option(help="hand the seeds to the Dask scheduler at this address (tcp://HOST:8786) instead of local processes; its workers must share this repository's data/ folder (app/experiments/executor.py)")] = None,
    arms: Annotated[Optional[str], typer.Option(help="comma-separated acquisition arms: random, sharp, apl, adpo, noise_aware, coin_flip (default: all at linear; at dpo random, coin_flip and the two best of linear per data set)")] = None,
    model: Annotated[str, typer.Option(help="the frozen model: the embedded SmolLM2-135M-Instruct, a local path, or 'tiny'")] = "SmolLM2-135M-Instruct",
    rounds: Annotated[Optional[int], typer.Option(help="rounds each arm buys (default 16)")] = None,
    budget_rounds: Annotated[Optional[int], typer.Option(help="rounds of the baseline's campaign (default 8)")] = None,
    per_round: Annotated[Optional[int], typer.Option(help="labels bought per round (default 8)")] = None,
    prices: Annotated[bool, typer.Option(help="combine with price per label (app.experiments.price) into dollars per point")] = True,
    price_supply: Annotated[str, typer.Option(help="supply of the simulated pricing campaigns: thin (a new campaign, 20 rounds) or normal (200 rounds)")] = "thin",
    price_quality: Annotated[Optional[str], typer.Option(help="quality control on the simulated pricing campaigns: gold (gold checks; posted prices then fill little) or none (default gold; --quick none)")] = None,
    price_rounds: Annotated[Optional[int], typer.Option(help="rounds of each simulated pricing campaign (default: the price study's own)")] = None,
    fidelity: Annotated[str, typer.Option(help="linear (a log-linear policy on frozen features, seconds a seed) or dpo (real LoRA-DPO on the model, about 15 min an arm on one CPU core: docs/results.md)")] = "linear",
    preset: Annotated[Optional[str], typer.Option(help="dpo sizes: cpu (4 rounds of 12 labels; an arm takes 13-15 min on one of two quiet cores, so a seed of one data set, 4 arms, about an hour) or gpu (6 rounds of 16 labels, HH pairs up to 1024 prompt tokens; both data sets, 3 seeds, 24 arms in 6 min on one H200 with --workers 6)")] = None,
    report_only: Annotated[bool, typer.Option("--report-only", help="dpo: write the results section from the finished arms without running more")] = False,
    quick: Annotated[bool, typer.Option("--quick", help="a smoke run: tiny sizes (use with --model tiny in tests)")] = False,
    out: Annotated[Path, typer.Option(help="the results file whose experiment section is replaced")] = Path("docs/results.md"),
    plots: Annotated[Path, typer.Option(help="folder for the PNG plots")] = Path("docs/results"),
):
    """Points per label by acquisition function at the linear fidelity, with paired seed-level intervals.

    Caches each data set's frozen features under data/experiments (resumable), runs the seeds in
    parallel (resumable: one file per data set and seed), then writes its section of docs/results.md
    and the plots."""
    from policy.model import data_home

    if fidelity not in ("linear", "dpo"):
        err.print(f"[bold red]error:[/] --fidelity: unknown {fidelity!r}; choose from linear, dpo")
        raise typer.Exit(1)
    if fidelity == "dpo":
        _dpo(ctx, datasets=_names(datasets), hh=hh, seeds=seeds, workers=workers, cluster=cluster, arms=arms, model=model, rounds=rounds,
             per_round=per_round, movie_prompts=movie_prompts, preset=preset, report_only=report_only, quick=quick,
             out=out, plots=plots, home=data_home() / "experiments")
        return
    if preset is not None or report_only:
        err.print("[bold red]error:[/] --preset and --report-only belong to --fidelity dpo")
        raise typer.Exit(1)
    from app.experiments import experiment as exp

    arms = arms if arms is not None else ",".join(lab_arms())
    given = dict(datasets=_names(datasets), hh=hh, workers=workers, cluster=cluster, arms=_names(arms), model=model, prices=prices, price_supply=price_supply,
                 out=out, plots=plots, home=data_home() / "experiments", command=_command_line(ctx))
    for key, value in (("seeds", seeds), ("hh_pairs", hh_pairs), ("movie_prompts", movie_prompts),
                       ("price_rounds", price_rounds), ("price_quality", price_quality)):
        if value is not None:
            given[key] = value
    try:
        opts = exp.Options.quick(**given) if quick else exp.Options(**given)
        opts = exp.with_settings(opts, rounds=rounds, budget_rounds=budget_rounds, per_round=per_round)
        exp.run(opts, echo=console.print)
    except (ValueError, OSError) as exc:
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(1) from None


def lab_arms() -> tuple[str, ...]:
    from app.experiments.lab import ARMS

    return ARMS


def _dpo(ctx: typer.Context, *, arms: str | None, seeds: int | None, movie_prompts: int | None, rounds: int | None,
         per_round: int | None, preset: str | None, quick: bool, **given) -> None:
    """``--fidelity dpo``: real LoRA-DPO arm by arm (``app.experiments.dpo``), resumable."""
    from app.experiments import dpo

    given["command"] = _command_line(ctx)
    if arms is not None:
        given["arms"] = _names(arms)
    for key, value in (("seeds", seeds), ("movie_prompts", movie_prompts)):
        if value is not None:
            given[key] = value
    try:
        opts = dpo.with_settings(dpo.Options.make(preset=preset, quick=quick, **given), rounds=rounds, per_round=per_round)
        dpo.run(opts, echo=console.print)
    except (ValueError, OSError) as exc:
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(1) from None

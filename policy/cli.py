"""``prefmarket worker``: run the policy worker for one campaign (typer).

Mount it on the main CLI with ``app.command("worker")(policy.cli.worker)``, or merge the
whole ``policy.cli.app``. Importing this module stays light (no torch, no transformers):
the heavy imports happen inside the command, so ``prefmarket --help`` is instant.

The DPO recipe's options are not written here: one option per field of
``policy.recipe.RecipeFields``, with the field's default and help (:func:`recipe_options`),
as TRL derives its command line from ``DPOConfig``.
"""

from __future__ import annotations

import inspect
import logging
import types
import typing
from dataclasses import fields
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console

from policy.recipe import RecipeFields

app = typer.Typer(help="The policy side of a campaign.", no_args_is_help=True, add_completion=False)
err = Console(stderr=True)


@app.callback()
def _group() -> None:
    """Keeps ``worker`` a named subcommand even though it is the only one."""


def recipe_options() -> list[inspect.Parameter]:
    """One keyword-only typer option per recipe field (its type, default, help and flags),
    grouped under "DPO recipe" in ``--help``; fields the worker sets each round are left out."""
    hints = typing.get_type_hints(RecipeFields)
    params = []
    for f in fields(RecipeFields):
        if "set_by" in f.metadata:
            continue
        kind = hints[f.name]
        if isinstance(kind, types.UnionType):  # ``float | None``: typer reads Optional
            kind = Optional[next(a for a in typing.get_args(kind) if a is not type(None))]
        option = typer.Option(*f.metadata.get("flags", ()), help=f.metadata["help"], rich_help_panel="DPO recipe")
        params.append(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default,
                                        annotation=Annotated[kind, option]))
    return params


def _set_each_round() -> str:
    return "; ".join(f"{f.name} from {f.metadata['set_by']}" for f in fields(RecipeFields) if "set_by" in f.metadata)


def worker(
    campaign: Annotated[int, typer.Option("--campaign", help="campaign id to work for")],
    url: Annotated[str, typer.Option("--url", envvar="PREFMARKET_URL", help="market base URL")] = "http://127.0.0.1:8000",
    token: Annotated[Optional[str], typer.Option("--token", envvar="PREFMARKET_TOKEN", help="worker or requester token")] = None,
    model: Annotated[Optional[str], typer.Option(help="model id or local path (default: embedded SmolLM2-135M-Instruct)")] = None,
    acquisition: Annotated[Optional[str], typer.Option(help="override the campaign's acquisition: random, sharp, wsharp, apl, adpo")] = None,
    direction: Annotated[Optional[str], typer.Option(help="least_certain or most_certain (default: the method's own)")] = None,
    quality: Annotated[str, typer.Option(help=(
        "QA-DPO pair weights. market: the export's posterior weight per label, a label the item's "
        "consensus contradicts trained the other way (plain DPO while all weights are equal, e.g. one "
        "label per item and no gold answers); confidence: the annotator's self-reported confidence; "
        "facet: a facet reward model fitted on the labels; none: plain DPO"))] = "market",
    soft_labels: Annotated[bool, typer.Option("--soft-labels/--hard-labels", help=(
        "with --quality market: train each pair toward the export's posterior that its label is right "
        "(conservative DPO), or as certain"))] = True,
    judge: Annotated[str, typer.Option(help=(
        "sentiment, facets (reads the prompt), facet:PATH, openai:MODEL@URL (docs/judges.md), or none: no win rate, for a campaign "
        "measured on its held-out set (held-out accuracy is reported whenever the campaign has one)"))] = "sentiment",
    eval_prompts: Annotated[int, typer.Option(help="held-out task prompts for the win rate")] = 128,
    max_new_tokens: Annotated[int, typer.Option(help="completion length when sampling pairs")] = 48,
    temperature: Annotated[float, typer.Option(help="sampling temperature for pairs")] = 0.8,
    score_transform: Annotated[str, typer.Option(help=(
        "auto: ranks for ordinal methods, raw values for cardinal ones (market.acquisition); raw; or rank (rank/n in (0, 1])"))] = "auto",
    workdir: Annotated[Optional[Path], typer.Option(help="state, checkpoints and caches (default: data/workers/campaign-ID)")] = None,
    poll: Annotated[float, typer.Option(help="seconds between steps")] = 5.0,
    once: Annotated[bool, typer.Option("--once", help="do the pending work once and exit")] = False,
    max_rounds: Annotated[Optional[int], typer.Option(help="stop after training on this many rounds")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
    **recipe: Any,
) -> None:
    """Generate pairs, post acquisition scores, train on each settled round, post evaluations.

    The DPO recipe's options come from its fields (``policy.recipe``)."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    from market.client import MarketClient, MarketError
    from task import prompts as task
    from policy.acquire import AcquisitionConfig
    from policy.generate import SamplingConfig
    from policy.model import configure_threads
    from policy.train import DPORecipe
    from policy.worker import PolicyWorker, WorkerConfig

    configure_threads()
    try:
        dpo = DPORecipe(**recipe)
        seed = dpo.seed
        client = MarketClient(url, token)
        acq = None
        if acquisition is not None or direction is not None:
            method = acquisition or client.get_campaign(campaign)["acquisition"]
            acq = AcquisitionConfig(method=method, direction=direction, beta=dpo.beta, seed=seed)
        cfg = WorkerConfig(
            campaign_id=campaign, workdir=workdir, model=model, recipe=dpo,
            sampling=SamplingConfig(max_new_tokens=max_new_tokens, temperature=temperature, seed=seed),
            evaluation=SamplingConfig(max_new_tokens=max_new_tokens, temperature=0.7, seed=seed + 1234),
            acquisition=acq, eval_prompts=task.prompts("eval", eval_prompts), judge=judge, quality=quality,
            score_transform=score_transform, soft_labels=soft_labels,
        )
        PolicyWorker(client, cfg, progress=True).run(poll_s=poll, max_rounds=max_rounds, once=once)
    except MarketError as exc:
        err.print(f"[bold red]error:[/] the market answered {exc.status}: {exc.detail}")
        raise typer.Exit(1) from exc
    except (ValueError, FileNotFoundError) as exc:
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from exc


_own = [p for p in inspect.signature(worker, eval_str=True).parameters.values()
        if p.kind is not inspect.Parameter.VAR_KEYWORD]
worker.__signature__ = inspect.Signature(_own + recipe_options())
worker.__doc__ += f" Set each round by the worker, not by an option: {_set_each_round()}."
app.command("worker")(worker)

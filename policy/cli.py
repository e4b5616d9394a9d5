"""``prefmarket worker``: run the policy worker for one campaign (typer).

Mount it on the main CLI with ``app.command("worker")(policy.cli.worker)``, or merge the
whole ``policy.cli.app``. Importing this module stays light (no torch, no transformers):
the heavy imports happen inside the command, so ``prefmarket --help`` is instant.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

app = typer.Typer(help="The policy side of a campaign.", no_args_is_help=True, add_completion=False)
err = Console(stderr=True)


@app.callback()
def _group() -> None:
    """Keeps ``worker`` a named subcommand even though it is the only one."""


@app.command("worker")
def worker(
    campaign: Annotated[int, typer.Option("--campaign", help="campaign id to work for")],
    url: Annotated[str, typer.Option("--url", envvar="PREFMARKET_URL", help="market base URL")] = "http://127.0.0.1:8000",
    token: Annotated[Optional[str], typer.Option("--token", envvar="PREFMARKET_TOKEN", help="worker or requester token")] = None,
    model: Annotated[Optional[str], typer.Option(help="model id or local path (default: embedded SmolLM2-135M-Instruct)")] = None,
    lora: Annotated[bool, typer.Option("--lora/--full", help="LoRA adapters or full fine-tuning")] = True,
    schedule: Annotated[str, typer.Option(help="continue (new labels) or retrain (all labels, from the reference)")] = "continue",
    beta: Annotated[float, typer.Option(help="DPO beta")] = 0.1,
    lr: Annotated[Optional[float], typer.Option(help="learning rate (default 5e-4 LoRA, 5e-6 full)")] = None,
    epochs: Annotated[float, typer.Option(help="epochs per round")] = 1.0,
    batch_size: Annotated[int, typer.Option(help="pairs per optimiser step")] = 8,
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
    judge: Annotated[str, typer.Option(help="sentiment, facet:PATH or openai:MODEL@URL")] = "sentiment",
    eval_prompts: Annotated[int, typer.Option(help="held-out task prompts for the win rate")] = 128,
    max_new_tokens: Annotated[int, typer.Option(help="completion length when sampling pairs")] = 48,
    temperature: Annotated[float, typer.Option(help="sampling temperature for pairs")] = 0.8,
    score_transform: Annotated[str, typer.Option(help="raw acquisition values, or rank (rank/n in (0, 1])")] = "raw",
    workdir: Annotated[Optional[Path], typer.Option(help="state, checkpoints and caches (default: data/workers/campaign-ID)")] = None,
    poll: Annotated[float, typer.Option(help="seconds between steps")] = 5.0,
    once: Annotated[bool, typer.Option("--once", help="do the pending work once and exit")] = False,
    max_rounds: Annotated[Optional[int], typer.Option(help="stop after training on this many rounds")] = None,
    seed: Annotated[int, typer.Option(help="seed for sampling, tie-breaking and training")] = 0,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Generate pairs, post acquisition scores, train on each settled round, post evaluations."""
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
        recipe = DPORecipe(beta=beta, learning_rate=lr, epochs=epochs, batch_size=batch_size, lora=lora, schedule=schedule, seed=seed)
        client = MarketClient(url, token)
        acq = None
        if acquisition is not None or direction is not None:
            method = acquisition or client.get_campaign(campaign)["acquisition"]
            acq = AcquisitionConfig(method=method, direction=direction, beta=beta, seed=seed)
        cfg = WorkerConfig(
            campaign_id=campaign, workdir=workdir, model=model, recipe=recipe,
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

"""A requester's campaign on logged human preferences, in process: issue 20's real run.

Anthropic HH (or any HH-format file) is split by line: the first ``held`` lines are the
campaign's held-out set, the rest its pool. Both go through the CLI the way a requester
would upload them (``campaign upload --skip-invalid`` and ``--held-out``). Bots that answer
with the logged preference bid and label ``rounds`` rounds of ``round_size`` items under
second price; after each round the policy worker (no judge) trains DPO on what was bought
and posts held-out preference accuracy, which the accounting prices in cents per point.

The market runs in process (FastAPI's test client over a SQLite file in ``out``), so the run
needs no ports; everything still goes through the HTTP API and the CLI.

    python -m app.experiments.hh_campaign --out runs/hh     # the embedded model, about an hour on 2 cores
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

HH_DEV = Path("../shared/data/hh-harmless-base/dev.jsonl.gz")


def run(hh: Path, out: Path, *, model: str | None = None, held: int = 200, rounds: int = 2, round_size: int = 73,
        batch_size: int = 2, grad_accum: int = 4, say=print) -> dict:
    """Run the campaign; returns (and writes to ``out/result.json``) its accounting and evaluations.

    Each round offers ``round_size`` items to eight bots asking 8¢ under a 60¢ cap. Items are
    valued by rank (random scores are ordinal), so the lowest-ranked ones are worth less than
    the asks: 73 items offered buy 64 labels a round."""
    from fastapi.testclient import TestClient
    from typer.testing import CliRunner

    from app import cli
    from bidders.bots import AnnotatorBot, Persona
    from bidders.labels import DILIGENT
    from bidders.strategies import Truthful
    from market import accounts, db
    from market.api.app import create_app
    from market.client import MarketClient
    from market.upload import parse_lines, read_text
    from policy.train import DPORecipe
    from policy.worker import PolicyWorker, WorkerConfig

    started = time.monotonic()
    lines = read_text(hh).splitlines()
    if len(lines) <= held:
        raise ValueError(f"{hh}: {len(lines)} lines, not more than --held {held}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "held.jsonl").write_text("\n".join(lines[:held]) + "\n")
    (out / "pool.jsonl").write_text("\n".join(lines[held:]) + "\n")

    engine = db.make_engine(f"sqlite:///{out / 'market.db'}")
    db.init_db(engine)
    with db.session_scope(engine) as s:
        _, admin_token = accounts.create_account(s, "root", "admin")
        s.commit()
    http = TestClient(create_app(engine), raise_server_exceptions=False)
    admin = MarketClient("http://testserver", admin_token, transport=http)

    def account(name: str, role: str):
        a = admin.create_account(name, role)
        return admin.with_token(a["token"]), a

    req, _ = account("requester", "requester")
    worker_client, worker_account = account("worker", "worker")
    campaign = req.create_campaign(name="hh", budget_cents=10_000, max_price_cents=60, rule="second_price",
                                   acquisition="random", round_size=round_size,
                                   worker_id=worker_account["id"])
    cid = campaign["id"]
    # the CLI's commands reach this in-process market, and only for these two uploads
    own_client, cli._client = cli._client, lambda url, token: MarketClient("http://testserver", token, transport=http)
    try:
        for args in (["campaign", "upload", str(cid), str(out / "held.jsonl"), "--held-out"],
                     ["campaign", "upload", str(cid), str(out / "pool.jsonl"), "--skip-invalid"]):
            result = CliRunner().invoke(cli.app, [*args, "--token", req.token])
            if result.exit_code:
                raise ValueError(result.output)
            say(result.output.strip().replace("\n", " | "))
    finally:
        cli._client = own_client

    logged = {(p.prompt, p.completion_a if p.gold == "a" else p.completion_b)
              for p in parse_lines(read_text(out / "pool.jsonl"), skip_invalid=True).pairs}

    def judge(prompt: str, completion: str) -> float:
        return float((prompt, completion) in logged)

    bots = [AnnotatorBot(account(f"bot{k}", "annotator")[0], Persona(cost=0.08, skill=8.0, kind=DILIGENT,
                                                                     capacity=round_size // 8 + 1),
                         Truthful(np.array([0])), np.random.default_rng(k), judge) for k in range(8)]
    worker = PolicyWorker(worker_client, WorkerConfig(
        campaign_id=cid, workdir=out / "worker", model=model, judge="none",
        recipe=DPORecipe(lora=True, epochs=1.0, batch_size=batch_size, grad_accum=grad_accum, seed=0)))
    worker.step()  # completions are logged; this scores the pool
    for k in range(rounds):
        r = req.open_round(cid)
        for b in bots:
            b.bid()
        req.close_round(r["id"])
        for b in bots:
            b.label()
        r = req.settle_round(r["id"])
        m = worker.step().evaluation["metrics"]
        say(f"round {k + 1}: {r['n_assignments']} labels at {r['clearing_price_cents']}c; held-out accuracy "
            f"{100 * m['heldout_accuracy']:.1f}% [{100 * m['heldout_ci_low']:.1f}, {100 * m['heldout_ci_high']:.1f}] "
            f"on {m['heldout_n']} pairs")
    bought = req.export_labels(cid)
    result = {"labels": len(bought), "agree_with_log": float(np.mean([judge(x["prompt"], x["chosen"]) for x in bought])),
              "accounting": req.accounting(cid, metric="heldout_accuracy", target=55),
              "evaluations": req.list_evaluations(cid), "seconds": time.monotonic() - started}
    (out / "result.json").write_text(json.dumps(result, indent=1, default=str))
    acc = result["accounting"]
    say(f"{len(bought)} labels, {acc['spent_cents']} cents spent; cents per point {acc['cents_per_point']}, "
        f"cents to 55%: {acc['cents_to_target']}; {result['seconds']:.0f} s")
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hh", type=Path, default=HH_DEV, help="HH-format JSONL(.gz) of logged preferences")
    parser.add_argument("--out", type=Path, required=True, help="run folder (database, uploads, result.json)")
    parser.add_argument("--model", default=None, help="model path or cached id (default: the embedded model)")
    parser.add_argument("--held", type=int, default=200, help="the file's first N lines are held out")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--round-size", type=int, default=73, help="items offered a round (73 buy 64 labels)")
    args = parser.parse_args(argv)
    try:
        run(args.hh, args.out, model=args.model, held=args.held, rounds=args.rounds, round_size=args.round_size)
    except (OSError, ValueError) as exc:
        parser.error(str(exc))


if __name__ == "__main__":
    main()

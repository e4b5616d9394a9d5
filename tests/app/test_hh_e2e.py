"""A requester with HH-shaped logged preferences, end to end, without a judge.

The test writes its own small file in Anthropic HH's format (``chosen``/``rejected``
transcripts with ``\\n\\nHuman:``/``\\n\\nAssistant:`` turns, some multi-turn, two whose
chosen reply is empty), gzipped like HH's own files. Then, over the HTTP API in process:

1. ``prefmarket campaign upload --skip-invalid`` imports the pool: the empty-reply lines are
   refused, named and written beside the input; ``--held-out`` uploads a held-out set that
   keeps its empty reply;
2. bots that answer with the logged preference bid and label two rounds;
3. the policy worker, on the tiny model loaded from a saved folder (a local model path, as
   a requester's own model would be) and with no judge, trains DPO on each round and posts
   held-out accuracy;
4. the accounting prices that metric: its curve against spend, cents per point.
"""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from app import cli
from market import accounts, db
from market.api.app import create_app
from bidders.bots import AnnotatorBot, Persona
from bidders.labels import DILIGENT
from bidders.strategies import Truthful
from market.client import MarketClient
from policy.generate import SamplingConfig
from policy.model import tiny_model
from policy.scoring import pair_scores
from policy.train import DPORecipe
from policy.worker import PolicyWorker, WorkerConfig

torch.set_num_threads(1)

GOOD = ["a great film, lovely and moving", "wonderful acting, i loved it", "a brilliant and fun story"]
BAD = ["a dull and boring mess", "awful pacing, i hated it", "a weak, slow and bland plot"]


def transcript(turns: list[str], reply: str) -> str:
    """An HH transcript: alternating Human/Assistant turns, then the final Assistant reply."""
    text = "".join(f"\n\n{'Human' if k % 2 == 0 else 'Assistant'}: {t}" for k, t in enumerate(turns))
    return f"{text}\n\nAssistant: {reply}".rstrip(" ")


def hh_line(i: int, *, empty: bool = False) -> dict:
    turns = [f"tell me about film {i}"] if i % 2 else [f"hi, film {i}?", "sure, which one?", f"the one called {i}"]
    chosen = "" if empty else GOOD[i % 3]
    return {"chosen": transcript(turns, chosen), "rejected": transcript(turns, BAD[i % 3])}


@pytest.fixture
def http(database_url):
    engine = db.make_engine(database_url)
    db.init_db(engine)
    with db.session_scope(engine) as s:
        _, token = accounts.create_account(s, "root", "admin")
        s.commit()
    with TestClient(create_app(engine), raise_server_exceptions=False) as client:
        client.admin_token = token
        yield client
    engine.dispose()


def account(http, name: str, role: str) -> tuple[MarketClient, dict]:
    admin = MarketClient("http://testserver", http.admin_token, transport=http)
    acct = admin.create_account(name, role)
    return admin.with_token(acct["token"]), acct


@pytest.fixture
def hh_files(tmp_path):
    pool = [hh_line(i, empty=i in (3, 10)) for i in range(24)]
    held = [hh_line(100 + i, empty=i == 0) for i in range(10)]
    (tmp_path / "pool.jsonl.gz").write_bytes(gzip.compress("".join(json.dumps(x) + "\n" for x in pool).encode()))
    (tmp_path / "held.jsonl").write_text("".join(json.dumps(x) + "\n" for x in held))
    return tmp_path / "pool.jsonl.gz", tmp_path / "held.jsonl", pool


def logged_judge(pool: list[dict]):
    """A judge that scores a reply by the log: the logged chosen reply 1, anything else 0."""
    chosen = {}
    for row in pool:
        cut = row["chosen"].rfind("\n\nAssistant:") + len("\n\nAssistant:")
        chosen[row["chosen"][:cut]] = row["chosen"][cut:].strip()
    return lambda prompt, completion: float(chosen[prompt] == completion)


def test_hh_campaign_uploads_buys_trains_and_prices_held_out_accuracy(http, hh_files, tmp_path, monkeypatch):
    pool_file, held_file, pool = hh_files
    monkeypatch.setattr(cli, "_client", lambda url, token: MarketClient("http://testserver", token, transport=http))
    req, _ = account(http, "requester", "requester")
    worker_client, worker_acct = account(http, "policy", "worker")
    c = req.create_campaign(name="hh", budget_cents=2000, max_price_cents=30, rule="second_price",
                            round_size=10, worker_id=worker_acct["id"])
    cid, tok = c["id"], ["--token", req.token]

    out = CliRunner().invoke(cli.app, ["campaign", "upload", str(cid), str(pool_file), "--skip-invalid", *tok])
    assert out.exit_code == 0, out.output
    assert "imported 22 items (hh format)" in out.output and "refused 2 lines" in out.output
    refused = [json.loads(x) for x in (tmp_path / "pool.jsonl.gz.refused.jsonl").read_text().splitlines()]
    assert [r["line"] for r in refused] == [4, 11] and all("empty assistant reply" in r["reason"] for r in refused)
    out = CliRunner().invoke(cli.app, ["campaign", "upload", str(cid), str(held_file), "--held-out", *tok])
    assert out.exit_code == 0 and "imported 10 held-out pairs" in out.output, out.output
    held = req.list_held_out(cid)
    assert held[0]["chosen"] == "" and all(h["prompt"].count("\n\nHuman:") in (1, 2) for h in held)

    model, tokenizer = tiny_model(seed=0)
    model.save_pretrained(tmp_path / "tiny")
    tokenizer.save_pretrained(tmp_path / "tiny")
    cfg = WorkerConfig(campaign_id=cid, workdir=tmp_path / "worker", model=str(tmp_path / "tiny"), judge="none",
                       recipe=DPORecipe(lora=True, max_steps=4, batch_size=4, learning_rate=2e-2),
                       evaluation=SamplingConfig(max_new_tokens=8, seed=5), eval_prompts=[])
    worker = PolicyWorker(worker_client, cfg)  # loads the saved folder: a local model path
    judge = logged_judge(pool)
    bots = [AnnotatorBot(account(http, f"bot{k}", "annotator")[0], Persona(cost=0.05 + 0.03 * k, skill=8.0,
                                                                          kind=DILIGENT, capacity=5),
                         Truthful(np.array([0])), np.random.default_rng(k), judge) for k in range(3)]

    worker.step()  # scores the pool
    for _ in range(2):
        r = req.open_round(cid)
        assert not {h["prompt"] for h in held} & {it["prompt"] for it in req.list_items(cid)
                                                   if it["id"] in r["item_ids"]}
        for b in bots:
            b.bid()
        req.close_round(r["id"])
        for b in bots:
            b.label()
        req.settle_round(r["id"])
        assert worker.step().trained_rounds == [r["id"]]

    labels = req.export_labels(cid)
    agree = np.mean([judge(x["prompt"], x["chosen"]) for x in labels])
    assert len(labels) == req.campaign_summary(cid)["labels"] >= 10 and agree >= 0.9  # bots answer by the log
    assert not {h["prompt"] for h in held} & {x["prompt"] for x in labels}  # held-out pairs were never bought
    evals = sorted(req.list_evaluations(cid), key=lambda e: e["spend_cents"])
    assert len(evals) == 2 and all(e["n"] == 0 for e in evals)  # no judge: no win rate claimed
    for e in evals:
        m = e["metrics"]
        assert m["heldout_n"] == 10 and m["heldout_skipped"] == 0
        assert m["heldout_ci_low"] <= m["heldout_accuracy"] <= m["heldout_ci_high"]
    margins = pair_scores(worker.models, worker.cache, [h["prompt"] for h in held], [h["chosen"] for h in held],
                          [h["rejected"] for h in held], beta=cfg.recipe.beta).margins
    assert evals[-1]["metrics"]["heldout_accuracy"] == pytest.approx(np.where(margins == 0, 0.5, margins > 0).mean())

    acc = req.accounting(cid, metric="heldout_accuracy", target=55)
    spent = req.campaign_summary(cid)["spent_cents"]
    assert acc["metric"] == "heldout_accuracy" and spent > 0
    assert [(p["spend_cents"], p["value"]) for p in acc["curve"][1:]] == [
        (e["spend_cents"], e["metrics"]["heldout_accuracy"]) for e in evals]
    final = evals[-1]["metrics"]["heldout_accuracy"]
    if final > 0.5:
        assert acc["cents_per_point"] == pytest.approx(spent / (100 * final - 50))
    else:
        assert acc["cents_per_point"] is None

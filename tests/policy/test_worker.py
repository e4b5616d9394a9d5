"""The worker against the real market API, in process: pairs, scores, training, evaluation, resume."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from market import accounts, db
from market.api.app import create_app
from market.client import MarketClient
from policy import task, worker as worker_module
from policy.acquire import AcquisitionConfig
from policy.generate import SamplingConfig
from policy.judges import SentimentJudge
from policy.model import tiny_model
from policy.scoring import pair_scores
from policy.train import DPORecipe
from policy.worker import PolicyWorker, WorkerConfig


@pytest.fixture
def market(tmp_path):
    engine = db.make_engine(f"sqlite:///{tmp_path / 'market.db'}")
    db.init_db(engine)
    with db.session_scope(engine) as s:
        _, admin_token = accounts.create_account(s, "root", "admin")
        s.commit()
    with TestClient(create_app(engine), raise_server_exceptions=False) as http:
        admin = MarketClient("http://testserver", admin_token, transport=http)

        def account(name, role):
            return admin.with_token(admin.create_account(name, role)["token"])

        yield account
    engine.dispose()


def _campaign(market, n_items=12, acquisition="sharp"):
    req = market("req", "requester")
    c = req.create_campaign(
        name="movies", budget_cents=5000, max_price_cents=50, rule="second_price", acquisition=acquisition,
        labels_per_item=1, round_size=6, round_duration_s=300,
    )
    if n_items:
        req.upload_items(c["id"], task.pool_jsonl(n_items))
    return req, c


def _config(c, tmp_path, **kw):
    base = dict(
        campaign_id=c["id"], workdir=tmp_path / "worker",
        recipe=DPORecipe(lora=True, max_steps=2, batch_size=2, learning_rate=1e-2),
        sampling=SamplingConfig(max_new_tokens=8, batch_size=8),
        evaluation=SamplingConfig(max_new_tokens=8, temperature=0.7, seed=5),
        eval_prompts=task.prompts("eval", 6),
    )
    base.update(kw)
    return WorkerConfig(**base)


def _run_round(req, market, c, names=("a1", "a2", "a3")):
    """Open a round, three annotators bid and label by the embedded judge, settle."""
    r = req.open_round(c["id"])
    annotators = [market(n, "annotator") for n in names]
    for k, a in enumerate(annotators):
        a.place_bid(r["id"], 10 + k, capacity=4)
    req.close_round(r["id"])
    judge = SentimentJudge()
    for a in annotators:
        for asg in a.my_assignments(state="open"):
            better = judge.compare([asg["prompt"]], [asg["completion_a"]], [asg["completion_b"]])[0]
            a.submit_label(asg["id"], "a" if better >= 0.5 else "b", confidence=0.8)
    return req.settle_round(r["id"])


def test_worker_runs_a_campaign_and_resumes_from_its_checkpoint(market, tmp_path):
    req, c = _campaign(market)
    w = PolicyWorker(req, _config(c, tmp_path), load_model=tiny_model)

    first = w.step()
    items = req.list_items(c["id"])
    assert first.completed + sum(first.skipped.values()) == 12 and first.completed >= 10
    paired = [it for it in items if it["completion_a"]]
    assert all(it["completion_a"] != it["completion_b"] for it in paired)
    assert first.scored == len(paired) and all(it["score"] is not None for it in paired)
    assert len({it["score"] for it in paired}) == len(paired)  # step-0 ties broken

    assert w.step().scored == 0  # nothing changed: no rescoring

    settled = _run_round(req, market, c)
    second = w.step()
    assert second.trained_rounds == [settled["id"]]
    evaluations = req.list_evaluations(c["id"])
    assert len(evaluations) == 1
    ev = evaluations[0]
    assert ev["round_id"] == settled["id"] and ev["spend_cents"] == req.campaign_summary(c["id"])["spent_cents"] > 0
    assert 0 <= ev["ci_low"] <= ev["win_rate"] <= ev["ci_high"] <= 1 and ev["n"] == 6
    assert ev["metrics"]["heldout_accuracy"] == 0.5  # the step-0 policy could not tell any pair apart
    assert second.scored > 0 and w.state.version == 1

    labels = req.export_labels(c["id"])
    margins = pair_scores(w.models, w.cache, [x["prompt"] for x in labels], [x["chosen"] for x in labels],
                          [x["rejected"] for x in labels], beta=0.1).margins
    resumed = PolicyWorker(req, _config(c, tmp_path), load_model=tiny_model)  # the old process is gone
    again = pair_scores(resumed.models, resumed.cache, [x["prompt"] for x in labels], [x["chosen"] for x in labels],
                        [x["rejected"] for x in labels], beta=0.1).margins
    np.testing.assert_allclose(again, margins, rtol=1e-5, atol=1e-6)
    assert np.abs(margins).max() > 0
    report = resumed.step()
    assert report.trained_rounds == [] and report.evaluation is None and report.scored == 0
    assert len(req.list_evaluations(c["id"])) == 1


def test_a_worker_killed_while_checkpointing_redoes_that_round_once(market, tmp_path, monkeypatch):
    req, c = _campaign(market)
    PolicyWorker(req, _config(c, tmp_path), load_model=tiny_model).step()
    _run_round(req, market, c)

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(worker_module, "save_checkpoint", crash)
    with pytest.raises(KeyboardInterrupt):
        PolicyWorker(req, _config(c, tmp_path), load_model=tiny_model).step()
    monkeypatch.undo()
    assert req.list_evaluations(c["id"]) == []

    w = PolicyWorker(req, _config(c, tmp_path), load_model=tiny_model)
    assert w.state.checkpoint is None and w.state.rounds_trained == []
    report = w.step()
    assert len(report.trained_rounds) == 1 and len(req.list_evaluations(c["id"])) == 1


def test_an_empty_pool_is_a_documented_no_op(market, tmp_path):
    req, c = _campaign(market, n_items=0)
    report = PolicyWorker(req, _config(c, tmp_path), load_model=tiny_model).step()
    assert report.empty_pool and report.completed == 0 and report.scored == 0


def test_too_long_prompts_are_skipped_and_remembered(market, tmp_path):
    req, c = _campaign(market, n_items=0)
    req.upload_items(c["id"], '{"prompt": "a short film review"}\n{"prompt": "' + "word " * 400 + '"}\n')
    w = PolicyWorker(req, _config(c, tmp_path), load_model=tiny_model)
    report = w.step()
    assert report.skipped["prompt_too_long"] == 1 and report.completed == 1
    assert list(w.state.unusable.values()) == ["prompt_too_long"]
    assert w.step().skipped == {}  # not retried


@pytest.mark.parametrize("method", ["random", "wsharp", "apl", "adpo"])
def test_each_acquisition_scores_the_pool(market, tmp_path, method):
    req, c = _campaign(market, acquisition=method)
    acq = AcquisitionConfig(method=method, n_select=3, apl_f_pair=2, apl_f_prompt=1, apl_samples=2, apl_max_new_tokens=6)
    report = PolicyWorker(req, _config(c, tmp_path, acquisition=acq), load_model=tiny_model).step()
    scores = [it["score"] for it in req.list_items(c["id"]) if it["completion_a"]]
    assert report.scored == len(scores) > 0 and all(np.isfinite(scores))


def test_qa_weights_from_annotator_confidence_train_and_rank_transform(market, tmp_path):
    req, c = _campaign(market)
    cfg = _config(c, tmp_path, quality="confidence", score_transform="rank")
    w = PolicyWorker(req, cfg, load_model=tiny_model)
    w.step()
    scores = sorted(it["score"] for it in req.list_items(c["id"]) if it["score"] is not None)
    np.testing.assert_allclose(scores, np.arange(1, len(scores) + 1) / len(scores))
    _run_round(req, market, c)
    assert len(w.step().trained_rounds) == 1 and cfg.recipe.qa_weights

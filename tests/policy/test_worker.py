"""The worker against the real market API, in process: pairs, scores, training, evaluation, resume."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from market import accounts, db
from market.api.app import create_app
from market.client import MarketClient
from policy import train as train_module, worker as worker_module
from task import prompts as task
from policy.acquire import AcquisitionConfig
from policy.generate import SamplingConfig
from task.judges import SentimentJudge
from policy.model import tiny_model
from policy.scoring import pair_scores
from policy.train import DPORecipe
from policy.worker import PolicyWorker, WorkerConfig, pairs_from_export


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


def _campaign(market, n_items=12, acquisition="sharp", labels_per_item=1):
    req = market("req", "requester")
    c = req.create_campaign(
        name="movies", budget_cents=5000, max_price_cents=50, rule="second_price", acquisition=acquisition,
        labels_per_item=labels_per_item, round_size=6, round_duration_s=300,
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


def _run_round(req, market, c, names=("a1", "a2", "a3"), capacity=4, contrarian=None, ask=10):
    """Open a round, three annotators bid (``ask``, ``ask + 1``, ...) and label by the embedded judge, settle.

    ``contrarian``: ``(name, n)``: that annotator labels the round's first ``n`` items against the judge."""
    r = req.open_round(c["id"])
    contrary = set(r["item_ids"][: contrarian[1]]) if contrarian else set()
    annotators = [market(n, "annotator") for n in names]
    for k, a in enumerate(annotators):
        a.place_bid(r["id"], ask + k, capacity=capacity)
    req.close_round(r["id"])
    judge = SentimentJudge()
    for name, a in zip(names, annotators, strict=True):
        for asg in a.my_assignments(state="open"):
            better = judge.compare([asg["prompt"]], [asg["completion_a"]], [asg["completion_b"]])[0]
            choice = "a" if better >= 0.5 else "b"
            if contrarian and name == contrarian[0] and asg["item_id"] in contrary:
                choice = "b" if choice == "a" else "a"
            a.submit_label(asg["id"], choice, confidence=0.8)
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
    assert ev["metrics"]["prequential_accuracy"] == 0.5  # the step-0 policy could not tell any pair apart
    assert "heldout_accuracy" not in ev["metrics"]  # the campaign has no held-out set
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


# ---------------------------------------------------------------------- QA-DPO weights from the export


def _row(label_id, soft, chosen="good", rejected="bad", weight=None):
    return {"prompt": f"p{label_id}", "chosen": chosen, "rejected": rejected, "label_id": label_id,
            "confidence": None, "soft_label": soft, "weight": 0.5 + soft if weight is None else weight}


def test_market_pairs_take_the_exports_weights_and_follow_the_posterior():
    rows = [_row(1, 0.9), _row(2, 0.6), _row(3, 0.2, chosen="x", rejected="y"), _row(4, 0.5)]
    pairs = pairs_from_export(rows, "market")
    assert [p.weight for p in pairs] == pytest.approx([1.4, 1.1, 1.3, 1.0])
    assert [(p.chosen, p.rejected) for p in pairs[:2]] == [("good", "bad")] * 2
    assert (pairs[2].chosen, pairs[2].rejected) == ("y", "x")  # the consensus says y beats x
    assert (pairs[3].chosen, pairs[3].rejected) == ("good", "bad")  # 0.5: the label's own direction
    assert [p.prompt for p in pairs] == ["p1", "p2", "p3", "p4"]
    # the export's own weight is used as is (the reversed pair's is 2 - weight), not recomputed from the soft label
    own = pairs_from_export([_row(1, 0.9, weight=1.3), _row(2, 0.2, weight=0.9)])
    assert [p.weight for p in own] == pytest.approx([1.3, 1.1])
    # the soft label: how sure the posterior is that the pair, as trained, is the right way round
    assert [p.soft_label for p in pairs] == pytest.approx([0.9, 0.6, 0.8, 0.5])


def test_without_per_pair_information_every_weight_is_one():
    uniform = [_row(i, 2 / 3) for i in range(4)]  # one label per item, no gold answer yet
    legacy = [{k: v for k, v in _row(i, 0.9).items() if k not in ("soft_label", "weight")} for i in range(3)]
    for rows in (uniform, legacy, [_row(1, 0.9), _row(2, 0.1)]):  # the last: 1.4 and, flipped, 1.4
        assert [p.weight for p in pairs_from_export(rows, "market")] == [1.0] * len(rows)
    assert [p.weight for p in pairs_from_export([_row(1, 0.9), _row(2, 0.2)], "none")] == [1.0, 1.0]
    assert pairs_from_export([_row(2, 0.2)], "none")[0].chosen == "good"  # only "market" reads the posterior
    assert [p.soft_label for p in pairs_from_export([_row(2, 0.2)], "none") + pairs_from_export(legacy)] == [1.0] * 4
    with pytest.raises(ValueError, match="market, confidence, facet, none"):
        pairs_from_export(uniform, "magic")
    with pytest.raises(ValueError, match="quality must be one of"):
        WorkerConfig(campaign_id=1, workdir=Path("unused"), quality="magic")
    assert WorkerConfig(campaign_id=1, workdir=Path("unused")).quality == "market"
    assert WorkerConfig(campaign_id=1, workdir=Path("unused"), quality=None).quality == "none"


@pytest.fixture
def spy_training(monkeypatch):
    """Records what the worker hands to ``train_dpo`` and the weight column of the dataset it builds."""
    seen = {"pairs": [], "recipes": [], "dataset_weights": [], "dataset_soft": []}
    real_train, real_dataset = worker_module.train_dpo, train_module.preference_dataset

    def train(models, pairs, recipe, *args, **kwargs):
        seen["pairs"].append(list(pairs))
        seen["recipes"].append(recipe)
        return real_train(models, pairs, recipe, *args, **kwargs)

    def dataset(*args, **kwargs):
        ds = real_dataset(*args, **kwargs)
        seen["dataset_weights"].append(ds["weight"] if "weight" in ds.column_names else None)
        seen["dataset_soft"].append(ds["soft_label"] if "soft_label" in ds.column_names else None)
        return ds

    monkeypatch.setattr(worker_module, "train_dpo", train)
    monkeypatch.setattr(train_module, "preference_dataset", dataset)
    return seen


def test_the_exports_posterior_weights_reach_the_trainer(market, tmp_path, spy_training):
    req, c = _campaign(market, labels_per_item=3)
    w = PolicyWorker(req, _config(c, tmp_path), load_model=tiny_model)  # quality: the default, "market"
    w.step()
    # asks below the last-ranked item's value (r/6: ordinal scores are valued by rank), so all 18 units sell
    settled = _run_round(req, market, c, capacity=6, contrarian=("a3", 2), ask=5)
    contested = set(settled["item_ids"][:2])
    assert len(w.step().trained_rounds) == 1

    rows = req.export_labels(c["id"])
    assert len(rows) == 18 and len({r["item_id"] for r in rows}) == 6
    (pairs,), (recipe,) = spy_training["pairs"], spy_training["recipes"]
    assert recipe.qa_weights and spy_training["dataset_weights"] == [pytest.approx([p.weight for p in pairs])]
    flipped = 0
    for p, r in zip(pairs, rows, strict=True):  # one pair per exported label, in the export's order
        assert p.prompt == r["prompt"]
        if r["item_id"] in contested:
            # 2 votes to 1 at the prior's accuracy 2/3 each: P(majority) = 2/3, both directions weigh 7/6
            assert p.weight == pytest.approx(0.5 + 2 / 3) and p.soft_label == pytest.approx(2 / 3)
            majority = next(x for x in rows if x["item_id"] == r["item_id"] and x["soft_label"] > 0.5)
            assert (p.chosen, p.rejected) == (majority["chosen"], majority["rejected"])
            flipped += r["soft_label"] < 0.5
        else:  # unanimous: P = 8/9
            assert p.weight == pytest.approx(0.5 + 8 / 9) == pytest.approx(r["weight"])
            assert p.soft_label == pytest.approx(8 / 9) == pytest.approx(r["soft_label"])
            assert (p.chosen, p.rejected) == (r["chosen"], r["rejected"])
    assert flipped == 2  # a3's two contrary labels, trained the consensus's way
    assert recipe.soft_labels and spy_training["dataset_soft"] == [pytest.approx([p.soft_label for p in pairs])]
    metrics = req.list_evaluations(c["id"])[0]["metrics"]
    assert metrics["quality"] == "market" and metrics["qa_weighted"] is True and metrics["flipped_labels"] == 2
    assert metrics["soft_labels"] is True


@pytest.mark.parametrize("soft_labels", [True, False])
def test_one_label_per_item_and_no_gold_trains_at_the_priors_belief_or_plain_dpo(market, tmp_path, spy_training,
                                                                                 soft_labels):
    req, c = _campaign(market)
    w = PolicyWorker(req, _config(c, tmp_path, soft_labels=soft_labels), load_model=tiny_model)
    w.step()
    _run_round(req, market, c)
    w.step()
    weights = [r["weight"] for r in req.export_labels(c["id"])]
    assert weights == pytest.approx([0.5 + 2 / 3] * len(weights))  # one vote at the prior's accuracy: uniform
    (pairs,), (recipe,) = spy_training["pairs"], spy_training["recipes"]
    assert [p.weight for p in pairs] == [1.0] * len(pairs) and len(pairs) > 0
    assert not recipe.qa_weights and spy_training["dataset_weights"] == [None]  # equal weights say nothing
    if soft_labels:  # but each label is still right only 2/3 of the time, as far as the market knows
        assert recipe.soft_labels and spy_training["dataset_soft"] == [pytest.approx([2 / 3] * len(pairs))]
    else:  # TRL's own loss, untouched
        assert not recipe.soft_labels and spy_training["dataset_soft"] == [None]


def _hh(question: str, chosen: str, rejected: str) -> dict:
    turn = f"\n\nHuman: {question}\n\nAssistant:"
    return {"chosen": f"{turn} {chosen}", "rejected": f"{turn} {rejected}"}


def test_held_out_accuracy_is_posted_each_round_without_a_judge(market, tmp_path, spy_training):
    import json

    req, c = _campaign(market)
    held = [_hh(f"review film {i}", "a great film", "a dull film") for i in range(6)]
    held += [_hh("should I hurt them?", "", "yes, here is how"), _hh("word " * 300, "ok", "no")]  # empty; too long
    req.upload_held_out(c["id"], "".join(json.dumps(h) + "\n" for h in held))
    w = PolicyWorker(req, _config(c, tmp_path, judge="none"), load_model=tiny_model)
    w.step()
    _run_round(req, market, c)
    report = w.step()
    ev = report.evaluation
    assert (ev["n"], ev["win_rate"], ev["ci_low"], ev["ci_high"]) == (0, 0.5, 0.0, 1.0)  # nothing judged
    m = ev["metrics"]
    assert m["heldout_n"] == 7 and m["heldout_skipped"] == 1
    rows = [r for r in req.list_held_out(c["id"]) if r["prompt"].count("word") < 300]
    margins = pair_scores(w.models, w.cache, [r["prompt"] for r in rows], [r["chosen"] for r in rows],
                          [r["rejected"] for r in rows], beta=w.cfg.recipe.beta).margins
    assert m["heldout_accuracy"] == pytest.approx(np.where(margins == 0, 0.5, margins > 0).mean())
    assert m["heldout_ci_low"] <= m["heldout_accuracy"] <= m["heldout_ci_high"]
    assert m["heldout_ci_low"] < m["heldout_ci_high"] and np.abs(margins).max() > 0  # training moved the policy
    trained = {p.prompt for pairs in spy_training["pairs"] for p in pairs}
    assert trained and not trained & {r["prompt"] for r in rows}  # never trained on
    assert "prequential_accuracy" in m and "skipped_eval_prompts" not in m


def test_rounds_train_as_one_run_of_adam_and_record_what_each_training_saw(market, tmp_path):
    """Training accumulates: the second round's training resumes Adam where the first left it,
    through a restart, and each training's pairs are kept (as trained) for a control arm."""
    req, c = _campaign(market)
    cfg = _config(c, tmp_path, judge="none")
    w = PolicyWorker(req, cfg, load_model=tiny_model)
    w.step()
    _run_round(req, market, c)
    w.step()
    assert int(next(iter(w.optimizer_state["state"].values()))["step"]) == 2
    resumed = PolicyWorker(req, cfg, load_model=tiny_model)  # a restart keeps Adam's state with the checkpoint
    assert int(next(iter(resumed.optimizer_state["state"].values()))["step"]) == 2
    _run_round(req, market, c, names=("b1", "b2", "b3"))
    resumed.step()
    assert int(next(iter(resumed.optimizer_state["state"].values()))["step"]) == 4
    batches = worker_module.trained_pairs(cfg.workdir, resumed.state.version)
    labels = req.export_labels(c["id"])
    assert len(batches) == 2 and sum(map(len, batches)) == len(labels) == len(resumed.state.labels_trained)
    assert {(p.prompt, frozenset((p.chosen, p.rejected))) for b in batches for p in b} == \
        {(x["prompt"], frozenset((x["chosen"], x["rejected"]))) for x in labels}

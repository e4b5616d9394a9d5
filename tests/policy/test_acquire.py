"""Dispatch through the registry: one scorer per registered method, each fed what the registry
says it needs, and what the worker posts for ordinal and cardinal methods."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from market import accounts, db
from market import acquisition as registry
from market.api.app import create_app
from market.client import MarketClient
from market.tables import Campaign
from policy.acquire import SCORERS, AcquisitionConfig, PoolInputs, score_pool
from policy.model import tiny_model
from policy.worker import PolicyWorker, WorkerConfig


def test_every_registered_method_has_a_scorer_and_every_scorer_is_registered():
    assert set(SCORERS) == set(registry.METHODS)


@pytest.mark.parametrize("name", list(registry.METHODS))
def test_each_scorer_needs_only_what_the_registry_declares(name):
    n, rng = 40, np.random.default_rng(0)
    needs = registry.METHODS[name].needs
    x = PoolInputs(
        n,
        margins=rng.normal(size=n) if "margins" in needs else None,
        features=rng.normal(size=(n, 8)) if "features" in needs else None,
        entropy=rng.random(n) if "samples" in needs else None,
    )
    cfg = AcquisitionConfig(method=name, n_select=4, apl_f_pair=2)
    scores = SCORERS[name](x, cfg, rng)
    assert scores.shape == (n,) and np.isfinite(scores).all()


def test_adpo_starts_from_the_pairs_already_bought():
    """A pool pair that duplicates a bought one adds little to the design: its gain falls, and
    the pair it was most like is no longer the first pick; without ``bought`` nothing changes."""
    rng = np.random.default_rng(3)
    features, margins = rng.normal(size=(30, 6)), rng.normal(size=30)
    cfg = AcquisitionConfig(method="adpo", n_select=5)
    fresh = SCORERS["adpo"](PoolInputs(30, margins=margins, features=features), cfg, rng)
    first = int(np.argmax(fresh))
    carried = SCORERS["adpo"](
        PoolInputs(30, margins=margins, features=features, bought_margins=np.repeat(margins[[first]], 3),
                   bought_features=np.repeat(features[[first]], 3, axis=0)),
        cfg, rng,
    )
    assert carried[first] < fresh[first] / 2
    assert int(np.argmax(carried)) != first
    empty = PoolInputs(30, margins=margins, features=features, bought_margins=np.zeros(0),
                       bought_features=np.zeros((0, 6)))
    np.testing.assert_allclose(SCORERS["adpo"](empty, cfg, rng), fresh)


def test_score_pool_carries_the_pairs_already_labelled_into_adpo():
    from policy.scoring import ReferenceCache
    from policy.train import DPORecipe, initial_models

    models, cache = initial_models(*tiny_model(seed=0), DPORecipe(lora=True)), ReferenceCache()
    prompts = ["a film about music", "the acting was great", "review this comedy", "a quiet drama"]
    a = ["loved every minute", "great cast and score", "funny and warm", "slow but moving"]
    b = ["dull", "the plot drags on", "not funny at all", "too long"]
    cfg = AcquisitionConfig(method="adpo", n_select=2, seed=0)
    fresh = score_pool(models, cache, prompts, a, b, cfg)
    carried = score_pool(models, cache, prompts, a, b, cfg, bought=([prompts[0]] * 3, [a[0]] * 3, [b[0]] * 3))
    assert carried[0] < fresh[0]
    assert not np.allclose(carried, fresh)


def test_an_unknown_method_is_an_error_not_random_scoring():
    with pytest.raises(ValueError, match="'shrap'.*random, sharp"):
        AcquisitionConfig(method="shrap")


# ----------------------------------------------------------------------------- the worker


@pytest.fixture
def market(tmp_path):
    engine = db.make_engine(f"sqlite:///{tmp_path / 'market.db'}")
    db.init_db(engine)
    with db.session_scope(engine) as s:
        _, admin_token = accounts.create_account(s, "root", "admin")
        s.commit()
    with TestClient(create_app(engine), raise_server_exceptions=False) as http:
        admin = MarketClient("http://testserver", admin_token, transport=http)
        yield engine, admin.with_token(admin.create_account("req", "requester")["token"])
    engine.dispose()


def _campaign(req, method: str, n: int = 8) -> dict:
    c = req.create_campaign(name="c", budget_cents=5000, max_price_cents=50, rule="second_price",
                            acquisition=method, round_size=4)
    req.upload_items(c["id"], "".join(
        json.dumps({"prompt": f"review film {i}", "completion_a": f"good {i}", "completion_b": f"bad film {i}"}) + "\n"
        for i in range(n)
    ))
    return c


def _worker(req, c, tmp_path) -> PolicyWorker:
    return PolicyWorker(req, WorkerConfig(campaign_id=c["id"], workdir=tmp_path / "w", eval_prompts=["p"]),
                        load_model=tiny_model)


def _posted(req, c) -> dict[int, float]:
    return {it["id"]: it["score"] for it in req.list_items(c["id"])}


def test_by_default_an_ordinal_method_posts_ranks(market, tmp_path):
    _, req = market
    c = _campaign(req, "sharp")
    assert _worker(req, c, tmp_path).step().scored == 8
    np.testing.assert_allclose(sorted(_posted(req, c).values()), np.arange(1, 9) / 8)


def test_by_default_a_cardinal_method_posts_its_scores(market, tmp_path):
    _, req = market
    c = _campaign(req, "adpo")
    w = _worker(req, c, tmp_path)
    w.step()
    posted = _posted(req, c)
    ids = sorted(posted)
    items = {it["id"]: it for it in req.list_items(c["id"])}
    expected = score_pool(w.models, w.cache, [items[i]["prompt"] for i in ids], [items[i]["completion_a"] for i in ids],
                          [items[i]["completion_b"] for i in ids], w._acquisition(req.get_campaign(c["id"])))
    np.testing.assert_allclose([posted[i] for i in ids], expected)


def test_a_campaign_method_outside_the_registry_stops_the_worker(market, tmp_path):
    engine, req = market
    c = _campaign(req, "sharp")
    with Session(engine) as s:  # stored when the market accepted any short name
        s.get(Campaign, c["id"]).acquisition = "shrap"
        s.commit()
    with pytest.raises(ValueError, match="'shrap'.*--acquisition"):
        _worker(req, c, tmp_path).step()
    assert all(score is None for score in _posted(req, c).values())


def test_noise_aware_values_what_is_uncertain_and_answerable():
    """A pool pair like the ones already bought is worth less (its margin is known); an annotator
    at a coin's error makes every label worthless; the worker, knowing no annotator, scores at error 0."""
    rng = np.random.default_rng(4)
    features, margins = rng.normal(size=(30, 6)), 0.1 * rng.normal(size=30)
    cfg = AcquisitionConfig(method="noise_aware", n_select=5)
    fresh = SCORERS["noise_aware"](PoolInputs(30, margins=margins, features=features), cfg, rng)
    first = int(np.argmax(fresh))
    carried = SCORERS["noise_aware"](
        PoolInputs(30, margins=margins, features=features, bought_margins=np.repeat(margins[[first]], 16),
                   bought_features=np.repeat(features[[first]], 16, axis=0)), cfg, rng)
    assert carried[first] < fresh[first] / 2 and int(np.argmax(carried)) != first
    coin = SCORERS["noise_aware"](PoolInputs(30, margins=margins, features=features, error=np.full(30, 0.5)), cfg, rng)
    np.testing.assert_allclose(coin, 0.0, atol=1e-12)
    zero = SCORERS["noise_aware"](PoolInputs(30, margins=margins, features=features, error=np.zeros(30)), cfg, rng)
    np.testing.assert_allclose(zero, fresh)

"""Fixtures for the portal tests: one real API per session, a funded campaign per test."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from market.client import MarketClient
from tests.ui.live import CAMPAIGN, Api, pairs_jsonl, running_api

_campaigns = itertools.count()


@pytest.fixture(scope="session")
def api(tmp_path_factory, database_url_factory) -> Iterator[Api]:
    """One API for the AppTest suite; each test makes its own accounts and campaigns."""
    folder = tmp_path_factory.mktemp("market")
    with running_api(folder, database_url_factory(folder)) as a:
        yield a


@pytest.fixture
def api_env(api, monkeypatch) -> Api:
    """Point the portal (``ui.state``) at the test API."""
    monkeypatch.setenv("PREFMARKET_API_URL", api.url)
    return api


@dataclass
class Market:
    """A funded campaign (rounds of 5 items) with a pool of 10 pairs, its requester and one annotator."""

    requester: MarketClient
    requester_acct: dict
    annotator: MarketClient
    annotator_acct: dict
    campaign: dict


@pytest.fixture
def market(api) -> Market:
    req, req_acct = api.account("requester")
    ann, ann_acct = api.account("annotator")
    camp = req.create_campaign(name=f"films {next(_campaigns)}", **CAMPAIGN)
    req.upload_items(camp["id"], pairs_jsonl(10, tag=f"c{camp['id']}-"))
    return Market(req, req_acct, ann, ann_acct, camp)

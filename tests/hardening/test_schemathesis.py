"""Hostile input: schemathesis fuzzes every operation of /openapi.json; the server never answers 5xx.

In process, through schemathesis' ASGI transport, on this pass's database. The market is
seeded first (two requesters' campaigns with items, an open round with bids, a cleared
round with assignments, a worker, evaluations), and every generated request is sent four
ways: as the owning requester and as an annotator, each with the generated ids and with
the ids pinned to the seeded objects, so the fuzzing reaches the domain code and not just
404s. Bounded: schemathesis' coverage phase (boundary values, wrong types, missing
fields) plus ``MAX_EXAMPLES`` fuzzed examples per operation, no stateful phase; about 30 s
on SQLite and 35 s on Postgres on two cores. On Postgres it found ids above 2**31 - 1
overflowing 32-bit columns (now BIGINT).
"""

from __future__ import annotations

import itertools
import tempfile

import pytest
import schemathesis
from fastapi.testclient import TestClient
from schemathesis.config import SchemathesisConfig

from market import accounts, db
from market.api.app import create_app
from market.client import MarketClient

from .conftest import pairs_jsonl

MAX_EXAMPLES = 12
CONFIG = SchemathesisConfig.from_dict({
    "generation": {"max-examples": MAX_EXAMPLES},
    "phases": {"stateful": {"enabled": False}, "coverage": {"enabled": True}},
})


class SwitchableApp:
    """An ASGI app that forwards to ``target``: the schema is loaded once at import (from an
    app on an in-memory database), and each test run points it at its own seeded market."""

    def __init__(self, target):
        self.target = target

    async def __call__(self, scope, receive, send):
        await self.target(scope, receive, send)


# item uploads are JSONL text (the schema says a string): send them as text
schemathesis.serializer.alias("application/x-ndjson", "text/plain")

_SCHEMA_DIR = tempfile.TemporaryDirectory(prefix="prefmarket-schema-")
APP = SwitchableApp(create_app(db.make_engine(f"sqlite:///{_SCHEMA_DIR.name}/schema.db"), rate_limit="0"))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP, config=CONFIG)
_turn = itertools.count()


@pytest.fixture(scope="module")
def seeded(database_url_factory, tmp_path_factory):
    """A seeded market (its own database for this module): ids and tokens of every kind."""
    engine = db.make_engine(database_url_factory(tmp_path_factory.mktemp("fuzz")))
    db.init_db(engine)
    with db.session_scope(engine) as s:
        _, admin_token = accounts.create_account(s, "root", "admin")
        s.commit()
    app = create_app(engine, rate_limit="0")
    APP.target = app
    with TestClient(app) as http:
        admin = MarketClient("http://testserver", admin_token, transport=http)

        def acct(name, role):
            a = admin.create_account(name, role)
            return admin.with_token(a["token"]), a

        req, _ = acct("req", "requester")
        req2, _ = acct("req2", "requester")
        worker, worker_acct = acct("worker", "worker")
        anns = [acct(f"ann{i}", "annotator") for i in range(3)]
        c1 = req.create_campaign(name="c1", budget_cents=5000, max_price_cents=50, rule="second_price",
                                 round_size=4, worker_id=worker_acct["id"], round_duration_s=3600)
        c2 = req2.create_campaign(name="c2", budget_cents=3000, max_price_cents=40, rule="budget_feasible",
                                  round_size=4)
        for r, c in ((req, c1), (req2, c2)):
            r.upload_items(c["id"], pairs_jsonl(12))
        cleared = req.open_round(c1["id"])
        for i, (ann, _) in enumerate(anns):
            ann.place_bid(cleared["id"], 10 + i, capacity=2)
        req.close_round(cleared["id"])
        open_round = req.open_round(c1["id"])
        anns[0][0].place_bid(open_round["id"], 12, capacity=1)
        assignment = anns[0][0].my_assignments()[0]
        req.post_evaluation(c1["id"], spend_cents=100, win_rate=0.55, ci_low=0.5, ci_high=0.6, n=40)
        ids = {
            "campaign_id": [c1["id"], c2["id"]],
            "round_id": [open_round["id"], cleared["id"]],
            "assignment_id": [assignment["id"]],
            "account_id": [anns[1][1]["id"], worker_acct["id"]],
            "item_id": [it["id"] for it in req.list_items(c1["id"])[:2]],
        }
        tokens = {"requester": req.token, "annotator": anns[0][0].token}
    yield app, ids, tokens
    engine.dispose()


@schema.parametrize()
def test_no_request_makes_the_server_fail(case, seeded):
    from schemathesis.checks import not_a_server_error

    _, ids, tokens = seeded
    turn = next(_turn)
    generated = dict(case.path_parameters or {})
    pinned = {k: (ids[k][turn % len(ids[k])] if k in ids else v) for k, v in generated.items()}
    for role, token in tokens.items():
        for path_parameters in (generated, pinned) if pinned != generated else (generated,):
            case.path_parameters = dict(path_parameters)
            case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=[not_a_server_error])

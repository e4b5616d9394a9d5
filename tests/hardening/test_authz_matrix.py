"""Authorisation matrix: every endpoint × every role × every party's objects.

A seeded market with two requesters (R1 owns campaign C1 and names worker W1; R2 owns C2),
two annotators (A1 won work in C1 and labelled some; A2 only bid), an admin and a second
worker W2. Private data carries markers (a bid's exact ask, a label's idempotency key and
confidence, each campaign's name, budget, prompts and evaluation metrics, a round's
escrowed and paid amounts, every bearer token), and a table says who may see each marker.
Annotators see only the public terms of rounds, so no campaign name, budget or amount
reaches them, not even of the campaign they work in. Then:

1. **reads**: every GET operation of /openapi.json, as every role (and anonymous), with
   every path id bound to each party's objects (and ``campaign_id``/``compare_to`` query
   parameters too): no answer contains a marker its caller may not see;
2. **writes**: every other operation whose path names one of C1's objects (its campaign,
   rounds, A1's assignment, A1's account and token), as every outsider (anonymous, R2, A2, W2):
   refused with a 4xx, nothing in the database changes, and the refusal leaks nothing.

An operation missing from the table below fails the test, so a new route must be placed
in the matrix before it can ship.
"""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlmodel import SQLModel

from market.api.app import create_app
from market.client import MarketClient

# ---- every operation, and a valid body for it (None: no body) ----------------------------
BODIES: dict[tuple[str, str], object] = {
    ("GET", "/v1/health"): None,
    ("POST", "/v1/accounts"): {"name": "mallory", "role": "admin"},
    ("POST", "/v1/accounts/{account_id}/tokens"): None,
    ("GET", "/v1/me"): None,
    ("GET", "/v1/tokens"): None,
    ("DELETE", "/v1/tokens/{token_id}"): None,
    ("POST", "/v1/tokens/{token_id}/rotate"): None,
    ("GET", "/v1/me/earnings"): None,
    ("PUT", "/v1/campaigns/{campaign_id}/gold"): "GOLD",
    ("GET", "/v1/campaigns/{campaign_id}/quality"): None,
    ("GET", "/v1/campaigns/{campaign_id}/flags"): None,
    ("GET", "/v1/flags"): None,
    ("GET", "/v1/campaigns/{campaign_id}/soft-labels"): None,
    ("GET", "/v1/campaigns/{campaign_id}/accounting"): None,
    ("GET", "/v1/campaigns"): None,
    ("POST", "/v1/campaigns"): {"name": "x", "budget_cents": 1000, "max_price_cents": 50, "rule": "second_price"},
    ("GET", "/v1/campaigns/{campaign_id}"): None,
    ("POST", "/v1/campaigns/{campaign_id}/items"): "JSONL",
    ("GET", "/v1/campaigns/{campaign_id}/items"): None,
    ("POST", "/v1/campaigns/{campaign_id}/held-out"): "HELDOUT",
    ("GET", "/v1/campaigns/{campaign_id}/held-out"): None,
    ("PUT", "/v1/campaigns/{campaign_id}/completions"): "COMPLETIONS",
    ("PUT", "/v1/campaigns/{campaign_id}/scores"): "SCORES",
    ("POST", "/v1/campaigns/{campaign_id}/rounds"): {"duration_s": 600},
    ("GET", "/v1/campaigns/{campaign_id}/summary"): None,
    ("GET", "/v1/campaigns/{campaign_id}/export"): None,
    ("GET", "/v1/campaigns/{campaign_id}/ledger"): None,
    ("GET", "/v1/campaigns/{campaign_id}/bids"): None,
    ("POST", "/v1/campaigns/{campaign_id}/evaluations"): {"spend_cents": 1, "win_rate": 0.5, "ci_low": 0.4,
                                                          "ci_high": 0.6, "n": 10},
    ("GET", "/v1/campaigns/{campaign_id}/evaluations"): None,
    ("GET", "/v1/rounds"): None,
    ("GET", "/v1/rounds/{round_id}"): None,
    ("POST", "/v1/rounds/{round_id}/close"): None,
    ("POST", "/v1/rounds/{round_id}/settle"): None,
    ("PUT", "/v1/rounds/{round_id}/bid"): {"ask_cents": 11, "capacity": 1},
    ("DELETE", "/v1/rounds/{round_id}/bid"): None,
    ("GET", "/v1/rounds/{round_id}/bid"): None,
    ("GET", "/v1/assignments"): None,
    ("POST", "/v1/assignments/{assignment_id}/label"): {"choice": "b", "idempotency_key": "outsider"},
}
# operations an outsider of that role may legitimately perform on C1's objects
LEGITIMATE = {("A2", "PUT", "/v1/rounds/{round_id}/bid"), ("A2", "DELETE", "/v1/rounds/{round_id}/bid")}
ROLES = ("anon", "admin", "R1", "R2", "W1", "W2", "A1", "A2")
OUTSIDERS = ("anon", "R2", "A2", "W2")
ASK_A1_OPEN, ASK_A1_CLOSED, ASK_A2_OPEN = 4243, 4171, 4099
BUDGET_C1, BUDGET_C2 = 90017, 90029
ESCROW_C1 = 3 * ASK_A1_CLOSED  # first price: A1's three units at its ask


@pytest.fixture
def world(engine, admin_token):
    app = create_app(engine, rate_limit="0")
    http = TestClient(app, raise_server_exceptions=False)
    http.__enter__()
    admin = MarketClient("http://testserver", admin_token, transport=http)

    def acct(name, role):
        a = admin.create_account(name, role)
        return admin.with_token(a["token"]), a

    r1, r1_acct = acct("r1", "requester")
    r2, _ = acct("r2", "requester")
    w1, w1_acct = acct("w1", "worker")
    w2, _ = acct("w2", "worker")
    a1, a1_acct = acct("a1", "annotator")
    a2, _ = acct("a2", "annotator")
    c1 = r1.create_campaign(name="SECRET-NAME-C1", budget_cents=BUDGET_C1, max_price_cents=5000, rule="first_price", round_size=3,
                            worker_id=w1_acct["id"], round_duration_s=3600, label_duration_s=3600)
    c2 = r2.create_campaign(name="SECRET-NAME-C2", budget_cents=BUDGET_C2, max_price_cents=5000, rule="first_price", round_size=3,
                            round_duration_s=3600)
    for r, c, tag in ((r1, c1, "C1"), (r2, c2, "C2")):
        r.upload_items(c["id"], "".join(
            json.dumps({"prompt": f"SECRET-PROMPT-{tag} {i}", "completion_a": f"a {i}", "completion_b": f"b {i}"}) + "\n"
            for i in range(9)))
        r.upload_held_out(c["id"], json.dumps({"prompt": f"SECRET-HELDOUT-{tag}", "chosen": "c", "rejected": "r"}) + "\n")
        r.post_evaluation(c["id"], spend_cents=0, win_rate=0.5, ci_low=0.4, ci_high=0.6, n=10,
                          metrics={"note": f"SECRET-EVAL-{tag}"})
    closed = r1.open_round(c1["id"])
    a1.place_bid(closed["id"], ASK_A1_CLOSED, capacity=3)
    r1.close_round(closed["id"])
    mine = a1.my_assignments(state="open")
    assert len(mine) == 3
    a1.submit_label(mine[0]["id"], "a", confidence=0.4321, key="SECRET-KEY-A1")
    open1 = r1.open_round(c1["id"])
    a1.place_bid(open1["id"], ASK_A1_OPEN, capacity=1)
    a2.place_bid(open1["id"], ASK_A2_OPEN, capacity=1)
    open2 = r2.open_round(c2["id"])
    c1_item = r1.list_items(c1["id"])[0]["id"]
    tokens = {"anon": None, "admin": admin_token, "R1": r1.token, "R2": r2.token, "W1": w1.token, "W2": w2.token,
              "A1": a1.token, "A2": a2.token}
    # who may see each marker
    visible = {
        f'"ask_cents":{ASK_A1_OPEN}': {"A1"},
        f'"ask_cents":{ASK_A1_CLOSED}': {"A1", "R1"},
        f'"ask_cents":{ASK_A2_OPEN}': {"A2"},
        "SECRET-KEY-A1": {"A1"},
        "0.4321": {"A1", "R1", "W1", "admin"},
        "SECRET-PROMPT-C1": {"R1", "W1", "admin", "A1"},  # A1 sees the items it was assigned
        "SECRET-PROMPT-C2": {"R2", "admin"},
        "SECRET-HELDOUT-C1": {"R1", "W1", "admin"},  # never an annotator, not even A1
        "SECRET-HELDOUT-C2": {"R2", "admin"},
        "SECRET-EVAL-C1": {"R1", "W1", "admin"},
        "SECRET-EVAL-C2": {"R2", "admin"},
        "SECRET-NAME-C1": {"R1", "W1", "admin"},  # not A1, who works in C1 but sees rounds' terms only
        "SECRET-NAME-C2": {"R2", "admin"},
        f'"budget_cents":{BUDGET_C1}': {"R1", "W1", "admin"},
        f'"budget_cents":{BUDGET_C2}': {"R2", "admin"},
        f'"escrowed_cents":{ESCROW_C1}': {"R1", "W1", "admin"},
        f'"paid_cents":{ASK_A1_CLOSED}': {"R1", "W1", "admin", "A1"},  # A1 sees what its own label was paid
    }
    for role, tok in tokens.items():
        if tok:
            visible[tok] = set()  # a bearer token is never shown again
    ids = {
        "campaign_id": {"C1": c1["id"], "C2": c2["id"]},
        "round_id": {"C1-closed": closed["id"], "C1-open": open1["id"], "C2-open": open2["id"]},
        "assignment_id": {"A1-done": mine[0]["id"], "A1-open": mine[1]["id"]},
        "account_id": {"A1": a1_acct["id"], "R1": r1_acct["id"]},
        "token_id": {"A1": a1.list_tokens()[0]["id"], "R1": r1.list_tokens()[0]["id"]},
        "compare_to": {"C1": c1["id"], "C2": c2["id"]},
    }
    bodies = {
        "GOLD": {"items": [{"item_id": c1_item, "answer": "a"}]},
        "JSONL": '{"prompt": "p", "completion_a": "x", "completion_b": "y"}\n',
        "HELDOUT": '{"prompt": "p", "chosen": "x", "rejected": "y"}\n',
        "COMPLETIONS": {"completions": [{"item_id": c1_item, "completion_a": "x", "completion_b": "y"}]},
        "SCORES": {"scores": [{"item_id": c1_item, "score": 0.5}]},
    }
    yield app, http, tokens, visible, ids, bodies
    http.__exit__(None, None, None)


def _operations(app) -> list[tuple[str, str, dict]]:
    ops = []
    for path, methods in app.openapi()["paths"].items():
        for method, op in methods.items():
            ops.append((method.upper(), path, op))
    return ops


def _bindings(path: str, op: dict, ids: dict) -> list[tuple[str, dict, dict]]:
    """(label, path params, query params) for each combination of the parties' objects."""
    path_names = re.findall(r"{(\w+)}", path)
    query_names = [p["name"] for p in op.get("parameters", []) if p["in"] == "query" and p["name"] in
                   ("campaign_id", "compare_to", "account_id")]
    combos: list[tuple[str, dict, dict]] = [("", {}, {})]
    for name in path_names + query_names:
        assert name in ids, f"{path}: no objects to bind {name!r} to; add them to the matrix"
        combos = [(f"{lab} {name}={key}", {**pp, name: v} if name in path_names else pp,
                   {**qp, name: v} if name not in path_names else qp)
                  for lab, pp, qp in combos for key, v in ids[name].items()]
    extra = {p["name"] for p in op.get("parameters", []) if p["in"] == "query"}
    for _, _, qp in combos:
        if "include_ties" in extra:
            qp["include_ties"] = "true"
    return combos


def _send(http, method, path, pp, qp, token, body, bodies):
    url = path.format(**pp)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = bodies.get(body, body) if isinstance(body, str) else body
    if isinstance(body, str):
        return http.request(method, url, params=qp, headers={**headers, "Content-Type": "application/x-ndjson"},
                            content=body)
    return http.request(method, url, params=qp, headers=headers, json=body)


def _leaks(text: str, role: str, visible: dict) -> list[str]:
    compact = text.replace('": ', '":')
    return [marker for marker, who in visible.items() if marker in compact and role not in who]


def test_every_operation_is_in_the_matrix(world):
    app = world[0]
    missing = [f"{m} {p}" for m, p, _ in _operations(app) if (m, p) not in BODIES]
    assert not missing, f"operations missing from the authorisation matrix: {missing}"


def test_no_role_reads_another_partys_bids_labels_or_campaigns(world):
    app, http, tokens, visible, ids, bodies = world
    checked, leaks = 0, []
    for method, path, op in _operations(app):
        if method != "GET":
            continue
        for label, pp, qp in _bindings(path, op, ids):
            for role in ROLES:
                r = _send(http, method, path, pp, qp, tokens[role], None, bodies)
                assert r.status_code < 500, (role, method, path, label, r.status_code, r.text)
                for marker in _leaks(r.text, role, visible):
                    leaks.append(f"{role} {method} {path}{label} ({r.status_code}) shows {marker!r}")
                checked += 1
    assert not leaks, "\n".join(leaks)
    assert checked > 200
    # and the matrix is not vacuous: the parties do see their own data
    own = {
        ("A1", "/v1/rounds/{round_id}/bid", "C1-open"): f'"ask_cents":{ASK_A1_OPEN}',
        ("R1", "/v1/campaigns/{campaign_id}/bids", "C1"): f'"ask_cents":{ASK_A1_CLOSED}',
        ("A1", "/v1/assignments", None): "SECRET-KEY-A1",
        ("R1", "/v1/campaigns/{campaign_id}/export", "C1"): "0.4321",
        ("W1", "/v1/campaigns/{campaign_id}/items", "C1"): "SECRET-PROMPT-C1",
        ("W1", "/v1/campaigns/{campaign_id}/held-out", "C1"): "SECRET-HELDOUT-C1",
        ("R2", "/v1/campaigns/{campaign_id}/evaluations", "C2"): "SECRET-EVAL-C2",
        ("R1", "/v1/rounds/{round_id}", "C1-closed"): f'"escrowed_cents":{ESCROW_C1}',
        ("W1", "/v1/rounds/{round_id}", "C1-closed"): "SECRET-NAME-C1",
        ("R2", "/v1/campaigns/{campaign_id}", "C2"): f'"budget_cents":{BUDGET_C2}',
        ("A2", "/v1/rounds/{round_id}", "C1-open"): '"max_price_cents":5000',  # the terms it bids on
    }
    for (role, path, key), marker in own.items():
        pp = {}
        for name in re.findall(r"{(\w+)}", path):
            pp[name] = ids[name][key]
        r = _send(http, "GET", path, pp, {}, tokens[role], None, bodies)
        assert r.status_code == 200 and marker in r.text.replace('": ', '":'), (role, path, r.status_code, r.text)


def _snapshot(engine):
    with engine.connect() as conn:
        return {t.name: sorted(map(repr, conn.execute(select(t)).all())) for t in SQLModel.metadata.sorted_tables}


def test_outsiders_change_nothing_of_another_partys(world, engine):
    app, http, tokens, visible, ids, bodies = world
    c1_objects = {"campaign_id": ["C1"], "round_id": ["C1-closed", "C1-open"], "assignment_id": ["A1-done", "A1-open"],
                  "account_id": ["A1"], "token_id": ["A1"]}
    refused = 0
    for method, path, op in _operations(app):
        names = re.findall(r"{(\w+)}", path)
        if method == "GET" or not names:
            continue
        for role in OUTSIDERS:
            if (role, method, path) in LEGITIMATE:
                continue
            for key in c1_objects[names[0]]:
                pp = {names[0]: ids[names[0]][key]}
                before = _snapshot(engine)
                r = _send(http, method, path, pp, {}, tokens[role], BODIES[(method, path)], bodies)
                assert 400 <= r.status_code < 500, (role, method, path, key, r.status_code, r.text)
                assert _snapshot(engine) == before, f"{role} {method} {path} ({key}) changed the database"
                assert not _leaks(r.text, role, visible), (role, method, path, r.text)
                refused += 1
    assert refused > 40

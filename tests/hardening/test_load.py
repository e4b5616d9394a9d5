"""64 annotator clients bid and label over HTTP, for several rounds, against 2 uvicorn workers.

A real ``prefmarket serve --workers 2`` subprocess on loopback, on this pass's database
(SQLite file, or Postgres when DATABASE_URL names one). Two requesters run a campaign
each; one of them keeps two rounds open at once, so two clearings race for one budget.
The annotators, all at once, place bids, replace some, withdraw and re-place others, list
rounds, then label what they won (some send the same label twice at once, with one key;
some let assignments lapse), while the requesters close and settle.

Afterwards: no 5xx; every bid the server accepted (and did not see withdrawn) is in the
database with the accepted ask and capacity, and in the owner's bid export; every label
answered 201 is stored once, paid once, and in the export; no assignment is paid twice;
no campaign spent more than its budget; the ledger balances (``audit``). The whole run
is bounded: fixed counts, a per-request timeout and an overall deadline.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter

import httpx
from sqlmodel import Session, select

from market.client import MarketClient
from market.tables import Bid, Label, LedgerEntry

from .audit import audit
from .conftest import pairs_jsonl

N_ANNOTATORS = 64
N_ROUNDS = 2
DEADLINE_S = 150.0
REQUEST_TIMEOUT_S = 30.0


class Recorder:
    def __init__(self):
        self.statuses: Counter = Counter()
        self.server_errors: list[str] = []
        self.latencies: list[float] = []

    async def call(self, http: httpx.AsyncClient, method: str, path: str, token: str, **kw) -> httpx.Response:
        t0 = time.perf_counter()
        resp = await http.request(method, f"/v1{path}", headers={"Authorization": f"Bearer {token}"}, **kw)
        self.latencies.append(time.perf_counter() - t0)
        self.statuses[resp.status_code] += 1
        if resp.status_code >= 500:
            self.server_errors.append(f"{method} {path} -> {resp.status_code} {resp.text[:200]}")
        return resp


async def _annotator_bids(rec, http, token, rng, round_ids, accepted, withdrawn):
    """Bid on every open round; replace or withdraw-and-replace some bids. Records what stuck."""
    for rid in round_ids:
        ask, cap = rng.randint(5, 60), rng.randint(1, 4)
        r = await rec.call(http, "PUT", f"/rounds/{rid}/bid", token, json={"ask_cents": ask, "capacity": cap})
        if r.status_code == 200:
            accepted[(rid, token)] = (ask, cap)
        move = rng.random()
        if move < 0.3:  # replace
            ask, cap = rng.randint(5, 60), rng.randint(1, 4)
            r = await rec.call(http, "PUT", f"/rounds/{rid}/bid", token, json={"ask_cents": ask, "capacity": cap})
            if r.status_code == 200:
                accepted[(rid, token)] = (ask, cap)
        elif move < 0.4:  # withdraw, and sometimes come back
            r = await rec.call(http, "DELETE", f"/rounds/{rid}/bid", token)
            if r.status_code == 204:
                accepted.pop((rid, token), None)
                withdrawn.add((rid, token))
            if rng.random() < 0.5:
                ask = rng.randint(5, 60)
                r = await rec.call(http, "PUT", f"/rounds/{rid}/bid", token, json={"ask_cents": ask, "capacity": 1})
                if r.status_code == 200:
                    accepted[(rid, token)] = (ask, 1)
                    withdrawn.discard((rid, token))
    await rec.call(http, "GET", "/rounds?state=open", token)


async def _annotator_labels(rec, http, token, rng, created, replays):
    """Label open assignments (skip some); now and then send one label twice at once with one key."""
    r = await rec.call(http, "GET", "/assignments?state=open", token)
    assert r.status_code == 200, r.text
    for a in r.json():
        if rng.random() < 0.15:
            continue  # let it lapse: released at settlement
        choice = rng.choice("ab")
        body = {"choice": choice, "idempotency_key": f"k-{a['id']}"}
        sends = 2 if rng.random() < 0.25 else 1
        resps = await asyncio.gather(*[
            rec.call(http, "POST", f"/assignments/{a['id']}/label", token, json=body) for _ in range(sends)])
        codes = sorted(x.status_code for x in resps)
        assert codes.count(201) == 1, (a["id"], codes, [x.text for x in resps])
        assert all(c in (200, 201, 409) for c in codes), (a["id"], codes, [x.text for x in resps])
        for x in resps:
            if x.status_code == 201:
                created[a["id"]] = (x.json()["id"], choice, a["price_cents"])
            elif x.status_code == 200:
                replays.append(x.json()["id"])


async def _run(url: str, admin_token: str, seed: int = 0) -> dict:
    rng = random.Random(seed)
    rec = Recorder()
    limits = httpx.Limits(max_connections=N_ANNOTATORS + 8, max_keepalive_connections=N_ANNOTATORS + 8)
    async with httpx.AsyncClient(base_url=url, timeout=REQUEST_TIMEOUT_S, limits=limits) as http:
        admin = MarketClient(url, admin_token)
        reqs = [admin.with_token(admin.create_account(f"req{i}", "requester")["token"]) for i in range(2)]
        tokens = [admin.create_account(f"ann{i}", "annotator")["token"] for i in range(N_ANNOTATORS)]
        camps = [
            reqs[0].create_campaign(name="bf", budget_cents=2500, max_price_cents=60, rule="budget_feasible",
                                    labels_per_item=2, round_size=20, round_duration_s=600, label_duration_s=600),
            reqs[1].create_campaign(name="fp", budget_cents=1800, max_price_cents=60, rule="first_price",
                                    labels_per_item=1, round_size=25, round_duration_s=600, label_duration_s=600),
        ]
        for req, c in zip(reqs, camps, strict=True):
            req.upload_items(c["id"], pairs_jsonl(120))
        accepted: dict = {}
        withdrawn: set = set()
        created: dict = {}
        replays: list = []
        all_rounds: list[tuple[MarketClient, int]] = []
        for rnd_no in range(N_ROUNDS):
            opened = []
            # campaign 0 keeps two rounds open at once: their clearings race for one budget
            for req, c, n in ((reqs[0], camps[0], 2), (reqs[1], camps[1], 1)):
                for _ in range(n):
                    try:
                        opened.append((req, req.open_round(c["id"])["id"]))
                    except Exception:  # noqa: BLE001 - 409: budget or items used up
                        pass
            if not opened:
                break
            rids = [rid for _, rid in opened]
            rngs = [random.Random(rng.random()) for _ in tokens]
            await asyncio.gather(*[_annotator_bids(rec, http, t, g, rids, accepted, withdrawn)
                                   for t, g in zip(tokens, rngs, strict=True)])
            # the requesters close every open round at once (two of them of one campaign)
            closes = await asyncio.gather(*[rec.call(http, "POST", f"/rounds/{rid}/close", req.token)
                                            for req, rid in opened])
            assert all(r.status_code == 200 for r in closes), [r.text for r in closes]
            await asyncio.gather(*[_annotator_labels(rec, http, t, g, created, replays)
                                   for t, g in zip(tokens, rngs, strict=True)])
            settles = await asyncio.gather(*[rec.call(http, "POST", f"/rounds/{rid}/settle", req.token)
                                             for req, rid in opened])
            assert all(r.status_code == 200 for r in settles), [r.text for r in settles]
            all_rounds += opened
        exports = {c["id"]: req.export_labels(c["id"], include_ties=True) for req, c in zip(reqs, camps, strict=True)}
        bid_exports = {c["id"]: req.campaign_bids(c["id"]) for req, c in zip(reqs, camps, strict=True)}
        me = {t: admin.with_token(t).me()["id"] for t in tokens}
        admin.close()
    return dict(rec=rec, accepted=accepted, withdrawn=withdrawn, created=created, replays=replays,
                rounds=all_rounds, camps=camps, exports=exports, bid_exports=bid_exports, me=me)


def test_64_annotators_over_http_against_two_workers(engine, admin_token, server_factory):
    srv = server_factory(workers=2)
    t0 = time.monotonic()
    out = asyncio.run(asyncio.wait_for(_run(srv.url, admin_token), DEADLINE_S))
    elapsed = time.monotonic() - t0
    rec: Recorder = out["rec"]
    assert not rec.server_errors, rec.server_errors[:5]
    assert len(out["rounds"]) >= 2 * N_ROUNDS, "too few rounds ran to mean anything"
    assert out["created"], "nobody labelled anything"

    me = out["me"]
    with Session(engine) as s:
        # every bid the server accepted (and did not see withdrawn) is there, as accepted
        for (rid, token), (ask, cap) in out["accepted"].items():
            b = s.exec(select(Bid).where(Bid.round_id == rid, Bid.annotator_id == me[token])).first()
            assert b is not None, f"accepted bid of {me[token]} on round {rid} is missing"
            assert (b.ask_cents, b.capacity) == (ask, cap), f"round {rid} annotator {me[token]}"
        for rid, token in out["withdrawn"]:
            assert s.exec(select(Bid).where(Bid.round_id == rid, Bid.annotator_id == me[token])).first() is None
        n_bids = len(s.exec(select(Bid)).all())
        assert n_bids == len(out["accepted"]), "the database holds bids nobody placed"
        # every label answered 201 is stored once and paid once, for its assignment's price
        labels = {lab.assignment_id: lab for lab in s.exec(select(Label)).all()}
        assert set(labels) == set(out["created"]), "labels stored and labels acknowledged differ"
        pays = Counter(e.assignment_id for e in s.exec(select(LedgerEntry).where(LedgerEntry.reason == "pay")).all())
        for aid, (label_id, choice, price) in out["created"].items():
            assert labels[aid].id == label_id and labels[aid].choice == choice
            assert pays[aid] == 1, f"assignment {aid} paid {pays[aid]} times"
        assert sum(pays.values()) == len(out["created"])
        assert set(out["replays"]) <= {lab.id for lab in labels.values()}
    exported = {row["label_id"] for rows in out["exports"].values() for row in rows}
    assert exported == {v[0] for v in out["created"].values()}, "the export and the acknowledged labels differ"
    exported_bids = {(row["round_id"], row["annotator_id"]) for rows in out["bid_exports"].values() for row in rows}
    assert exported_bids == {(rid, me[t]) for rid, t in out["accepted"]}

    summary = audit(engine)  # books balance, no overspend, nothing settled twice, rounds all-or-nothing
    assert summary["rounds"]["settled"] == len(out["rounds"])
    with Session(engine) as s:
        from market import ledger

        for c in out["camps"]:
            b = ledger.books(s, c["id"])
            assert b.paid_cents + b.escrowed_cents <= c["budget_cents"], f"campaign {c['id']} overspent: {b}"
    lat = sorted(rec.latencies)
    print(f"\nload: {sum(rec.statuses.values())} requests in {elapsed:.1f} s, statuses {dict(rec.statuses)}, "
          f"p50 {1000 * lat[len(lat) // 2]:.0f} ms, p95 {1000 * lat[int(len(lat) * 0.95)]:.0f} ms, "
          f"{len(out['created'])} labels, {len(out['rounds'])} rounds, paid {summary['paid_cents']} cents")
    assert elapsed < DEADLINE_S

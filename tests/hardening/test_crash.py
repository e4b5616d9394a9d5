"""Crash recovery: SIGKILL the server mid-clearing, mid-payment and mid-settlement.

A real ``prefmarket serve --workers 2`` subprocess runs with ``PREFMARKET_FAULT_DIR``
set (see ``market.faults``): arming a point makes the request that reaches it pause with
its transaction open and its writes flushed. The test waits until the pause is reached,
kills the whole server (supervisor and workers) with SIGKILL, restarts it, and checks
that the work is wholly done or wholly undone, and that every cent is where the ledger
says (``audit``: ``check_campaign`` plus per-round and per-assignment postings).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from sqlmodel import Session, select

from market import ledger
from market.client import MarketClient, MarketError
from market.tables import Assignment, Campaign, Label, LedgerEntry, Round

from .audit import audit
from .conftest import Server, pairs_jsonl

CRASH_TIMEOUT_S = 30


def crash_at(server: Server, faults: Path, point: str, request) -> None:
    """Arm ``point``, send ``request`` in a thread, SIGKILL the server once it pauses there."""
    (faults / f"{point}.arm").touch()
    outcome: list = []

    def call():
        try:
            outcome.append(("ok", request()))
        except MarketError as exc:
            outcome.append(("error", exc))

    t = threading.Thread(target=call, daemon=True)
    t.start()
    reached = faults / f"{point}.reached"
    deadline = time.monotonic() + CRASH_TIMEOUT_S
    while not reached.exists():
        assert time.monotonic() < deadline, f"the server never reached {point}:\n{server.log()}"
        assert not outcome, f"the request finished without reaching {point}: {outcome}"
        time.sleep(0.02)
    server.kill()  # SIGKILL to the supervisor and every worker, mid-transaction
    t.join(timeout=CRASH_TIMEOUT_S)
    reached.unlink()
    assert outcome and outcome[0][0] == "error" and outcome[0][1].status == 0, \
        f"the client should have lost its connection: {outcome}"


def books(engine, campaign_id: int) -> dict:
    with Session(engine) as s:
        return ledger.books(s, campaign_id).as_dict()


def round_row(engine, round_id: int) -> Round:
    with Session(engine) as s:
        return s.get(Round, round_id)


def test_sigkill_mid_transaction_loses_and_duplicates_nothing(engine, admin_token, server_factory, tmp_path):
    faults = tmp_path / "faults"
    faults.mkdir()
    srv = server_factory(workers=2, env={"PREFMARKET_FAULT_DIR": str(faults)})
    admin = MarketClient(srv.url, admin_token)
    req = admin.with_token(admin.create_account("req", "requester")["token"])
    anns = [admin.with_token(admin.create_account(f"ann{i}", "annotator")["token"]) for i in range(6)]
    c = req.create_campaign(name="crash", budget_cents=600, max_price_cents=40, rule="budget_feasible",
                            labels_per_item=1, round_size=8, round_duration_s=600, label_duration_s=600)
    req.upload_items(c["id"], pairs_jsonl(16))
    r1 = req.open_round(c["id"])
    for i, ann in enumerate(anns):
        ann.place_bid(r1["id"], 5 + 3 * i, capacity=2)
    audit(engine)
    funded = books(engine, c["id"])

    # 1. killed inside the clearing transaction: the round is still open, no cent moved
    crash_at(srv, faults, "clear", lambda: req.close_round(r1["id"]))
    audit(engine)
    assert round_row(engine, r1["id"]).state == "open"
    assert books(engine, c["id"]) == funded
    srv.start()
    cleared = req.close_round(r1["id"])  # the restarted market clears it, once
    assert cleared["state"] == "cleared" and cleared["n_assignments"] > 0
    audit(engine)
    assert books(engine, c["id"])["escrowed_cents"] == cleared["escrowed_cents"] > 0

    # 2. killed inside a label's transaction (label and payment written, not committed)
    ann = next(a for a in anns if a.my_assignments(state="open"))
    first = ann.my_assignments(state="open")[0]
    crash_at(srv, faults, "label", lambda: ann.submit_label(first["id"], "a", key="once"))
    audit(engine)
    with Session(engine) as s:
        assert s.exec(select(Label).where(Label.assignment_id == first["id"])).first() is None
        assert s.get(Assignment, first["id"]).state == "open"
    srv.start()
    lab = ann.submit_label(first["id"], "a", key="once")  # the retry is a first submission
    assert lab["replayed"] is False and lab["paid_cents"] == first["price_cents"]
    again = ann.submit_label(first["id"], "a", key="once")
    assert again["replayed"] is True and again["id"] == lab["id"]
    audit(engine)
    with Session(engine) as s:
        pays = s.exec(select(LedgerEntry).where(LedgerEntry.assignment_id == first["id"],
                                                LedgerEntry.reason == "pay")).all()
        assert len(pays) == 1 and pays[0].cents == first["price_cents"]

    # a few more labels, so settlement has both done and open assignments to deal with
    labelled = 1
    for a_client in anns:
        for a in a_client.my_assignments(state="open")[:1]:
            a_client.submit_label(a["id"], "b")
            labelled += 1
    open_left = [a for a_client in anns for a in a_client.my_assignments(state="open")]
    assert open_left, "settlement needs open assignments to release"
    before_settle = books(engine, c["id"])

    # 3. killed inside the settlement transaction: nothing released, the round still active
    crash_at(srv, faults, "settle", lambda: req.settle_round(r1["id"]))
    audit(engine)
    assert round_row(engine, r1["id"]).state in ("cleared", "labeling")
    assert books(engine, c["id"]) == before_settle
    srv.start()
    settled = req.settle_round(r1["id"])
    assert settled["state"] == "settled"
    assert settled["released_cents"] == sum(a["price_cents"] for a in open_left)
    audit(engine)
    after = books(engine, c["id"])
    assert after["escrowed_cents"] == 0 and after["n_payments"] == labelled
    assert after["available_cents"] + after["paid_cents"] == funded["funded_cents"]

    # 4. killed just after the clearing committed: the round is cleared, exactly once
    r2 = req.open_round(c["id"])
    for i, a_client in enumerate(anns):
        a_client.place_bid(r2["id"], 6 + 2 * i, capacity=1)
    crash_at(srv, faults, "clear.committed", lambda: req.close_round(r2["id"]))
    audit(engine)
    r2_row = round_row(engine, r2["id"])
    assert r2_row.state == "cleared" and r2_row.escrowed_cents > 0
    srv.start()
    try:
        req.close_round(r2["id"])
        raise AssertionError("a cleared round closed twice")
    except MarketError as exc:
        assert exc.status == 409
    summary = audit(engine)
    assert summary["rounds"]["settled"] == 1 and summary["rounds"]["cleared"] == 1
    with Session(engine) as s:
        assert s.get(Campaign, c["id"]).budget_cents == funded["funded_cents"]

"""Money under concurrency: threads hitting the same assignment, round and budget.

These run the domain code on real threads and a real SQLite file (BEGIN IMMEDIATE
serialises them); the same code takes FOR UPDATE row locks on Postgres.
"""

from __future__ import annotations

import threading

from sqlmodel import Session, select

from market import accounts, campaign, label, ledger
from market import round as rounds
from market.errors import MarketProblem
from market.tables import Assignment, Campaign, Item, LedgerEntry


def _setup(engine, n_items=4, budget=1000):
    with Session(engine, expire_on_commit=False) as s:
        req, _ = accounts.create_account(s, "r", "requester")
        anns = [accounts.create_account(s, f"a{i}", "annotator")[0] for i in range(4)]
        c = campaign.create_campaign(s, req, name="c", budget_cents=budget, max_price_cents=50, rule="first_price",
                                     round_size=n_items)
        for i in range(n_items):
            s.add(Item(campaign_id=c.id, position=i, prompt=f"p{i}", completion_a="a", completion_b="b"))
        s.commit()
        return req, anns, c


def _race(n, fn):
    barrier = threading.Barrier(n)
    results = [None] * n

    def run(i):
        barrier.wait()
        try:
            results[i] = ("ok", fn(i))
        except MarketProblem as exc:
            results[i] = (type(exc).__name__, exc.detail)
        except Exception as exc:  # noqa: BLE001 - surfaced in the assertion
            results[i] = ("error", repr(exc))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_concurrent_labels_pay_exactly_once(engine):
    from market import bid

    req, anns, c = _setup(engine)
    with Session(engine, expire_on_commit=False) as s:
        r = rounds.open_round(s, req, c.id)
        bid.place_bid(s, anns[0], r.id, 10, 4)
        s.commit()
        rounds.close_round(s, req, r.id)
        s.commit()
        a_id = s.exec(select(Assignment.id).where(Assignment.annotator_id == anns[0].id)).first()

    def submit(i):
        with Session(engine, expire_on_commit=False) as s:
            lab, created = label.submit_label(s, anns[0], a_id, "a", key=f"k{i}" if i % 2 else None)
            s.commit()
            return lab.id

    results = _race(8, submit)
    oks = [r for r in results if r[0] == "ok"]
    assert len(oks) == 1, results
    assert all(r[0] == "Conflict" for r in results if r[0] != "ok"), results
    with Session(engine) as s:
        pays = s.exec(select(LedgerEntry).where(LedgerEntry.reason == "pay")).all()
        assert len(pays) == 1 and pays[0].cents == 10
        ledger.check_campaign(s, s.get(Campaign, c.id))


def test_concurrent_close_clears_once(engine):
    from market import bid

    req, anns, c = _setup(engine)
    with Session(engine, expire_on_commit=False) as s:
        r = rounds.open_round(s, req, c.id)
        for a in anns:
            bid.place_bid(s, a, r.id, 10, 1)
        s.commit()

    def close(_):
        with Session(engine, expire_on_commit=False) as s:
            out = rounds.close_round(s, req, r.id)
            s.commit()
            return out.n_assignments

    results = _race(6, close)
    assert [x[0] for x in results].count("ok") == 1, results
    with Session(engine) as s:
        assert len(s.exec(select(Assignment)).all()) == 4
        assert ledger.books(s, c.id).escrowed_cents == 40


def test_concurrent_rounds_cannot_overspend(engine):
    from market import bid

    req, anns, c = _setup(engine, n_items=8, budget=60)
    rids = []
    with Session(engine, expire_on_commit=False) as s:
        for _ in range(4):
            c2 = s.get(Campaign, c.id)
            c2.round_size = 2
            s.commit()
            r = rounds.open_round(s, req, c.id)
            for a in anns:
                bid.place_bid(s, a, r.id, 15, 2)
            s.commit()
            rids.append(r.id)

    def close(i):
        with Session(engine, expire_on_commit=False) as s:
            out = rounds.close_round(s, req, rids[i])
            s.commit()
            return out.escrowed_cents

    results = _race(4, close)
    assert all(r[0] == "ok" for r in results), results
    assert sum(r[1] for r in results) == 60  # four rounds wanted 120 between them
    with Session(engine) as s:
        b = ledger.check_campaign(s, s.get(Campaign, c.id))
        assert b.available_cents == 0 and b.escrowed_cents == 60

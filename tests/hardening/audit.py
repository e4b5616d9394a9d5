"""Re-derive the market's money from the database and check every invariant at once.

Used after load and after crashes: ``audit(engine)`` raises AssertionError naming the
first breach, else returns a small summary. It checks, for every campaign:

- ``market.ledger.check_campaign`` (funded = budget, books balance, no account negative,
  every payment traceable to an accepted label of its assignment, nothing settled twice);
- every round is wholly cleared or not at all: an open round has no assignments and no
  ledger entries; a closed one has exactly one escrow posting per assignment, for its
  price, and its escrowed/paid/released counters equal its postings;
- every assignment is in one consistent state: open (escrowed only), done (one label,
  one payment, no release) or released (one release, no payment);
- items' open-assignment counters match their open assignments;
- each annotator's ledger balance equals the prices of its done assignments, and the
  market as a whole took in exactly the campaigns' budgets.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from sqlalchemy import func
from sqlmodel import Session, select

from market import ledger
from market.tables import Assignment, Campaign, Item, Label, LedgerEntry, Round


def audit(engine, campaign_ids: list[int] | None = None) -> dict:
    with Session(engine) as s:
        campaigns = s.exec(select(Campaign).order_by(Campaign.id)).all()
        if campaign_ids is not None:
            campaigns = [c for c in campaigns if c.id in set(campaign_ids)]
        entries = s.exec(select(LedgerEntry)).all()
        by_assignment: dict[int, Counter] = defaultdict(Counter)
        cents_by_assignment: dict[tuple[int, str], int] = {}
        for e in entries:
            if e.assignment_id is not None:
                by_assignment[e.assignment_id][e.reason] += 1
                cents_by_assignment[(e.assignment_id, e.reason)] = e.cents
        labels = Counter(lab.assignment_id for lab in s.exec(select(Label)).all())
        summary = {"campaigns": 0, "rounds": Counter(), "assignments": Counter(), "paid_cents": 0}
        for c in campaigns:
            books = ledger.check_campaign(s, c)  # raises LedgerViolation on a breach
            summary["campaigns"] += 1
            summary["paid_cents"] += books.paid_cents
            for r in s.exec(select(Round).where(Round.campaign_id == c.id)).all():
                summary["rounds"][r.state] += 1
                assigns = s.exec(select(Assignment).where(Assignment.round_id == r.id)).all()
                round_entries = [e for e in entries if e.round_id == r.id]
                if r.state == "open":
                    assert not assigns and not round_entries, f"open round {r.id} has assignments or postings"
                    assert r.escrowed_cents == r.paid_cents == r.released_cents == 0, f"open round {r.id} moved money"
                    continue
                assert r.n_assignments == len(assigns), f"round {r.id}: n_assignments {r.n_assignments} != {len(assigns)}"
                sums = Counter()
                for e in round_entries:
                    sums[e.reason] += e.cents
                assert r.escrowed_cents == sums["escrow"], f"round {r.id}: escrowed {r.escrowed_cents} != {sums['escrow']}"
                assert r.paid_cents == sums["pay"], f"round {r.id}: paid {r.paid_cents} != {sums['pay']}"
                assert r.released_cents == sums["release"], f"round {r.id}: released {r.released_cents} != {sums['release']}"
                for a in assigns:
                    summary["assignments"][a.state] += 1
                    seen = by_assignment[a.id]
                    assert seen["escrow"] == 1 and cents_by_assignment[(a.id, "escrow")] == a.price_cents, \
                        f"assignment {a.id}: escrow postings {dict(seen)}"
                    if a.state == "open":
                        assert seen["pay"] == seen["release"] == 0, f"open assignment {a.id} settled: {dict(seen)}"
                        assert r.state != "settled", f"settled round {r.id} has open assignment {a.id}"
                    elif a.state == "done":
                        assert labels[a.id] == 1 and seen["pay"] == 1 and seen["release"] == 0, \
                            f"done assignment {a.id}: {labels[a.id]} labels, postings {dict(seen)}"
                    elif a.state == "released":
                        assert seen["release"] == 1 and seen["pay"] == 0, f"released assignment {a.id}: {dict(seen)}"
                    else:  # pragma: no cover
                        raise AssertionError(f"assignment {a.id} in unknown state {a.state}")
            items = s.exec(select(Item).where(Item.campaign_id == c.id)).all()
            open_per_item = Counter(
                a.item_id for a in s.exec(select(Assignment).where(Assignment.campaign_id == c.id,
                                                                   Assignment.state == "open")).all())
            for it in items:
                assert it.n_open == open_per_item[it.id], f"item {it.id}: n_open {it.n_open} != {open_per_item[it.id]}"
        # annotators: balance == prices of done assignments (all campaigns)
        done = defaultdict(int)
        for a in s.exec(select(Assignment).where(Assignment.state == "done")).all():
            done[a.annotator_id] += a.price_cents
        for annotator_id, cents in done.items():
            bal = ledger.balance(s, ledger.annotator_account(annotator_id))
            assert bal == cents, f"annotator {annotator_id}: balance {bal} != done work {cents}"
        if campaign_ids is None:
            funded = s.exec(select(func.coalesce(func.sum(LedgerEntry.cents), 0))
                            .where(LedgerEntry.from_account == ledger.EXTERNAL)).one()
            budgets = sum(c.budget_cents for c in campaigns)
            assert int(funded) == budgets, f"the market took in {funded} cents, budgets total {budgets}"
    return summary

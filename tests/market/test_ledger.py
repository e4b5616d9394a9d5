"""The ledger's invariants and the cents conversion the market relies on."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, select

from market import accounts, campaign, ledger
from market.errors import LedgerViolation
from market.mechanisms import RULES, clear, payments_to_cents
from market.tables import Assignment, Item, Label, LedgerEntry, Round


@st.composite
def cent_profiles(draw):
    n = draw(st.integers(1, 30))
    asks = np.array(draw(st.lists(st.integers(1, 500), min_size=n, max_size=n)), dtype=np.int64)
    cap = draw(st.integers(1, 500))
    m = draw(st.integers(1, 30))
    scores = draw(st.lists(st.floats(0.01, 1.0), min_size=m, max_size=m))
    top = max(scores)
    values = np.sort(np.array([cap * s / top for s in scores]))[::-1]
    budget = draw(st.integers(1, 5000))
    quality = np.array(draw(st.lists(st.floats(0.05, 1.0), min_size=n, max_size=n)))
    price = draw(st.integers(1, cap))
    return asks, values, budget, quality, price


@pytest.mark.parametrize("rule", RULES)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(profile=cent_profiles())
def test_cents_never_below_ask_never_over_budget(rule, profile):
    """The market's path: integer-cent asks → clear → payments_to_cents."""
    asks, values, budget, quality, price = profile
    kw = {"values": values, "budget": float(budget)}
    if rule.startswith("quality_"):
        kw["quality"] = quality
    if rule == "posted_price":
        kw["price"] = float(price)
    result = clear(rule, asks.astype(float), **kw)
    cents = payments_to_cents(result, asks, budget)
    assert cents.dtype.kind == "i"
    assert (cents >= asks[result.winners]).all()
    assert int(cents.sum()) <= budget
    # flooring: nobody is paid more than the mechanism's payment (beyond float noise)
    assert (cents <= np.maximum(asks[result.winners], np.floor(result.payments + 1e-6))).all()


@settings(max_examples=200, deadline=None)
@given(k=st.integers(1, 200), budget=st.integers(1, 10**7))
def test_budget_split_evenly_floors_to_fit(k, budget):
    """A B/K uniform price in float maths never rounds the total over B, nor below ask=floor."""
    from market.mechanisms import Clearing

    per = budget / k
    asks = np.full(k, max(1, int(np.floor(per))) if per >= 1 else 1, dtype=np.int64)
    if per < 1:
        return
    c = Clearing("budget_feasible", np.arange(k), np.full(k, per), per, "budget", k)
    cents = payments_to_cents(c, asks, budget)
    assert int(cents.sum()) <= budget and (cents >= asks).all()


@pytest.fixture
def funded(engine):
    with Session(engine, expire_on_commit=False) as s:
        req, _ = accounts.create_account(s, "r", "requester")
        ann, _ = accounts.create_account(s, "a", "annotator")
        c = campaign.create_campaign(s, req, name="c", budget_cents=100, max_price_cents=50, rule="first_price")
        item = Item(campaign_id=c.id, prompt="p", completion_a="a", completion_b="b")
        s.add(item)
        s.flush()
        from market import clock

        rnd = Round(campaign_id=c.id, rule="first_price", demand=1, budget_cents=100, deadline=clock.now())
        s.add(rnd)
        s.flush()
        s.commit()
        return c, ann, item, rnd


def _assignment(s, c, ann, item, rnd, price):
    a = Assignment(round_id=rnd.id, campaign_id=c.id, annotator_id=ann.id, item_id=item.id, price_cents=price)
    s.add(a)
    s.flush()
    return a


def test_escrow_cannot_overdraw_the_campaign(engine, funded):
    c, ann, item, rnd = funded
    with Session(engine) as s:
        a = _assignment(s, c, ann, item, rnd, 101)
        with pytest.raises(LedgerViolation, match="holds 100 cents"):
            ledger.post_escrows(s, [a])


def _on_new_item(s, c, ann, rnd, price):
    item = Item(campaign_id=c.id, prompt="p", completion_a="a", completion_b="b")
    s.add(item)
    s.flush()
    return _assignment(s, c, ann, item, rnd, price)


def test_a_rounds_escrow_is_posted_whole_or_not_at_all(engine, funded):
    """The batch is checked against one balance read: a total over it posts nothing, a
    total within it leaves exactly the rest, and nothing is escrowed twice."""
    c, ann, _, rnd = funded
    with Session(engine) as s:
        over = [_on_new_item(s, c, ann, rnd, p) for p in (60, 41)]
        with pytest.raises(LedgerViolation, match="holds 100 cents, cannot move 101"):
            ledger.post_escrows(s, over)
        assert s.exec(select(LedgerEntry).where(LedgerEntry.reason == "escrow")).all() == []
        within = [_on_new_item(s, c, ann, rnd, p) for p in (60, 39)]
        assert ledger.post_escrows(s, within) == 2
        assert ledger.balance(s, ledger.campaign_account(c.id)) == 1
        assert ledger.balance(s, ledger.escrow_account(rnd.id)) == 99
        with pytest.raises(LedgerViolation, match="already exists"):
            ledger.post_escrows(s, within[:1])
        with pytest.raises(LedgerViolation, match="positive integer cents"):
            ledger.post_escrows(s, [_on_new_item(s, c, ann, rnd, 0)])
        s.commit()
        assert ledger.check_campaign(s, s.get(type(c), c.id)).escrowed_cents == 99


def test_escrow_is_posted_one_round_at_a_time(engine, funded):
    c, ann, _, rnd = funded
    with Session(engine) as s:
        from market import clock

        other = Round(campaign_id=c.id, rule="first_price", demand=1, budget_cents=100, deadline=clock.now())
        s.add(other)
        s.flush()
        mixed = [_on_new_item(s, c, ann, rnd, 10), _on_new_item(s, c, ann, other, 10)]
        with pytest.raises(LedgerViolation, match="one round at a time"):
            ledger.post_escrows(s, mixed)


def test_pay_once_only_for_accepted_label_and_never_after_release(engine, funded):
    c, ann, item, rnd = funded
    with Session(engine, expire_on_commit=False) as s:
        a = _assignment(s, c, ann, item, rnd, 40)
        lab = Label(assignment_id=a.id, campaign_id=c.id, item_id=item.id, annotator_id=ann.id, choice="a",
                    accepted=False)
        s.add(lab)
        s.flush()
        with pytest.raises(LedgerViolation, match="no escrow"):
            ledger.post_payment(s, a, Label(**{**lab.model_dump(), "accepted": True}))
        ledger.post_escrows(s, [a])
        with pytest.raises(LedgerViolation, match="not accepted"):
            ledger.post_payment(s, a, lab)
        lab.accepted = True
        ledger.post_payment(s, a, lab)
        with pytest.raises(LedgerViolation, match="already exists"):
            ledger.post_payment(s, a, lab)
        with pytest.raises(LedgerViolation, match="was paid"):
            ledger.post_release(s, a)
        s.commit()
        books = ledger.check_campaign(s, s.get(type(c), c.id))
        assert books.paid_cents == 40 and books.available_cents == 60 and books.balanced


@pytest.mark.parametrize("amount", [0, -5, 1.5, True, float("nan")])
def test_amounts_are_positive_integer_cents(engine, funded, amount):
    c, _, _, _ = funded
    with Session(engine) as s:
        with pytest.raises(LedgerViolation, match="positive integer cents"):
            ledger._post(s, src=ledger.EXTERNAL, dst=ledger.campaign_account(c.id), cents=amount, reason="fund",
                         key="x", campaign_id=c.id)


def test_check_campaign_catches_tampering(engine, funded):
    c, ann, item, rnd = funded
    with Session(engine) as s:
        ledger.check_campaign(s, s.get(type(c), c.id))
        # a payment that names no label: what a bug outside the ledger module might write
        s.add(LedgerEntry(from_account=ledger.campaign_account(c.id), to_account=ledger.annotator_account(ann.id),
                          cents=10, reason="pay", key="rogue", campaign_id=c.id))
        s.flush()
        with pytest.raises(LedgerViolation):
            ledger.check_campaign(s, s.get(type(c), c.id))


def test_duplicate_keys_are_refused_by_the_database_too(engine, funded):
    from sqlalchemy.exc import IntegrityError

    c, _, _, _ = funded
    with Session(engine) as s:
        s.add(LedgerEntry(from_account="external", to_account="campaign:1", cents=1, reason="fund",
                          key=f"fund:campaign:{c.id}", campaign_id=c.id))
        with pytest.raises(IntegrityError):
            s.flush()
    with Session(engine) as s:
        assert len(s.exec(select(LedgerEntry)).all()) == 1

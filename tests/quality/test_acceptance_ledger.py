"""Acceptance keeps every ledger invariant, whatever the annotators do (hypothesis, domain level).

Each example runs a small quality-controlled campaign for a few rounds: annotators who
answer right, at random or wrong, some of whom leave work unlabelled, under random
quality settings. Afterwards the books must balance to the cent, every label must be
either paid (accepted) or released with its reason (rejected), never both, or held with
its escrow while its annotator is still on probation (work won on probation), each
annotator must hold exactly the price of its accepted labels, and the skill records
must equal what the gold labels say.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, select

from market import accounts, bid, campaign, db, items, label, ledger
from market import round as rounds
from market.errors import Conflict
from market.quality import acceptance, gold, skill
from market.tables import AnnotatorSkill, Assignment, Item, Label, LedgerEntry
from tests.quality.conftest import pairs

behaviours = st.sampled_from(["right", "random", "wrong", "lazy"])
settings_ = st.fixed_dictionaries({
    "gold_rate": st.sampled_from([0.1, 0.3, 0.6]),
    "min_gold_answers": st.integers(1, 4),
    "quality_bar": st.sampled_from([None, 0.6, 0.75]),
    "quality_confidence": st.sampled_from([0.6, 0.8]),
    "probation_share": st.sampled_from([0.2, 1.0]),
})


def answer(kind: str, item: Item, rng: np.random.Generator) -> str | None:
    truth = "a" if item.completion_a.startswith("good") else "b"
    other = "b" if truth == "a" else "a"
    if kind == "lazy" and rng.random() < 0.5:
        return None  # left unlabelled: released at settlement
    if kind == "random":
        return str(rng.choice(["a", "b", "tie"]))
    return other if kind == "wrong" else truth


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(behaviours, st.integers(1, 4), st.integers(5, 40)), min_size=2, max_size=6),
       settings_, st.integers(1, 4), st.integers(0, 2**32 - 1))
def test_books_balance_and_every_label_is_paid_or_released_with_a_reason(
        database_url_factory, tmp_path_factory, annotators, policy, n_rounds, seed):
    engine = db.make_engine(database_url_factory(tmp_path_factory.mktemp("acceptance")))
    db.init_db(engine)
    rng = np.random.default_rng(seed)
    try:
        with db.session_scope(engine) as s:
            owner, _ = accounts.create_account(s, "req", "requester")
            c = campaign.create_campaign(s, owner, name="qc", budget_cents=3_000, max_price_cents=50,
                                         rule="second_price", round_size=8, **policy)
            items.import_items(s, c, pairs(30))
            items.import_items(s, c, pairs(10, start=100, gold=True))
            people = [(accounts.create_account(s, f"ann{i}", "annotator")[0], kind, cap, ask)
                      for i, (kind, cap, ask) in enumerate(annotators)]
            s.commit()
            campaign_id, owner_id = c.id, owner.id
        for _ in range(n_rounds):
            with db.session_scope(engine) as s:
                owner = s.get(type(owner), owner_id)
                try:
                    r = rounds.open_round(s, owner, campaign_id)
                except Conflict:  # nothing left to offer or to spend: the campaign is done
                    break
                for who, _, cap, ask in people:
                    bid.place_bid(s, who, r.id, ask, cap)
                rounds.close_round(s, owner, r.id)
                s.commit()
                for who, kind, _, _ in people:
                    for a in s.exec(select(Assignment).where(Assignment.annotator_id == who.id,
                                                             Assignment.state == "open")).all():
                        choice = answer(kind, s.get(Item, a.item_id), rng)
                        if choice is not None:
                            label.submit_label(s, who, a.id, choice)
                            s.commit()
                rounds.settle_round(s, owner, r.id)
                s.commit()
        with Session(engine) as s:
            check(s, campaign_id)
    finally:
        engine.dispose()


def check(s: Session, campaign_id: int) -> None:
    from market.tables import Campaign

    c = s.get(Campaign, campaign_id)
    books = ledger.check_campaign(s, c)  # balanced, nothing settled twice, rejections released with a reason
    assert books.paid_cents <= c.budget_cents
    entries = s.exec(select(LedgerEntry).where(LedgerEntry.campaign_id == campaign_id)).all()
    settled = {}
    for e in entries:
        if e.reason in ("pay", "release"):
            assert e.assignment_id not in settled
            settled[e.assignment_id] = e
    labels = s.exec(select(Label).where(Label.campaign_id == campaign_id)).all()
    earned: dict[int, int] = {}
    held_cents = 0
    event(f"rejected labels: {sum(lab.reject_reason is not None for lab in labels) > 0}")
    event(f"held labels: {sum(not lab.accepted and lab.reject_reason is None for lab in labels) > 0}")
    for lab in labels:
        a = s.get(Assignment, lab.assignment_id)
        if not lab.accepted and lab.reject_reason is None:
            # held: work won on probation whose annotator is still on probation; its escrow stays
            assert a.held and a.id not in settled and c.quality_bar is not None
            rec = gold.records(s, c, [lab.annotator_id])
            assert skill.judge(rec.alpha, rec.beta, rec.answers, min_gold=c.min_gold_answers, bar=c.quality_bar,
                               confidence=c.quality_confidence)[0] == skill.PROBATION
            held_cents += a.price_cents
            continue
        e = settled[a.id]
        if lab.accepted:
            assert e.reason == "pay" and e.label_id == lab.id and lab.reject_reason is None
            earned[lab.annotator_id] = earned.get(lab.annotator_id, 0) + a.price_cents
        else:
            assert e.reason == "release" and e.label_id == lab.id
            assert lab.reject_reason == acceptance.REASON and c.quality_bar is not None
            # the requester's note has the figures; the annotator's reason has nothing measured from gold
            assert e.note.startswith("below the quality bar: accuracy on the requester's gold checks is ")
            assert not any(ch.isdigit() for ch in lab.reject_reason)
    for annotator_id, cents in earned.items():
        assert ledger.balance(s, ledger.annotator_account(annotator_id)) == cents
    assert books.escrowed_cents == held_cents  # every round settled: only held labels keep escrow
    labelled = {lab.assignment_id for lab in labels}
    for a in s.exec(select(Assignment).where(Assignment.campaign_id == campaign_id)).all():
        assert (a.state == "open") == (a.id not in labelled and a.id not in settled)
    for it in s.exec(select(Item).where(Item.campaign_id == campaign_id)).all():
        assert it.n_labels == sum(1 for lab in labels if lab.item_id == it.id and lab.accepted)
        assert it.n_open == sum(1 for lab in labels if lab.item_id == it.id and not lab.accepted
                                and lab.reject_reason is None)  # a held label keeps its item from being offered
    gold_items = {it.id: it.gold for it in s.exec(select(Item).where(Item.campaign_id == campaign_id,
                                                                     Item.gold_check == True))}  # noqa: E712
    for row in s.exec(select(AnnotatorSkill).where(AnnotatorSkill.campaign_id == campaign_id)).all():
        mine = [lab for lab in labels if lab.annotator_id == row.annotator_id and lab.item_id in gold_items]
        credit = sum(skill.gold_credit(lab.choice, gold_items[lab.item_id]) for lab in mine)
        assert row.gold_answers == len(mine)
        assert (row.alpha, row.beta) == (skill.PRIOR_ALPHA + credit, skill.PRIOR_BETA + len(mine) - credit)
        assert all(lab.gold_credit == skill.gold_credit(lab.choice, gold_items[lab.item_id]) for lab in mine)
    assert all(lab.gold_credit is None for lab in labels if lab.item_id not in gold_items)

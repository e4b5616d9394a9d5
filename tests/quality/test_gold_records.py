"""Carried gold records (``market.quality.gold.records``): the owner's other campaigns count
at ``gold_carry`` per answer, another requester's never, and the campaign's own in full."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session

from market import accounts, campaign, db
from market.quality import gold, skill
from market.tables import AnnotatorSkill

TERMS = dict(name="c", budget_cents=10_000, max_price_cents=50, rule="second_price", gold_rate=0.2)
record = st.tuples(st.integers(0, 12), st.integers(0, 12)).map(lambda t: (min(t), max(t)))  # (right, answers)


def _skill(session, campaign_id, annotator_id, right, answers):
    session.add(AnnotatorSkill(campaign_id=campaign_id, annotator_id=annotator_id,
                               alpha=skill.PRIOR_ALPHA + right, beta=skill.PRIOR_BETA + answers - right,
                               gold_answers=answers))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(own=record, mine=st.lists(record, max_size=3), theirs=record, carry=st.sampled_from([0.0, 0.25, 0.5, 1.0]))
def test_records_add_the_owners_other_campaigns_at_the_carry_and_nothing_else(database_url, own, mine, theirs,
                                                                              carry):
    engine = db.make_engine(database_url)
    db.init_db(engine)
    try:
        with Session(engine) as s:
            owner, _ = accounts.create_account(s, "owner", "requester")
            rival, _ = accounts.create_account(s, "rival", "requester")
            ann, _ = accounts.create_account(s, "ann", "annotator")
            here = campaign.create_campaign(s, owner, **TERMS, gold_carry=carry)
            _skill(s, here.id, ann.id, *own)
            for r in mine:  # the owner's other campaigns
                _skill(s, campaign.create_campaign(s, owner, **TERMS).id, ann.id, *r)
            _skill(s, campaign.create_campaign(s, rival, **TERMS).id, ann.id, *theirs)  # never counts
            s.flush()
            rec = gold.records(s, here, [ann.id, 999_999])
            right = own[0] + carry * sum(r for r, _ in mine)
            answers = own[1] + carry * sum(n for _, n in mine)
            assert rec.alpha[0] == pytest.approx(skill.PRIOR_ALPHA + right)
            assert rec.beta[0] == pytest.approx(skill.PRIOR_BETA + answers - right)
            assert rec.answers[0] == pytest.approx(answers) and rec.own[0] == own[1]
            assert rec.carried[0] == pytest.approx(carry * sum(n for _, n in mine))
            # an annotator with no record anywhere sits at the prior
            assert (rec.alpha[1], rec.beta[1], rec.answers[1]) == (skill.PRIOR_ALPHA, skill.PRIOR_BETA, 0)
            s.rollback()
    finally:
        engine.dispose()


def test_no_annotators_give_empty_records(database_url):
    engine = db.make_engine(database_url)
    db.init_db(engine)
    try:
        with Session(engine) as s:
            owner, _ = accounts.create_account(s, "owner", "requester")
            rec = gold.records(s, campaign.create_campaign(s, owner, **TERMS, gold_carry=1.0), [])
            assert all(np.size(a) == 0 for a in (rec.alpha, rec.beta, rec.answers, rec.own, rec.carried))
    finally:
        engine.dispose()

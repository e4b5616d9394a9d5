"""A campaign's terms are declared once (``CampaignTerms``) and every caller is held to them."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from market import accounts, campaign
from market.api.schemas import CampaignCreate, CampaignOut
from market.errors import Invalid
from market.tables import Campaign, CampaignTerms

TERMS = dict(name="c", budget_cents=2000, max_price_cents=50, rule="second_price")


def test_the_table_and_both_schemas_share_the_one_declaration():
    terms = set(CampaignTerms.model_fields)
    assert set(CampaignCreate.model_fields) == terms
    assert set(CampaignOut.model_fields) == terms | {"id", "owner_id", "status", "created_at"}
    assert set(Campaign.__table__.columns.keys()) == terms | {"id", "owner_id", "status", "created_at"}
    assert all(CampaignTerms.model_fields[t].description for t in terms)


@pytest.mark.parametrize("changes, field", [
    ({"labels_per_item": True}, "labels_per_item"),  # a bool is not a count
    ({"budget_cents": 12.5}, "budget_cents"),
    ({"gold_rate": float("nan")}, "gold_rate"),
    ({"label_duration_s": 0.001}, "label_duration_s"),
    ({"name": "   "}, "name"),
    ({"acquisition": "shrap"}, "acquisition"),
    ({"gold_carry": 0.5}, "gold_carry"),  # needs gold checks: a rule across two terms
    ({"round_budget_cents": 2001}, "round_budget_cents"),  # above the whole budget
    ({"gold_rat": 0.2}, "gold_rat"),  # not a term: a typo is not silently dropped
])
def test_direct_callers_get_the_same_checks_as_the_api(engine, changes, field):
    with Session(engine) as s:
        owner, _ = accounts.create_account(s, "req", "requester")
        with pytest.raises(Invalid, match=field):
            campaign.create_campaign(s, owner, **{**TERMS, **changes})


def test_names_are_stripped_and_defaults_come_from_the_declaration(engine):
    with Session(engine) as s:
        owner, _ = accounts.create_account(s, "req", "requester")
        c = campaign.create_campaign(s, owner, **{**TERMS, "name": "  films "})
        assert c.name == "films"
        assert (c.acquisition, c.round_size, c.gold_rate) == tuple(
            CampaignTerms.model_fields[f].default for f in ("acquisition", "round_size", "gold_rate"))

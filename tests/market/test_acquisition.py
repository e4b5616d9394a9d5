"""The registry of acquisition methods: names the market accepts, and how scores become item values."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlmodel import Session

from market import acquisition, items
from market.client import MarketError
from market.tables import Campaign


def test_every_method_declares_a_scale_its_needs_and_a_description():
    assert acquisition.DEFAULT in acquisition.METHODS
    for name, m in acquisition.METHODS.items():
        assert m.name == name and m.scale in ("ordinal", "cardinal") and m.description
        assert set(m.needs) <= {"margins", "features", "samples"}
        assert f"{name} ({m.scale})" in acquisition.help_text()


def test_an_unknown_name_is_refused_and_the_error_lists_the_known_ones():
    with pytest.raises(ValueError, match="'shrap'.*random, sharp, wsharp, apl, adpo"):
        acquisition.require("shrap")
    assert acquisition.require("sharp").scale == "ordinal"


def test_a_name_outside_the_registry_reads_as_ordinal():
    assert acquisition.scale("shrap") == acquisition.scale(None) == "ordinal"
    assert acquisition.scale("adpo") == "cardinal"


# ----------------------------------------------------------------------------- the API


@pytest.mark.parametrize("name", ["shrap", "SHARP", "", 7])
def test_a_campaign_with_an_unknown_method_is_a_422_that_names_the_field(market, snapshot, campaign_fields, name):
    req = market.requester()
    before = snapshot()
    with pytest.raises(MarketError) as e:
        req.create_campaign(**campaign_fields, acquisition=name)
    assert e.value.status == 422 and "acquisition" in e.value.detail
    if isinstance(name, str):
        assert all(m in e.value.detail for m in acquisition.METHODS)
    assert snapshot() == before


@pytest.mark.parametrize("name", list(acquisition.METHODS))
def test_every_registered_method_is_accepted(market, campaign_fields, name):
    assert market.requester().create_campaign(**campaign_fields, acquisition=name)["acquisition"] == name


def test_the_default_method_is_the_registrys(market, campaign_fields):
    assert market.requester().create_campaign(**campaign_fields)["acquisition"] == acquisition.DEFAULT


def test_a_name_stored_before_the_registry_still_reads_back(market, engine, campaign_fields):
    req = market.requester()
    c = req.create_campaign(**campaign_fields)
    with Session(engine) as s:  # a campaign created when any short name was accepted
        s.get(Campaign, c["id"]).acquisition = "shrap"
        s.commit()
    assert req.get_campaign(c["id"])["acquisition"] == "shrap"


def _cleared_values(market, campaign_fields, pairs, method, scores):
    """Scores posted by the requester, a round over those items cleared: the values the mechanism saw."""
    req = market.requester()
    c = req.create_campaign(**{**campaign_fields, "round_size": len(scores), "budget_cents": 5000},
                            acquisition=method)
    req.upload_items(c["id"], pairs(len(scores)))
    ids = [it["id"] for it in req.list_items(c["id"])]
    req.post_scores(c["id"], dict(zip(ids, scores, strict=True)))
    r = req.open_round(c["id"])
    ann = market.annotators(1)[0]
    ann.place_bid(r["id"], 5, capacity=len(scores))
    req.close_round(r["id"])
    return req.campaign_bids(c["id"])[0]["values_cents"]


def test_one_near_tie_under_sharp_cannot_take_the_whole_price(market, campaign_fields, pairs):
    margins = [5e-7, 0.5, 1.0, 2.0]  # SHARP's coth(|Δ|/2): about 4e6 for the near-tie, then 4.1, 2.2, 1.3
    scores = [1 / math.tanh(m / 2) for m in margins]
    values = _cleared_values(market, campaign_fields, pairs, "sharp", scores)
    assert sorted(values, reverse=True) == [50.0, 37.5, 25.0, 12.5]  # by rank: r·k/n


def test_a_cardinal_methods_scores_are_values_in_proportion(market, campaign_fields, pairs):
    values = _cleared_values(market, campaign_fields, pairs, "adpo", [1.0, 0.5, 0.25, 0.0])
    assert sorted(values, reverse=True) == [50.0, 25.0, 12.5, 0.0]


# ----------------------------------------------------------------------------- item_values

scores_lists = st.lists(
    st.one_of(st.none(), st.floats(-1e12, 1e12, allow_nan=False)), min_size=1, max_size=30
)
caps = st.integers(1, 100_000)


@given(caps, scores_lists, st.sampled_from(["ordinal", "cardinal"]))
def test_values_lie_in_zero_to_the_cap_and_rise_with_the_score(r, scores, scale):
    values = items.item_values(r, scores, scale)
    assert len(values) == len(scores) and all(0.0 <= v <= r for v in values)
    lowest = min((s for s in scores if s is not None), default=0.0)
    filled = [lowest if s is None else s for s in scores]
    for si, vi in zip(filled, values, strict=True):
        for sj, vj in zip(filled, values, strict=True):
            if si <= sj:
                assert vi <= vj
    if scale == "ordinal":
        assert max(values) == r and min(values) > 0


@given(caps, scores_lists, st.data())
def test_ordinal_values_ignore_any_strictly_increasing_transform(r, scores, data):
    distinct = sorted({s for s in scores if s is not None})
    gaps = data.draw(st.lists(st.floats(1e-3, 1e6), min_size=len(distinct), max_size=len(distinct)))
    start = data.draw(st.floats(-1e6, 1e6))
    f = dict(zip(distinct, [start + sum(gaps[: i + 1]) for i in range(len(distinct))], strict=True))
    transformed = [None if s is None else f[s] for s in scores]
    assert items.item_values(r, transformed, "ordinal") == items.item_values(r, scores, "ordinal")


@given(caps, st.lists(st.floats(0.0, 1e6), min_size=2, max_size=30))
def test_cardinal_values_are_proportional_to_the_scores(r, scores):
    values = items.item_values(r, scores, "cardinal")
    if max(scores) > 0 and len(set(scores)) > 1:
        top = max(scores)
        assert values == pytest.approx([r * s / top for s in scores])
    else:
        assert values == [float(r)] * len(scores)


@pytest.mark.parametrize("scale", ["ordinal", "cardinal"])
def test_no_scores_or_equal_scores_are_all_worth_the_cap(scale):
    assert items.item_values(40, [None, None], scale) == [40.0, 40.0]
    assert items.item_values(40, [3.0, 3.0, 3.0], scale) == [40.0, 40.0, 40.0]

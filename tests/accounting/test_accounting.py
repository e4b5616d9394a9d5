"""Cost-per-win-rate accounting: definitions checked on hand-computed curves."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from market.accounting import CurvePoint, compare, curve, dollars_per_point, dollars_to_reach, spend_by_kind


def pts(*rows):
    return [CurvePoint(s, w, w - 0.03, w + 0.03, 100) for s, w in rows]


def test_dollars_per_point():
    assert dollars_per_point(2000, 0.60) == pytest.approx(2.0)  # $20 for 10 points
    assert dollars_per_point(2000, 0.50) is None
    assert dollars_per_point(2000, 0.42) is None


def test_dollars_to_reach_interpolates_between_evaluations():
    c = pts((0, 0.50), (1000, 0.54), (2000, 0.62))
    assert dollars_to_reach(c, 0.58) == pytest.approx(15.0)
    assert dollars_to_reach(c, 0.54) == pytest.approx(10.0)
    assert dollars_to_reach(c, 0.40) == pytest.approx(0.0)
    assert dollars_to_reach(c, 0.70) is None


@given(st.lists(st.tuples(st.integers(0, 10_000), st.floats(0, 1)), min_size=1, max_size=12), st.floats(0, 1))
def test_reaching_never_costs_more_than_the_first_point_at_target(rows, target):
    c = curve([{"spend_cents": s, "win_rate": w, "ci_low": w, "ci_high": w} for s, w in rows])
    reached = dollars_to_reach(c, target)
    first = next((p.spend_cents / 100 for p in c if p.win_rate >= target), None)
    assert (reached is None) == (first is None)
    if reached is not None:
        assert reached <= first + 1e-9


def test_compare_says_whether_the_auction_beat_the_baseline():
    auction = pts((0, 0.5), (1000, 0.58), (2000, 0.66))
    baseline = pts((0, 0.5), (1000, 0.53), (2000, 0.58))
    c = compare(auction, baseline)
    assert c.beats_baseline
    assert c.dollars_to_baseline_final == pytest.approx(10.0)
    assert c.dollars_per_point == pytest.approx(20 / 16)
    assert c.baseline_dollars_per_point == pytest.approx(20 / 8)
    assert not compare(baseline, auction).beats_baseline
    with pytest.raises(ValueError):
        compare([], baseline)


def test_spend_by_kind():
    assert spend_by_kind([(1, 30), (2, 25), (1, 5), (9, 4)], {1: "diligent", 2: "spammer"}) == {
        "diligent": 35,
        "spammer": 25,
        "unknown": 4,
    }

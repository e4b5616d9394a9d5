"""Cost-per-point accounting: definitions checked on hand-computed curves, for any metric."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from market.accounting import METRICS, CurvePoint, compare, cents_per_point, cents_to_reach, spend_by_kind


def pts(*rows):
    return [CurvePoint(s, v, v - 0.03, v + 0.03, 100) for s, v in rows]


def test_cents_per_point():
    assert cents_per_point(2000, 0.60) == pytest.approx(200.0)  # $20 for 10 points
    assert cents_per_point(2000, 0.50) is None
    assert cents_per_point(2000, 0.42) is None


def test_cents_to_reach_interpolates_between_evaluations():
    c = pts((0, 0.50), (1000, 0.54), (2000, 0.62))
    assert cents_to_reach(c, 0.58) == pytest.approx(1500.0)
    assert cents_to_reach(c, 0.54) == pytest.approx(1000.0)
    assert cents_to_reach(c, 0.40) == pytest.approx(0.0)
    assert cents_to_reach(c, 0.70) is None


@given(st.lists(st.tuples(st.integers(0, 10_000), st.floats(0, 1)), min_size=1, max_size=12), st.floats(0, 1))
def test_reaching_never_costs_more_than_the_first_point_at_target(rows, target):
    c = sorted((CurvePoint(s, v, v, v) for s, v in rows), key=lambda p: p.spend_cents)
    reached = cents_to_reach(c, target)
    first = next((p.spend_cents for p in c if p.value >= target), None)
    assert (reached is None) == (first is None)
    if reached is not None:
        assert reached <= first + 1e-9


def test_compare_charges_each_campaign_with_all_it_spent():
    auction = pts((0, 0.5), (1000, 0.58), (2000, 0.66))
    baseline = pts((0, 0.5), (1000, 0.53), (2000, 0.58))
    c = compare(auction, baseline, spent_cents=2400, baseline_spent_cents=2000)
    assert c.beats_baseline
    assert c.cents_to_baseline_final == pytest.approx(1000.0)  # a point on the curve: spend at evaluations
    assert c.cents_per_point == pytest.approx(2400 / 16)  # not 2000 / 16: the last $4 still cost money
    assert c.baseline_cents_per_point == pytest.approx(2000 / 8)
    assert c.baseline_final_spend_cents == 2000
    assert not compare(baseline, auction, 2000, 2400).beats_baseline
    with pytest.raises(ValueError):
        compare([], baseline, 0, 0)


EVALUATION = {"spend_cents": 1200, "win_rate": 0.61, "ci_low": 0.55, "ci_high": 0.67, "n": 128,
              "metrics": {"heldout_accuracy": 0.7, "heldout_ci_low": 0.64, "heldout_ci_high": 0.76, "heldout_n": 200}}


def test_each_metric_reads_its_own_fields_of_an_evaluation():
    assert METRICS["win_rate"].point(EVALUATION) == CurvePoint(1200, 0.61, 0.55, 0.67, 128)
    assert METRICS["heldout_accuracy"].point(EVALUATION) == CurvePoint(1200, 0.7, 0.64, 0.76, 200)


def test_an_evaluation_without_the_metric_is_no_point_of_its_curve():
    assert METRICS["heldout_accuracy"].point({**EVALUATION, "metrics": {}}) is None
    assert METRICS["heldout_accuracy"].point({**EVALUATION, "metrics": None}) is None
    bare = METRICS["heldout_accuracy"].point({**EVALUATION, "metrics": {"heldout_accuracy": 0.6}})
    assert bare == CurvePoint(1200, 0.6, 0.6, 0.6, 0)  # no interval posted: the value itself


def test_spend_by_kind():
    assert spend_by_kind([(1, 30), (2, 25), (1, 5), (9, 4)], {1: "diligent", 2: "spammer"}) == {
        "diligent": 35,
        "spammer": 25,
        "unknown": 4,
    }

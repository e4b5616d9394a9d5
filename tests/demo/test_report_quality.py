"""The report's quality-control figures, from paid labels as the ledger and the export give them."""

from __future__ import annotations

import numpy as np
import pytest

from app.demo.report import claim, labels_right, paid_label_counts, quality_verdict, spammer_shares


def _paid(campaign, round_id, kind, data):
    return {"campaign": campaign, "round_id": round_id, "kind": kind, "data": data}


PAID = [
    # round 1: gold checks only (everyone on probation), a spammer among them
    _paid("auction", 1, "spammer", False), _paid("auction", 1, "diligent", False),
    # round 2: training labels, one from a spammer that slipped through
    _paid("auction", 2, "diligent", True), _paid("auction", 2, "diligent", True),
    _paid("auction", 2, "noisy", True), _paid("auction", 2, "spammer", True), _paid("auction", 2, "diligent", False),
    # round 3: a spammer still on probation answers a paid gold check; a reader labels
    _paid("auction", 3, "spammer", False), _paid("auction", 3, "diligent", True),
    # the twin without gold checks: spammers win from the start
    _paid("no_qc", 13, "spammer", True), _paid("no_qc", 13, "diligent", True),
    _paid("no_qc", 14, "spammer", True), _paid("no_qc", 14, "spammer", True),
]


def test_a_round_counts_training_labels_and_gold_checks_apart():
    assert paid_label_counts(PAID, 1) == {"labels": 0, "gold_labels": 2, "spammer_share": None}
    assert paid_label_counts(PAID, 2) == {"labels": 4, "gold_labels": 1, "spammer_share": 0.25}
    assert paid_label_counts(PAID, 99) == {"labels": 0, "gold_labels": 0, "spammer_share": None}


def test_the_share_after_round_one_leaves_out_each_campaigns_own_first_round():
    auction = spammer_shares(PAID, "auction")
    assert auction == {"spammer_share": 0.2, "spammer_share_after_round_1": 0.2,
                       "spammer_share_of_paid_after_round_2": 0.5, "gold_labels": 4}
    twin = spammer_shares(PAID, "no_qc")
    assert twin["spammer_share"] == 0.75 and twin["spammer_share_after_round_1"] == 1.0 and twin["gold_labels"] == 0
    assert twin["spammer_share_of_paid_after_round_2"] is None  # the twin ran two rounds only


def test_the_quality_verdict_says_which_way_the_money_went():
    base = {"spammer_share_after_round_1": 0.02, "gold_labels": 30}
    won = quality_verdict(base | {"cents_per_point": 150}, {"spammer_share_after_round_1": 0.6, "cents_per_point": 400})
    assert "2.0% with gold checks against 60.0% without" in won and "$1.50 with gold checks against $4.00" in won
    lost = quality_verdict(base | {"cents_per_point": 500}, {"spammer_share_after_round_1": 0.6, "cents_per_point": 400})
    assert "did not pay for itself" in lost
    none = quality_verdict(base | {"cents_per_point": None}, {"spammer_share_after_round_1": 0.6, "cents_per_point": None})
    assert "undefined for both" in none
    assert won.startswith("**Gold checks against none (the twin):**")
    only_qc = quality_verdict(base | {"cents_per_point": 200}, {"spammer_share_after_round_1": 0.6, "cents_per_point": None})
    assert "no gain at all" in only_qc


class LengthJudge:
    """Longer wins; equal length ties (so the test knows every verdict)."""

    def compare(self, prompts, a, b):
        return np.array([1.0 if len(x) > len(y) else 0.0 if len(x) < len(y) else 0.5 for x, y in zip(a, b)])


def test_labels_right_are_measured_against_the_judge_by_annotator_kind():
    rows = [{"prompt": "p", "chosen": "long one", "rejected": "short", "annotator_id": 1},  # right
            {"prompt": "p", "chosen": "long two", "rejected": "short", "annotator_id": 1},  # right
            {"prompt": "p", "chosen": "x", "rejected": "longer", "annotator_id": 2},  # wrong
            {"prompt": "p", "chosen": "same", "rejected": "also", "annotator_id": 2}]  # a tie: half
    got = labels_right(rows, {1: "diligent", 2: "spammer"}, LengthJudge())
    assert got["labels_right"] == (1 + 1 + 0 + 0.5) / 4
    assert got["labels_right_by_kind"] == {"diligent": {"labels": 2, "right": 1.0},
                                           "spammer": {"labels": 2, "right": 0.25}}
    assert labels_right([], {}, LengthJudge()) == {"labels_right": None, "labels_right_by_kind": {}}
    said = quality_verdict({"spammer_share_after_round_1": 0.0, "gold_labels": 9, "cents_per_point": 200,
                            "labels_right": 0.8}, {"spammer_share_after_round_1": 0.5, "cents_per_point": None,
                                                   "labels_right": 0.55})
    assert "the judge agrees with 80.0% of the training labels bought with gold checks against 55.0% without" in said


def test_summary_points_name_the_win_rate_as_old_summaries_do():
    """The API's metric-neutral ``value`` is the report's ``win_rate`` (summaries written
    before the API priced other metrics must read the same)."""
    from app.demo.report import win_rate_point

    point = {"round_id": 3, "spend_cents": 2000, "value": 0.55, "ci_low": 0.5, "ci_high": 0.6, "n": 64,
             "measured": True}
    assert win_rate_point(point) == {**{k: v for k, v in point.items() if k != "value"}, "win_rate": 0.55}
    assert win_rate_point(None) is None


def _arm(rate, low, high, n=256, labels=40):
    return {"win_rate": rate, "ci_low": low, "ci_high": high, "n": n, "labels": labels, "trainings": 4}


def _campaign(spent, paid, training, final):
    from market.accounting import cents_per_point

    return {"spent_cents": spent, "labels": paid, "training_labels": training,
            "final": {k: final[k] for k in ("win_rate", "ci_low", "ci_high", "n")},
            "cents_per_point": cents_per_point(spent, final["win_rate"])}


def _final(auction, baseline, coin, h2h, vs_coin):
    return {"prompts": 256, "samples": 1, "arms": {"auction": auction, "baseline": baseline, "coin_flip": coin},
            "differences": {"auction-baseline": h2h, "auction-coin_flip": vs_coin}}


def _diff(mean, low, high):
    return {"mean": mean, "ci_low": low, "ci_high": high, "n": 256}


def test_the_claim_prices_a_label_a_point_and_a_point_per_label():
    a, b, coin = _arm(0.60, 0.55, 0.65), _arm(0.55, 0.50, 0.60), _arm(0.50, 0.45, 0.54)
    got = claim(_campaign(1000, 50, 40, a), _campaign(990, 45, 40, b),
                _final(a, b, coin, _diff(0.05, 0.01, 0.09), _diff(0.10, 0.05, 0.15)))
    assert got["auction"]["price_per_label_cents"] == 20.0 and got["baseline"]["price_per_label_cents"] == 22.0
    assert round(got["auction"]["points"], 9) == 10.0 and round(got["auction"]["points_per_label"], 9) == 0.25
    assert round(got["auction"]["cents_per_point"], 6) == 100.0  # $10 for 10 points
    assert got["separated"] and got["coin_flip_covers_half"]
    assert got["verdict"].startswith("**The auction beat the posted price at equal spend:** +5.0 points [+1.0, +9.0]")
    assert "$0.20 per label, less than the posted price's $0.22" in got["verdict"]


@pytest.mark.parametrize("h2h, opening", [
    ((-0.05, -0.09, -0.01), "**The posted price beat the auction"),
    ((0.01, -0.03, 0.05), "**No demonstrated difference at equal spend:**"),
])
def test_the_verdict_follows_the_paired_interval(h2h, opening):
    a, b, coin = _arm(0.60, 0.55, 0.65), _arm(0.59, 0.54, 0.64), _arm(0.50, 0.45, 0.54)
    got = claim(_campaign(1000, 50, 40, a), _campaign(990, 45, 40, b),
                _final(a, b, coin, _diff(*h2h), _diff(0.10, 0.05, 0.15)))
    assert got["verdict"].startswith(opening)


def test_no_figure_is_a_finding_while_coin_flips_look_like_labels():
    """Issue 17: until the evaluation separates the coin-flip control from real labels, the
    head-to-head figure is reported as no evidence, however large it is."""
    a, b, coin = _arm(0.58, 0.52, 0.64), _arm(0.45, 0.40, 0.50), _arm(0.55, 0.49, 0.61)
    got = claim(_campaign(1000, 50, 40, a), _campaign(990, 45, 40, b),
                _final(a, b, coin, _diff(0.13, 0.08, 0.18), _diff(0.03, -0.02, 0.08)))
    assert not got["separated"]
    assert got["verdict"].startswith("**No finding on this run:**") and "not evidence either way" in got["verdict"]
    assert "paired over prompts the auction is +3.0 points [-2.0, +8.0] above the control" in got["verdict"]


@pytest.mark.parametrize("coin, why, side_effect", [
    ((0.55, 0.49, 0.61), "the intervals overlap; paired", False),
    ((0.57, 0.52, 0.62), "the intervals overlap, and the control's misses 50%; paired", True),
    ((0.59, 0.537, 0.652), "the coin-flip control scored above the auction", True),  # the 2026-12-03 seed 1 run
])
def test_a_control_off_half_is_called_a_side_effect_of_training(coin, why, side_effect):
    a, b = _arm(0.53, 0.47, 0.535), _arm(0.52, 0.46, 0.57)
    got = claim(_campaign(1000, 50, 40, a), _campaign(990, 45, 40, b),
                _final(a, b, _arm(*coin), _diff(0.01, -0.05, 0.07), _diff(-0.06, -0.12, 0.0)))
    assert got["verdict"].startswith("**No finding on this run:**") and why in got["verdict"]
    assert ("side effect of training" in got["verdict"]) is side_effect


def test_prices_that_round_to_the_same_cent_are_called_the_same():
    a, b, coin = _arm(0.60, 0.55, 0.65), _arm(0.55, 0.50, 0.60), _arm(0.50, 0.45, 0.54)
    got = claim(_campaign(644, 28, 24, a), _campaign(552, 24, 22, b),
                _final(a, b, coin, _diff(0.05, 0.01, 0.09), _diff(0.10, 0.05, 0.15)))
    assert "$0.23 per label, about the same as the posted price's $0.23" in got["verdict"]

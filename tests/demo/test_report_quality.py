"""The report's quality-control figures, from paid labels as the ledger and the export give them."""

from __future__ import annotations

import numpy as np

from app.demo.report import labels_right, paid_label_counts, quality_verdict, spammer_shares


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
    assert won.startswith("**Quality control:**")
    again = quality_verdict(base | {"cents_per_point": 150}, {"spammer_share_after_round_1": 0.6,
                                                                "cents_per_point": 400}, vetted=True)
    assert again.startswith("**Quality control, vetted once") and "$1.50 with gold checks" in again
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

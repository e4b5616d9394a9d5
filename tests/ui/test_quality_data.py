"""Unit tests of the quality shaping (ui.quality_data): no Streamlit, no server."""

from __future__ import annotations

from market.quality.acceptance import REASON as TOLD  # what an annotator is told: no figures
from ui import data
from ui import quality_data as qd

REASON = ("below the quality bar: accuracy on the requester's gold checks is 0.29 after 4 checks on this campaign, "
          "and the requester accepts labels only when it is likely at least 0.65; this label is not paid and its "
          "price returns to the campaign")
"""A release's ledger note, as the owner reads it (with the figures measured from gold)."""


def _skill(i, status, accuracy, accepted=4, rejected=0, gold=4):
    return dict(annotator_id=i, alpha=2.0, beta=1.0, accuracy=accuracy, accuracy_low=accuracy - 0.2,
                accuracy_high=min(1.0, accuracy + 0.1), gold_answers=gold, carried_answers=0.0, status=status,
                quality=0.5, labels=accepted + rejected, accepted=accepted, rejected=rejected, choices={})


QUALITY = dict(campaign_id=1, gold_rate=0.25, min_gold_answers=4, quality_bar=0.65, quality_confidence=0.8,
               probation_share=0.5, gold_carry=0.0, gold_items=12,
               annotators=[_skill(3, "qualified", 0.86), _skill(5, "below_bar", 0.29, accepted=3, rejected=1),
                           _skill(4, "qualified", 0.80), _skill(6, "probation", 0.67, accepted=0, gold=0)])
PAID = [{"annotator_id": 3, "cents": 200, "labels": 4}, {"annotator_id": 4, "cents": 200, "labels": 4},
        {"annotator_id": 5, "cents": 150, "labels": 3}]
FLAGS = [{"kind": "gold_at_chance", "campaign_id": 1, "annotator_ids": [5],
          "detail": "gold accuracy 0.29 after 4 gold answers; 90% sure it is below 0.6"},
         {"kind": "similar_bids", "campaign_id": 1, "annotator_ids": [4, 5], "detail": "same asks"}]


def test_reason_kind_is_the_headline_before_the_figures():
    assert qd.reason_kind(REASON) == qd.reason_kind(TOLD) == "below the quality bar"
    assert qd.reason_kind("plain words") == "plain words"
    assert qd.reason_kind(None) == qd.reason_kind("  ") == "no reason given"
    assert len(qd.reason_kind("x" * 500)) == 80


def test_by_reason_counts_labels_and_money_most_first():
    f = qd.by_reason([(REASON, 50), (REASON.replace("0.29", "0.18"), 40), (None, 10)])
    assert f.to_dict("list") == {"reason": ["below the quality bar", "no reason given"], "labels": [2, 1],
                                 "not paid": ["$0.90", "$0.10"]}
    assert qd.by_reason([]).empty


def _assignment(i, accepted, reason=None, price=50):
    return dict(id=i, campaign_id=1, round_id=2, prompt="p", price_cents=price, state="done",
                label={"choice": "a", "confidence": None, "accepted": accepted, "reject_reason": reason,
                       "paid_cents": price if accepted else 0})


def test_an_annotator_sees_each_rejected_label_with_its_reason():
    # 3 is held (not accepted, no reason: work won on probation, waiting for the test), not rejected
    work = [_assignment(1, True), _assignment(2, False, TOLD), _assignment(3, False, None, price=30),
            dict(id=4, campaign_id=1, round_id=2, prompt="p", price_cents=50, state="open", label=None)]
    rows = qd.rejected_rows(work)
    assert rows["assignment"].tolist() == [2]
    assert rows["reason"].tolist() == [TOLD]
    assert rows["not paid"].tolist() == ["$0.50"]
    by = qd.my_rejections_by_reason(work)
    assert by["reason"].tolist() == ["below the quality bar"]
    history = data.work_rows(work)
    assert history["why not paid"].tolist() == ["", TOLD, data.HELD]


def test_label_message_gives_the_reason_of_a_rejection():
    msg = data.label_message({"choice": "b", "accepted": False, "paid_cents": 0, "reject_reason": TOLD})
    assert msg.startswith("Label recorded (you chose B) but not accepted, so it is not paid. Why: below the")
    assert data.label_message({"choice": "b", "accepted": False}).endswith("not paid.")


def test_annotator_rows_worst_first_with_money_and_flags():
    rows = qd.annotator_rows(QUALITY, PAID, FLAGS)
    assert rows["annotator"].tolist() == ["#5", "#6", "#4", "#3"]
    assert rows["status"].tolist() == ["below the bar", "probation", "qualified", "qualified"]
    top = rows.iloc[0]
    assert (top["accuracy"], top["gold answered"], top["rejected"], top["paid"]) == (0.29, 4, 1, "$1.50")
    assert top["flags"] == "gold answered at chance, near-identical bids"
    assert "carried" not in rows.columns  # the campaign carries no records from elsewhere
    carrying = {**QUALITY, "gold_carry": 0.5,
                "annotators": [{**a, "carried_answers": 2.5 * (a["annotator_id"] == 4)} for a in QUALITY["annotators"]]}
    assert qd.annotator_rows(carrying, PAID, FLAGS)["carried"].tolist() == [0.0, 0.0, 2.5, 0.0]
    assert rows.iloc[1]["paid"] == "$0.00" and rows.iloc[1]["flags"] == ""


def test_without_gold_checks_only_labels_money_and_flags():
    off = {**QUALITY, "gold_rate": 0.0}
    assert not qd.judged(off) and qd.judged(QUALITY)
    rows = qd.annotator_rows(off, PAID, FLAGS)
    assert list(rows.columns) == ["annotator", "labels", "accepted", "rejected", "paid", "flags"]


def test_spend_by_status_shares_of_paid_labels_and_spend():
    f = qd.spend_by_status(QUALITY, PAID).set_index("status")
    assert f.index.tolist() == ["below the bar", "probation", "qualified"]
    assert f.loc["qualified", "annotators"] == 2 and f.loc["qualified", "spend"] == "$4.00"
    assert f.loc["below the bar", "paid labels"] == 3 and f.loc["below the bar", "rejected labels"] == 1
    assert f.loc["below the bar", "share of paid labels"] == "27%"  # 3 of 11
    assert f.loc["below the bar", "share of spend"] == "27%"  # 150 of 550
    assert f.loc["probation", "share of spend"] == "0%"
    empty = qd.spend_by_status({**QUALITY, "annotators": []})
    assert empty.empty


def test_status_counts_and_skill_frame():
    assert qd.status_counts(QUALITY) == {"below_bar": 1, "probation": 1, "provisional": 0, "qualified": 2}
    f = qd.skill_frame(QUALITY)
    assert f["annotator"].tolist() == ["#3", "#4", "#6", "#5"]  # best first
    assert f["status"].tolist()[-1] == "below the bar"


def test_policy_text():
    assert "likely below **0.65** (80% sure)" in qd.policy_text(QUALITY)
    assert "no quality bar" in qd.policy_text({**QUALITY, "quality_bar": None})
    assert "from scratch" in qd.policy_text(QUALITY)
    assert "count 50% of one here" in qd.policy_text({**QUALITY, "gold_carry": 0.5})
    assert "off" in qd.policy_text({**QUALITY, "gold_rate": 0.0})


ENTRIES = [
    {"reason": "fund", "cents": 1000, "round_id": None, "label_id": None, "note": None},
    {"reason": "escrow", "cents": 200, "round_id": 1, "label_id": None, "note": None},
    {"reason": "pay", "cents": 50, "round_id": 1, "label_id": 1, "note": None},
    {"reason": "pay", "cents": 50, "round_id": 1, "label_id": 2, "note": None},
    {"reason": "release", "cents": 50, "round_id": 1, "label_id": 3, "note": REASON},
    {"reason": "release", "cents": 50, "round_id": 1, "label_id": None, "note": None},  # settlement
    {"reason": "pay", "cents": 40, "round_id": 2, "label_id": 4, "note": None},
]


def test_ledger_rejections_are_releases_that_name_a_label():
    assert [e["label_id"] for e in qd.ledger_rejections(ENTRIES)] == [3]
    rows = qd.ledger_rejected_rows(ENTRIES)
    assert rows.to_dict("records") == [{"label": 3, "round": 1, "not paid": "$0.50", "reason": REASON}]
    assert qd.ledger_by_reason(ENTRIES)["reason"].tolist() == ["below the quality bar"]


def test_round_spend_paid_against_rejected():
    f = qd.round_spend(ENTRIES)
    got = {(r["round"], r["labels"]): (r["$"], r["count"]) for r in f.to_dict("records")}
    assert got == {(1, qd.PAID): (1.0, 2), (1, qd.REJECTED): (0.5, 1), (2, qd.PAID): (0.4, 1),
                   (2, qd.REJECTED): (0.0, 0)}
    assert qd.round_spend([]).empty


def test_flag_rows_in_words():
    f = qd.flag_rows(FLAGS)
    assert f["flag"].tolist() == ["gold answered at chance", "near-identical bids"]
    assert f["annotators"].tolist() == ["#5", "#4, #5"]

"""Unit tests of the portal's pure data shaping (ui.data): no Streamlit, no server."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from ui import data

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


# --- navigation -------------------------------------------------------------------------


def test_each_role_sees_its_own_pages():
    assert data.pages_for("annotator") == ("rounds", "label", "earnings", "lab")
    assert data.pages_for("requester") == ("campaigns", "dashboard", "quality", "lab")
    assert data.pages_for(None) == ("signin", "lab")
    assert "dashboard" not in data.pages_for("annotator")
    assert "label" not in data.pages_for("requester")


def test_admin_sees_every_signed_in_page_and_unknown_roles_only_the_lab():
    signed_in = {p for role in ("annotator", "requester", "worker") for p in data.pages_for(role)}
    assert signed_in <= set(data.pages_for("admin"))
    assert "signin" not in data.pages_for("admin")
    assert data.pages_for("auditor") == ("lab",)


# --- money, time, text ------------------------------------------------------------------


@pytest.mark.parametrize("cents, text", [(1234, "$12.34"), (5, "$0.05"), (0, "$0.00"), (-250, "-$2.50"),
                                         (123456, "$1,234.56"), (None, "—"), (float("nan"), "—"), (12.5, "$0.13")])
def test_dollars(cents, text):
    assert data.dollars(cents) == text


@pytest.mark.parametrize("dollars, cents", [(20, 2000), (12.345, 1235), (0.1 + 0.2, 30), (0.005, 1), (0.004, 0)])
def test_to_cents_rounds_half_up_on_what_was_typed(dollars, cents):
    assert data.to_cents(dollars) == cents


def test_to_cents_refuses_infinity():
    with pytest.raises(ValueError, match="amount"):
        data.to_cents(float("inf"))


@pytest.mark.parametrize("seconds, text", [(12, "12s"), (250, "4m 10s"), (3720, "1h 02m"),
                                           (2 * 86400 + 3 * 3600 + 5, "2d 3h"), (0, "past"), (-30, "past")])
def test_time_left(seconds, text):
    assert data.time_left((NOW + timedelta(seconds=seconds)).isoformat(), NOW) == text


def test_time_left_reads_z_suffix_and_naive_times_as_utc():
    assert data.time_left("2026-01-01T12:01:00Z", NOW) == "1m 00s"
    assert data.time_left("2026-01-01T12:01:00", NOW) == "1m 00s"
    assert data.time_left(None, NOW) == "—"


def test_plain_escapes_markdown_so_text_shows_as_written():
    assert data.plain("*great* film #1") == r"\*great\* film \#1"
    assert data.plain("line one\nline two") == "line one  \nline two"
    assert data.plain("") == "*(empty)*"


def test_error_messages_are_readable():
    assert data.error_message(0, "cannot reach the market at http://x:1: refused") == (
        "The market API is unreachable. Is it running? (cannot reach the market at http://x:1: refused)")
    assert "Sign in again" in data.error_message(401, "invalid bearer token")
    assert data.error_message(403, "this needs the requester role").startswith("Not allowed: ")
    assert data.error_message(422, "ask_cents: must be at least 1") == "ask_cents: must be at least 1"
    assert "(500)" in data.error_message(500, "internal error")


# --- bidding ----------------------------------------------------------------------------


def test_win_preview_counts_rounds_whose_price_was_at_least_the_ask():
    p = data.win_preview(10, [8, 10, 12, 15])
    assert (p.wins, p.rounds, p.share) == (3, 4, 0.75)
    assert "3 of the last 4" in p.text and "75%" in p.text
    assert data.win_preview(16, [8, 10, 12, 15]).wins == 0
    assert data.win_preview(1, [8, 10, 12, 15]).wins == 4


def test_win_preview_without_history_or_above_the_cap():
    empty = data.win_preview(10, [])
    assert empty.share is None and "No cleared rounds" in empty.text
    capped = data.win_preview(60, [80, 90], max_price_cents=50)
    assert capped.above_max and capped.wins == 0 and "cannot win" in capped.text


def test_suggested_ask_is_the_median_past_price_else_half_the_cap():
    assert data.suggested_ask([30, 10, 20], 50) == 20
    assert data.suggested_ask([], 50) == 25
    assert data.suggested_ask([], 1) == 1


def _round(**kw):
    r = dict(id=7, campaign_name="films", rule="second_price", demand=25, max_price_cents=50,
             deadline=(NOW + timedelta(seconds=90)).isoformat(), past_clearing_prices_cents=[12, 18], state="open",
             n_bids=None, n_assignments=0, clearing_price_cents=None, escrowed_cents=0, paid_cents=0, reason=None)
    r.update(kw)
    return r


def test_open_rounds_rows_show_own_bid_and_last_price():
    rows = data.open_rounds_rows([_round(), _round(id=8, past_clearing_prices_cents=[])],
                                 {7: {"ask_cents": 15, "capacity": 3}, 8: None}, NOW)
    assert rows["my bid"].tolist() == ["$0.15 × 3", "—"]
    assert rows["last clearing price"].tolist() == ["$0.18", "—"]
    assert rows["closes in"].tolist() == ["1m 30s", "1m 30s"]
    assert data.round_label(_round()) == "#7 · films · 25 labels"


def test_clearing_price_frame_is_in_dollars_oldest_first():
    f = data.clearing_price_frame([12, 18])
    assert f["clearing price ($)"].tolist() == [0.12, 0.18]
    assert f["cleared round (oldest first)"].tolist() == [1, 2]


# --- labelling and earnings -------------------------------------------------------------


def _assignment(i, state="done", accepted=True, price=20, confidence=None, reason="below the quality bar"):
    label = None if state != "done" else {"choice": "a", "confidence": confidence, "accepted": accepted,
                                          "paid_cents": price if accepted else 0,
                                          "reject_reason": None if accepted else reason}
    return dict(id=i, campaign_id=1, round_id=2, prompt="p" * 100, price_cents=price, state=state, label=label)


def test_label_tally_and_work_rows_separate_accepted_from_rejected():
    work = [_assignment(1, confidence=0.95), _assignment(2, accepted=False), _assignment(3, state="open"),
            _assignment(4, state="released"), _assignment(5, accepted=False, reason=None)]
    assert data.label_tally(work) == {"accepted": 1, "held": 1, "rejected": 1, "open": 1, "released": 1}
    rows = data.work_rows(work)
    assert rows["status"].tolist() == ["accepted", "rejected", "held"]  # held: no reason, waiting for the test
    assert rows["paid"].tolist() == ["$0.20", "$0.00", "$0.00"]
    assert rows["why not paid"].tolist() == ["", "below the quality bar", data.HELD]
    assert rows["confidence"].tolist() == ["95%", "—", "—"]
    assert len(rows["prompt"][0]) == 80


def test_label_message_reports_what_the_server_recorded():
    assert data.label_message({"choice": "a", "accepted": True, "paid_cents": 50}) == (
        "Label accepted: you chose A. Paid $0.50.")
    assert data.label_message({"choice": "a", "accepted": True, "replayed": True, "paid_cents": 50}) == (
        "That pair was already labelled (you chose A); nothing changed.")
    rejected = {"choice": "tie", "accepted": False, "paid_cents": 0, "reject_reason": "below the quality bar"}
    assert "not accepted" in data.label_message(rejected)
    # not accepted and no reason: held until the account's gold test ends (market.quality.acceptance)
    assert " held: " in data.label_message(rejected | {"reject_reason": None})


def test_shortcuts_avoid_streamlit_reserved_keys():
    keys = [k for _, _, k in data.CHOICES]
    assert len(set(keys)) == 3 and not {"C", "R"} & set(keys)
    assert all(0 <= v <= 1 for v in data.CONFIDENCE.values())


def test_earnings_by_campaign_reads_json_string_keys():
    f = data.earnings_by_campaign({"2": 150, "10": 25})
    assert f["campaign"].tolist() == ["#2", "#10"] and f["earned ($)"].tolist() == [1.5, 0.25]


# --- requester --------------------------------------------------------------------------


def _form(**kw):
    f = dict(name=" films ", budget_dollars=20.0, max_price_cents=50, rule="budget_feasible", acquisition="sharp",
             labels_per_item=2, round_size=25, round_duration_s=300)
    f.update(kw)
    return f


def test_campaign_fields_turn_the_form_into_cents():
    fields = data.campaign_fields(**_form())
    assert fields == dict(name="films", budget_cents=2000, max_price_cents=50, rule="budget_feasible",
                          acquisition="sharp", labels_per_item=2, round_size=25, round_duration_s=300.0)
    assert data.campaign_fields(**_form(round_budget_dollars=5.5))["round_budget_cents"] == 550


def test_campaign_fields_posted_price_only_with_its_rule():
    assert "posted_price_cents" not in data.campaign_fields(**_form(posted_price_cents=30))
    assert data.campaign_fields(**_form(rule="posted_price", posted_price_cents=30))["posted_price_cents"] == 30
    with pytest.raises(ValueError, match="posted_price_cents"):
        data.campaign_fields(**_form(rule="posted_price", posted_price_cents=0))


def test_campaign_fields_refuse_blank_name_and_unknown_rule():
    with pytest.raises(ValueError, match="name"):
        data.campaign_fields(**_form(name="  "))
    with pytest.raises(ValueError, match="rule"):
        data.campaign_fields(**_form(rule="dutch"))


def test_spend_shares_are_clipped_shares_of_the_budget():
    s = dict(budget_cents=2000, spent_cents=500, escrowed_cents=300, remaining_cents=1200)
    assert data.spend_shares(s) == {"spent": 0.25, "escrowed": 0.15, "remaining": 0.6}


def test_rounds_rows_and_price_history():
    rounds = [_round(id=9, state="open"),
              _round(id=8, state="settled", clearing_price_cents=20, n_assignments=4, n_bids=6),
              _round(id=7, state="labeling", clearing_price_cents=15, n_assignments=5)]
    rows = data.rounds_rows(rounds, NOW)
    assert rows["deadline"].tolist() == ["1m 30s", "—", "—"]
    assert rows["clearing price"].tolist() == ["—", "$0.20", "$0.15"]
    hist = data.price_history(rounds)
    assert hist["round"].tolist() == [7, 8] and hist["clearing price ($)"].tolist() == [0.15, 0.20]


def _point(spend, value, lo, hi, n=200, measured=True):
    return {"round_id": None, "spend_cents": spend, "value": value, "ci_low": lo, "ci_high": hi, "n": n,
            "measured": measured}


ORIGIN = _point(0, 0.5, 0.5, 0.5, 0, measured=False)


def _accounting(metric="win_rate", *points, cents_per_point=None, cents_to_target=None, target=60.0):
    return {"metric": metric, "curve": [ORIGIN, *points], "final": points[-1] if points else None,
            "cents_per_point": cents_per_point, "target": target, "cents_to_target": cents_to_target}


def test_metric_frame_is_the_api_curve_in_percent_and_dollars():
    f = data.metric_frame(_accounting("win_rate", _point(400, 0.52, 0.46, 0.58), _point(1200, 0.61, 0.55, 0.67)))
    assert f["spend ($)"].tolist() == [0.0, 4.0, 12.0]
    assert f["value (%)"].tolist() == pytest.approx([50.0, 52.0, 61.0])
    assert f["ci high (%)"].tolist() == pytest.approx([50.0, 58.0, 67.0])


def test_metric_headline_shows_the_apis_figures_for_either_metric():
    head = data.metric_headline(_accounting("win_rate", _point(400, 0.52, 0.46, 0.58), _point(1200, 0.61, 0.55, 0.67),
                                            cents_per_point=136.36, cents_to_target=1111.1))
    assert head == {"win rate": "61.0%", "95% CI": "55.0–67.0%", "$ per win-rate point": "$1.36",
                    "$ to reach 60%": "$11.11"}
    held = data.metric_headline(_accounting("heldout_accuracy", _point(900, 0.74, 0.7, 0.78), target=72.5,
                                            cents_per_point=50.0))
    assert held == {"held-out accuracy": "74.0%", "95% CI": "70.0–78.0%", "$ per held-out-accuracy point": "$0.50",
                    "$ to reach 72.5%": "not yet"}
    low = data.metric_headline(_accounting("win_rate", _point(400, 0.48, 0.42, 0.54)))
    assert low["$ per win-rate point"] == "≤ 50%" and low["$ to reach 60%"] == "not yet"
    assert set(data.metric_headline(_accounting("win_rate")).values()) == {"—"}


def test_to_jsonl_round_trips():
    rows = [{"prompt": "p", "chosen": "é", "rejected": "r"}, {"prompt": "q", "chosen": "c", "rejected": "r"}]
    text = data.to_jsonl(rows)
    assert text.endswith("\n") and [json.loads(line) for line in text.splitlines()] == rows

"""The four upload formats, and all-or-nothing parsing."""

from __future__ import annotations

import json

import pytest

from market.errors import Invalid
from market.upload import parse_jsonl


def lines(*objs) -> str:
    return "".join(json.dumps(o) + "\n" for o in objs)


def test_pair_format_keeps_order_gold_score_and_id():
    fmt, items = parse_jsonl(lines({"prompt": "p", "completion_a": "A", "completion_b": "B", "gold": "b",
                                    "score": 2.5, "id": 7}))
    assert fmt == "pair"
    (it,) = items
    assert (it.prompt, it.completion_a, it.completion_b, it.gold, it.score, it.external_id) == ("p", "A", "B", "b", 2.5, "7")


def test_trl_format_shuffles_sides_reproducibly_and_records_the_logged_choice():
    rows = [{"prompt": f"p{i}", "chosen": f"good {i}", "rejected": f"bad {i}"} for i in range(40)]
    fmt, items = parse_jsonl(lines(*rows))
    assert fmt == "trl"
    sides = set()
    for row, it in zip(rows, items, strict=True):
        chosen = it.completion_a if it.gold == "a" else it.completion_b
        rejected = it.completion_b if it.gold == "a" else it.completion_a
        assert (chosen, rejected) == (row["chosen"], row["rejected"])
        sides.add(it.gold)
    assert sides == {"a", "b"}  # both orders occur
    assert [it.gold for it in parse_jsonl(lines(*rows))[1]] == [it.gold for it in items]


def test_hh_transcripts_split_at_the_last_assistant_turn():
    chosen = "\n\nHuman: Hi\n\nAssistant: Hello\n\nHuman: Tell me a joke\n\nAssistant: Why did the chicken..."
    rejected = "\n\nHuman: Hi\n\nAssistant: Hello\n\nHuman: Tell me a joke\n\nAssistant: No."
    fmt, (it,) = parse_jsonl(lines({"chosen": chosen, "rejected": rejected}))
    assert fmt == "hh"
    assert it.prompt == "\n\nHuman: Hi\n\nAssistant: Hello\n\nHuman: Tell me a joke\n\nAssistant:"
    assert {it.completion_a, it.completion_b} == {"Why did the chicken...", "No."}
    assert (it.completion_a if it.gold == "a" else it.completion_b) == "Why did the chicken..."


def test_prompts_alone_have_no_completions():
    fmt, items = parse_jsonl(lines({"prompt": "one"}, {"prompt": "two"}) + "\n\n")
    assert fmt == "prompt" and [i.completion_a for i in items] == [None, None]


@pytest.mark.parametrize(
    "text, line, words",
    [
        (lines({"prompt": "p"}) + "oops\n", 2, "not valid JSON"),
        ("\n" + lines({"prompt": "p"}) + '"str"\n', 3, "JSON object"),
        (lines({"chosen": "no turns", "rejected": "x"}), 1, "Human"),
        (lines({"chosen": "\n\nHuman: hi", "rejected": "\n\nHuman: hi\n\nAssistant: yo"}), 1, "Assistant"),
        (lines({"chosen": "\n\nHuman: hi\n\nAssistant:  ", "rejected": "\n\nHuman: hi\n\nAssistant: yo"}), 1, "empty"),
        (lines({"prompt": "p", "chosen": "c", "rejected": 3}), 1, "'rejected'"),
        (lines({"prompt": "p", "completion_a": "a", "completion_b": "b"}, {"prompt": "p"}), 2, "differs from line 1"),
        (lines({"prompt": "p", "completion_a": "a", "completion_b": "b", "gold": "c"}), 1, "gold"),
        (lines({"prompt": "p", "score": float("inf")}).replace("Infinity", "1e999"), 1, "score"),
    ],
)
def test_bad_lines_are_named(text, line, words):
    with pytest.raises(Invalid) as e:
        parse_jsonl(text)
    assert f"line {line}:" in e.value.detail and words in e.value.detail


def test_upload_through_api_counts_and_formats(market):
    req = market.requester()
    c = req.create_campaign(name="c", budget_cents=100, max_price_cents=10, rule="first_price")
    out = req.upload_items(c["id"], lines({"chosen": "\n\nHuman: a\n\nAssistant: b", "rejected": "\n\nHuman: a\n\nAssistant: c"}))
    assert out["format"] == "hh" and out["imported"] == 1
    out = req.upload_items(c["id"], lines({"prompt": "x"}, {"prompt": "y"}))
    assert out == {"campaign_id": c["id"], "imported": 2, "format": "prompt"}
    items = req.list_items(c["id"])
    assert [i["position"] for i in items] == [0, 1, 2]
    req.set_completions(c["id"], [{"item_id": items[1]["id"], "completion_a": "A", "completion_b": "B"}])
    r = req.open_round(c["id"])
    assert sorted(r["item_ids"]) == [items[0]["id"], items[1]["id"]]  # the bare prompt y is not offered
    from market.client import MarketError

    with pytest.raises(MarketError) as e:  # offered pairs are frozen
        req.set_completions(c["id"], [{"item_id": items[1]["id"], "completion_a": "A2", "completion_b": "B2"}])
    assert e.value.status == 409

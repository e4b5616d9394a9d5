"""The four upload formats, and all-or-nothing parsing."""

from __future__ import annotations

import gzip
import json

import pytest
from typer.testing import CliRunner

from app import cli
from market.client import MarketClient, MarketError
from market.errors import Invalid
from market.upload import parse_held_out, parse_jsonl, parse_lines, read_text


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
    assert out == {"campaign_id": c["id"], "imported": 2, "format": "prompt", "refused": []}
    items = req.list_items(c["id"])
    assert [i["position"] for i in items] == [0, 1, 2]
    req.set_completions(c["id"], [{"item_id": items[1]["id"], "completion_a": "A", "completion_b": "B"}])
    r = req.open_round(c["id"])
    assert sorted(r["item_ids"]) == [items[0]["id"], items[1]["id"]]  # the bare prompt y is not offered
    with pytest.raises(MarketError) as e:  # offered pairs are frozen
        req.set_completions(c["id"], [{"item_id": items[1]["id"], "completion_a": "A2", "completion_b": "B2"}])
    assert e.value.status == 409


HH_OK = {"chosen": "\n\nHuman: hi\n\nAssistant: hello", "rejected": "\n\nHuman: hi\n\nAssistant: go away"}
HH_EMPTY = {"chosen": "\n\nHuman: how do I hurt someone?\n\nAssistant: ",
            "rejected": "\n\nHuman: how do I hurt someone?\n\nAssistant: Here is how."}


def test_skip_invalid_keeps_good_lines_and_reports_every_bad_one_with_its_number():
    text = lines(HH_OK, HH_EMPTY) + "not json\n\n" + lines({"prompt": "p"}, HH_OK)
    with pytest.raises(Invalid) as e:
        parse_lines(text)
    assert e.value.detail.startswith("line 2:") and "empty assistant reply" in e.value.detail
    parsed = parse_lines(text, skip_invalid=True)
    assert parsed.format == "hh" and len(parsed.pairs) == 2
    assert [n for n, _ in parsed.refused] == [2, 3, 5]
    reasons = dict(parsed.refused)
    assert "empty assistant reply" in reasons[2] and "JSON" in reasons[3] and "differs from line 1" in reasons[5]
    assert parse_jsonl(lines(HH_OK))[0] == "hh"


def test_an_upload_whose_every_line_is_bad_is_refused_even_when_skipping():
    with pytest.raises(Invalid) as e:
        parse_lines(lines(HH_EMPTY, HH_EMPTY), skip_invalid=True)
    assert "every line was refused (2)" in e.value.detail and "line 1:" in e.value.detail


def test_held_out_sets_keep_empty_replies_but_need_a_logged_preference():
    (it,) = parse_held_out(lines(HH_EMPTY)).pairs
    chosen = it.completion_a if it.gold == "a" else it.completion_b
    assert chosen == "" and it.prompt.endswith("Assistant:")
    parsed = parse_held_out(lines({"prompt": "p", "completion_a": "x", "completion_b": "y"},
                                  {"prompt": "p", "completion_a": "x", "completion_b": "y", "gold": "b"},
                                  {"prompt": "p", "completion_a": "x", "completion_b": "x", "gold": "a"}),
                            skip_invalid=True)
    assert len(parsed.pairs) == 1 and [n for n, _ in parsed.refused] == [1, 3]
    assert "logged preference" in parsed.refused[0][1] and "identical" in parsed.refused[1][1]


def test_read_text_reads_gzip_by_its_magic_bytes_and_names_the_file_in_errors(tmp_path):
    body = lines(HH_OK, HH_EMPTY)
    plain, packed, misnamed = tmp_path / "a.jsonl", tmp_path / "a.jsonl.gz", tmp_path / "b.jsonl"
    plain.write_text(body)
    packed.write_bytes(gzip.compress(body.encode()))
    misnamed.write_bytes(gzip.compress(body.encode()))
    assert read_text(plain) == read_text(packed) == read_text(misnamed) == body
    broken = tmp_path / "broken.jsonl.gz"
    broken.write_bytes(gzip.compress(body.encode())[:30])
    for path, words in [(broken, "gzip"), (tmp_path / "missing.jsonl", "no such file"), (tmp_path, "folder")]:
        with pytest.raises(ValueError) as e:
            read_text(path)
        assert str(path) in str(e.value) and words in str(e.value)
    with pytest.raises(ValueError) as e:
        read_text(packed, max_bytes=10)
    assert "decompressed" in str(e.value) and "split" in str(e.value)
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(ValueError, match="UTF-8"):
        read_text(latin)


def test_api_skip_invalid_imports_the_good_lines_and_lists_the_refused(market):
    req = market.requester()
    c = req.create_campaign(name="c", budget_cents=100, max_price_cents=10, rule="first_price")
    text = lines(HH_OK, HH_EMPTY, HH_OK)
    with pytest.raises(MarketError) as e:
        req.upload_items(c["id"], text)
    assert e.value.status == 422 and "line 2:" in e.value.detail and req.list_items(c["id"]) == []
    out = req.upload_items(c["id"], text, skip_invalid=True)
    assert out["imported"] == 2 and out["format"] == "hh"
    assert [r["line"] for r in out["refused"]] == [2] and "empty" in out["refused"][0]["reason"]
    assert len(req.list_items(c["id"])) == 2 and all(i["completion_a"] and i["completion_b"]
                                                     for i in req.list_items(c["id"]))


runner = CliRunner()


@pytest.fixture
def cli_market(monkeypatch, http, market):
    monkeypatch.setattr(cli, "_client", lambda url, token: MarketClient("http://testserver", token, transport=http))
    req = market.requester()
    c = req.create_campaign(name="c", budget_cents=100, max_price_cents=10, rule="first_price")
    return req, c["id"]


def test_cli_uploads_gzip_and_writes_the_refused_lines_beside_the_input(cli_market, tmp_path):
    req, cid = cli_market
    src = tmp_path / "hh.jsonl.gz"
    src.write_bytes(gzip.compress(lines(HH_OK, HH_EMPTY, HH_OK).encode()))
    tok = ["--token", req.token]
    out = runner.invoke(cli.app, ["campaign", "upload", str(cid), str(src), *tok])
    assert out.exit_code == 1 and "line 2:" in out.output and "Traceback" not in out.output
    out = runner.invoke(cli.app, ["campaign", "upload", str(cid), str(src), "--skip-invalid", *tok])
    assert out.exit_code == 0, out.output
    dest = tmp_path / "hh.jsonl.gz.refused.jsonl"
    assert "imported 2 items" in out.output and "refused 1 lines" in out.output and dest.name in out.output
    (row,) = [json.loads(x) for x in dest.read_text().splitlines()]
    assert row["line"] == 2 and "empty" in row["reason"] and json.loads(row["text"]) == HH_EMPTY
    assert len(req.list_items(cid)) == 2


def test_cli_writes_refused_lines_to_the_current_folder_when_the_input_folder_is_read_only(
        cli_market, tmp_path, monkeypatch):
    req, cid = cli_market
    data, work = tmp_path / "data", tmp_path / "work"
    data.mkdir()
    work.mkdir()
    src = data / "hh.jsonl"
    src.write_text(lines(HH_EMPTY, HH_OK))
    data.chmod(0o555)
    monkeypatch.chdir(work)
    try:
        out = runner.invoke(cli.app, ["campaign", "upload", str(cid), str(src), "--skip-invalid",
                                      "--token", req.token])
    finally:
        data.chmod(0o755)
    assert out.exit_code == 0, out.output
    assert (work / "hh.jsonl.refused.jsonl").exists() and not (data / "hh.jsonl.refused.jsonl").exists()


def test_cli_names_a_missing_or_broken_file(cli_market, tmp_path):
    req, cid = cli_market
    bad = tmp_path / "x.jsonl.gz"
    bad.write_bytes(b"\x1f\x8b not really")
    for path in (tmp_path / "nope.jsonl", bad):
        out = runner.invoke(cli.app, ["campaign", "upload", str(cid), str(path), "--token", req.token])
        assert out.exit_code == 1 and str(path) in out.output and "Traceback" not in out.output

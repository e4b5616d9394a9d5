"""The prefmarket CLI: bootstrap on the database, everything else through the API."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from app import cli
from market.client import MarketClient

runner = CliRunner()


@pytest.fixture
def via_test_client(monkeypatch, http):
    monkeypatch.setattr(cli, "_client", lambda url, token: MarketClient("http://testserver", token, transport=http))


def test_admin_create_account_bootstraps_the_database(tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    out = runner.invoke(cli.app, ["admin", "create-account", "--name", "root", "--database-url", url, "--json"])
    assert out.exit_code == 0, out.output
    acct = json.loads(out.output)
    assert acct["role"] == "admin" and acct["token"].startswith("pm_")
    bad = runner.invoke(cli.app, ["admin", "create-account", "--name", "x", "--role", "king", "--database-url", url])
    assert bad.exit_code == 1 and "role" in bad.output and "Traceback" not in bad.output


def test_campaign_commands_round_trip(via_test_client, market, pairs, tmp_path):
    req = market.requester()
    tok = ["--token", req.token]
    out = runner.invoke(cli.app, ["campaign", "create", "--name", "cli", "--budget-cents", "500",
                                  "--max-price-cents", "40", "--rule", "second_price", "--round-size", "3", *tok])
    assert out.exit_code == 0, out.output
    cid = req.list_campaigns()[0]["id"]
    f = tmp_path / "items.jsonl"
    f.write_text(pairs(3))
    out = runner.invoke(cli.app, ["campaign", "upload", str(cid), str(f), *tok])
    assert out.exit_code == 0 and "imported 3" in out.output, out.output
    out = runner.invoke(cli.app, ["campaign", "open-round", str(cid), "--duration-s", "60", *tok])
    assert out.exit_code == 0 and "3 labels wanted" in out.output, out.output
    rid = req.list_rounds(campaign_id=cid)[0]["id"]
    ann = market.annotators(1)[0]
    ann.place_bid(rid, 12, capacity=3)
    out = runner.invoke(cli.app, ["campaign", "close-round", str(rid), *tok])
    assert out.exit_code == 0 and "3 assignments" in out.output, out.output
    for a in ann.my_assignments():
        ann.submit_label(a["id"], "b")
    out = runner.invoke(cli.app, ["campaign", "status", str(cid), *tok])
    assert out.exit_code == 0 and "3 labels" in out.output and "balanced: True" in out.output, out.output
    dest = tmp_path / "out.jsonl"
    out = runner.invoke(cli.app, ["campaign", "export", str(cid), "--out", str(dest), *tok])
    assert out.exit_code == 0, out.output
    rows = [json.loads(x) for x in dest.read_text().splitlines()]
    assert len(rows) == 3 and all(r["chosen"].startswith("Bad film") for r in rows)


def test_cli_errors_say_what_to_fix(via_test_client, market):
    out = runner.invoke(cli.app, ["campaign", "status", "1", "--token", "pm_bogus"])
    assert out.exit_code == 1 and "401" in out.output and "token" in out.output
    assert "Traceback" not in out.output
    out = runner.invoke(cli.app, ["campaign", "status", "1"], env={"PREFMARKET_TOKEN": ""})
    assert out.exit_code == 1 and "PREFMARKET_TOKEN" in out.output


def test_cli_unreachable_server():
    out = runner.invoke(cli.app, ["campaign", "status", "1", "--url", "http://127.0.0.1:9", "--token", "pm_x"])
    assert out.exit_code == 1 and "prefmarket serve" in out.output and "Traceback" not in out.output

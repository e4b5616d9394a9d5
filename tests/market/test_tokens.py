"""Tokens: list, revoke, rotate, expire; revocation holds at once in every server process."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from market import clock, db
from market.api.app import create_app
from market.client import MarketClient, MarketError


def _status(call) -> int:
    with pytest.raises(MarketError) as e:
        call()
    return e.value.status


def test_the_list_shows_each_token_and_which_is_in_use_never_a_secret(market):
    bob, acct = market.account("bob", "annotator")
    second = market.admin.new_token(acct["id"])
    rows = bob.list_tokens()
    assert [r["id"] for r in rows] == sorted(r["id"] for r in rows) and len(rows) == 2
    assert [r["current"] for r in rows] == [True, False]
    assert {r["status"] for r in rows} == {"active"} and {r["account_id"] for r in rows} == {acct["id"]}
    text = repr(rows)
    assert bob.token not in text and second["token"] not in text and "token_hash" not in text
    assert market.admin.with_token(second["token"]).list_tokens()[1]["current"]


def test_a_revoked_token_is_refused_at_once_by_another_server_process(database_url, admin_token):
    """Two apps on two engines (as two uvicorn workers): both served the token before, then one
    revokes it and the other refuses it on the very next request (no cache survives it)."""
    engines = [db.make_engine(database_url) for _ in range(2)]
    apps = [create_app(e) for e in engines]
    with TestClient(apps[0]) as h0, TestClient(apps[1]) as h1:
        admin = MarketClient("http://testserver", admin_token, transport=h0)
        acct = admin.create_account("bot", "annotator")
        on0 = admin.with_token(acct["token"])
        on1 = MarketClient("http://testserver", acct["token"], transport=h1)
        for _ in range(3):  # both processes have seen and accepted the token
            assert on0.me()["id"] == on1.me()["id"] == acct["id"]
        (mine,) = on0.list_tokens()
        revoked = on0.revoke_token(mine["id"])
        assert revoked["status"] == "revoked" and revoked["revoked_at"] is not None
        with pytest.raises(MarketError) as e:
            on1.me()
        assert e.value.status == 401 and "revoked" in e.value.detail
        assert _status(on0.me) == 401
        # idempotent: revoking again keeps the first time (an admin may, the owner no longer can)
        again = admin.revoke_token(mine["id"])
        assert again["revoked_at"] == revoked["revoked_at"]
    for e in engines:
        e.dispose()


def test_an_expired_token_is_refused(market, monkeypatch):
    _, acct = market.account("temp", "worker")
    t0 = clock.now()
    issued = market.admin.new_token(acct["id"], expires_at=t0 + timedelta(hours=1))
    temp = market.admin.with_token(issued["token"])
    assert temp.me()["id"] == acct["id"]
    monkeypatch.setattr(clock, "now", lambda: t0 + timedelta(hours=2))
    with pytest.raises(MarketError) as e:
        temp.me()
    assert e.value.status == 401 and "expired" in e.value.detail
    row = next(r for r in market.admin.list_tokens(acct["id"]) if r["id"] == issued["id"])
    assert row["status"] == "expired"
    assert _status(lambda: market.admin.rotate_token(issued["id"])) == 409  # issue a new one instead


def test_an_expiry_in_the_past_is_refused_and_changes_nothing(market, snapshot):
    _, acct = market.account("x", "annotator")
    before = snapshot()
    for call in (lambda: market.admin.new_token(acct["id"], expires_at=clock.now() - timedelta(seconds=1)),
                 lambda: market.admin.create_account("y", "annotator", expires_at="2001-01-01T00:00:00Z")):
        with pytest.raises(MarketError) as e:
            call()
        assert e.value.status == 422 and "expires_at" in e.value.detail
    with pytest.raises(MarketError) as e:
        market.admin.new_token(acct["id"], expires_at="next tuesday")
    assert e.value.status == 422 and "expires_at" in e.value.detail
    assert snapshot() == before


def test_rotation_issues_a_new_token_and_retires_the_old_one(market):
    later = clock.now() + timedelta(days=30)
    _, acct = market.account("w", "worker")
    old = market.admin.new_token(acct["id"], expires_at=later)
    client = market.admin.with_token(old["token"])
    new = client.rotate_token(old["id"])
    assert new["account_id"] == acct["id"] and new["token"] != old["token"] and new["id"] != old["id"]
    assert new["expires_at"] == old["expires_at"]  # the old one's expiry carries over
    assert _status(client.me) == 401
    fresh = client.with_token(new["token"])
    assert fresh.me()["id"] == acct["id"]
    rows = {r["id"]: r for r in fresh.list_tokens()}
    assert rows[old["id"]]["status"] == "revoked" and rows[new["id"]]["status"] == "active"
    assert _status(lambda: fresh.rotate_token(old["id"])) == 409  # a retired token stays retired
    shorter = fresh.rotate_token(new["id"], expires_at=clock.now() + timedelta(days=1))
    assert shorter["expires_at"] != new["expires_at"]


def test_two_rotations_of_one_token_issue_one_successor(app, market):
    _, acct = market.account("racer", "annotator")
    tok = market.admin.new_token(acct["id"])
    codes: list[int] = []

    def rotate():
        with TestClient(app, raise_server_exceptions=False) as h:
            codes.append(h.post(f"/v1/tokens/{tok['id']}/rotate", headers={"Authorization": f"Bearer {tok['token']}"},
                                json={}).status_code)

    threads = [threading.Thread(target=rotate) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) in ([201, 401], [201, 409])  # the loser finds it revoked (at auth or in the route)
    rows = market.admin.list_tokens(acct["id"])
    assert [r["status"] for r in rows].count("active") == 2  # the first token and one successor


def test_someone_elses_tokens_answer_404_and_admins_manage_anyones(market, snapshot):
    alice, a = market.account("alice", "requester")
    bob, b = market.account("bob", "requester")
    (bobs,) = bob.list_tokens()
    before = snapshot()
    for call in (lambda: alice.revoke_token(bobs["id"]), lambda: alice.rotate_token(bobs["id"]),
                 lambda: alice.list_tokens(b["id"]), lambda: alice.revoke_token(10**9)):
        with pytest.raises(MarketError) as e:
            call()
        assert e.value.status == 404 and "not found" in e.value.detail
    assert snapshot() == before
    assert [r["id"] for r in market.admin.list_tokens(b["id"])] == [bobs["id"]]
    assert _status(lambda: market.admin.list_tokens(10**9)) == 404
    market.admin.revoke_token(bobs["id"])
    assert _status(bob.me) == 401
    assert alice.me()["id"] == a["id"]


def test_the_token_commands_list_rotate_and_revoke(monkeypatch, http, market):
    import json

    from typer.testing import CliRunner

    from app import cli

    monkeypatch.setattr(cli, "_client", lambda url, token: MarketClient("http://testserver", token, transport=http))
    runner = CliRunner()
    bob, acct = market.account("bob", "annotator")
    out = runner.invoke(cli.app, ["token", "list", "--json", "--token", bob.token])
    assert out.exit_code == 0, out.output
    (first,) = json.loads(out.output)
    assert first["current"] and first["status"] == "active"
    out = runner.invoke(cli.app, ["token", "rotate", "--expires-in-days", "7", "--json", "--token", bob.token])
    assert out.exit_code == 0, out.output
    new = json.loads(out.output)
    assert new["expires_at"] and _status(bob.me) == 401
    fresh = bob.with_token(new["token"])
    assert fresh.me()["id"] == acct["id"]
    out = runner.invoke(cli.app, ["token", "list", "--token", new["token"]])
    assert out.exit_code == 0 and "revoked" in out.output and new["token"] not in out.output, out.output
    bad = runner.invoke(cli.app, ["token", "rotate", "--expires-in-days", "-1", "--token", new["token"]])
    assert bad.exit_code == 1 and "--expires-in-days" in bad.output and "Traceback" not in bad.output
    gone = runner.invoke(cli.app, ["token", "revoke", str(first["id"] + 10**6), "--token", new["token"]])
    assert gone.exit_code == 1 and "404" in gone.output
    out = runner.invoke(cli.app, ["token", "revoke", str(new["id"]), "--token", new["token"]])
    assert out.exit_code == 0 and "revoked" in out.output, out.output
    assert _status(fresh.me) == 401

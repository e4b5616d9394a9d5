"""Sign-in, role navigation and readable errors, against the real API (AppTest)."""

from __future__ import annotations

from tests.ui.apptest import button, can_open, click, errors, goto, portal, signed_in
from ui import data, navigation


def test_every_page_a_role_sees_has_a_title_and_a_view():
    views = navigation.views()
    for page in {p for role in data.ROLE_PAGES for p in data.pages_for(role)}:
        assert data.PAGE_TITLES[page] and callable(views[page]), page


def test_signed_out_sees_sign_in_and_the_lab_only(api_env):
    at = portal()
    assert at.title[0].value == "prefmarket"
    assert [t.label for t in at.text_input] == ["API token"]  # the address is the operator's, not a field
    assert f"API: {api_env.url}" in [c.value for c in at.sidebar.caption]
    assert can_open(at, "lab") and not can_open(at, "rounds") and not can_open(at, "dashboard")


def test_a_bad_token_is_a_readable_error_not_a_traceback(api_env):
    at = portal()
    at.text_input(key="signin_token").input("pm_not-a-real-token")
    click(at, "Sign in")
    assert any("Your token was not accepted" in e and "invalid bearer token" in e for e in errors(at))
    assert "account" not in at.session_state
    at.text_input(key="signin_token").input("  ")
    click(at, "Sign in")
    assert "Paste your API token (it starts with pm_)." in errors(at)


def test_an_unreachable_api_is_a_readable_error(api_env, market, monkeypatch):
    monkeypatch.setenv("PREFMARKET_API_URL", "http://127.0.0.1:9")  # discard port: nothing listens
    at = portal()
    at.text_input(key="signin_token").input(market.annotator_acct["token"])
    click(at, "Sign in")
    assert any("unreachable" in e and "http://127.0.0.1:9:" in e for e in errors(at)), errors(at)
    assert "account" not in at.session_state


def test_annotator_lands_on_open_rounds_with_annotator_pages_only(api_env, market):
    at = signed_in(market.annotator_acct["token"])
    assert at.title[0].value == "Open rounds"
    assert any(market.annotator_acct["name"] in m.value for m in at.sidebar.markdown)
    for page in ("rounds", "label", "earnings", "lab"):
        assert can_open(at, page), page
    for page in ("campaigns", "dashboard", "accounts", "signin"):
        assert not can_open(at, page), page


def test_requester_lands_on_campaigns_and_cannot_open_annotator_pages(api_env, market):
    at = signed_in(market.requester_acct["token"])
    assert at.title[0].value == "Campaigns"
    assert can_open(at, "dashboard") and not can_open(at, "label") and not can_open(at, "rounds")


def test_sign_out_forgets_the_token(api_env, market):
    at = signed_in(market.annotator_acct["token"])
    button(at, "Sign out").click().run()
    assert "token" not in at.session_state and "account" not in at.session_state
    assert at.title[0].value == "prefmarket"
    assert not can_open(at, "rounds")


def test_admin_creates_an_account_whose_token_signs_in(api_env):
    admin_token = api_env.admin.token
    at = signed_in(admin_token)
    assert at.title[0].value == "Accounts"
    at.text_input(key="acct_name").input("portal-made annotator")
    at.selectbox(key="acct_role").select("annotator")
    click(at, "Create account")
    token = at.code[0].value
    assert token.startswith("pm_")
    assert "not shown again" in at.success[0].value
    at.run()
    assert not at.code  # shown once
    other = signed_in(token)
    assert other.session_state["account"]["name"] == "portal-made annotator"
    goto(at, "dashboard")  # the admin may see every page
    assert at.title[0].value == "Dashboard"


def test_admin_may_look_at_annotator_pages_and_reads_why_it_cannot_act(api_env, market):
    market.requester.open_round(market.campaign["id"])
    at = signed_in(api_env.admin.token)
    goto(at, "rounds")
    assert at.dataframe[0].value["round"].size >= 1
    assert "Only annotator accounts place bids." in [i.value for i in at.info]
    goto(at, "label")
    assert any(e.startswith("Not allowed: ") and "annotator" in e for e in errors(at)), errors(at)


def test_a_token_the_api_stops_accepting_signs_the_session_out(api_env, market):
    at = signed_in(market.annotator_acct["token"])
    at.session_state["token"] = "pm_revoked"  # as if the token had been revoked server side
    at.run()
    assert not at.exception
    assert at.title[0].value == "prefmarket" and "account" not in at.session_state
    assert any("Your token was not accepted" in e for e in errors(at))

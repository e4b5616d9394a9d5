"""Helpers for driving the portal with Streamlit's AppTest (same process as the test API)."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest
from streamlit.util import calc_hash

from tests.ui.live import PORTAL


def portal() -> AppTest:
    """The portal, first run done (signed out). The API address comes from the env."""
    return AppTest.from_file(PORTAL, default_timeout=30).run()


def signed_in(token: str) -> AppTest:
    """The portal after signing in with ``token`` through the sign-in form."""
    at = portal()
    at.text_input(key="signin_token").input(token)
    button(at, "Sign in").click().run()
    assert not at.exception, at.exception
    assert at.session_state["account"], errors(at)
    return at


def button(at: AppTest, label: str):
    """The one button with ``label`` on the page (fails loudly if absent or ambiguous)."""
    found = [b for b in at.button if b.label == label]
    assert len(found) == 1, f"{len(found)} buttons labelled {label!r}; have {[b.label for b in at.button]}"
    return found[0]


def click(at: AppTest, label: str) -> AppTest:
    button(at, label).click().run()
    assert not at.exception, at.exception
    return at


def goto(at: AppTest, page: str) -> AppTest:
    """Open the portal's page called ``page``, as its link in the sidebar would.

    ``AppTest.switch_page`` reaches only pages made from files, and the portal's pages are
    view functions (``ui.navigation``), which ``st.navigation`` keys by the hash of their
    URL path. AppTest keeps the page it will ask for in ``_page_hash`` and the page a run
    ended on in ``_finished_page_script_hash`` (streamlit is pinned); the last assertion
    catches a Streamlit that no longer reads them, instead of testing the wrong page."""
    at._page_hash = calc_hash(page)
    at.run()
    assert not at.exception, at.exception
    assert at._finished_page_script_hash == calc_hash(page), f"the portal did not open {page!r}"
    return at


def texts(elements) -> list[str]:
    return [e.value for e in elements]


def errors(at: AppTest) -> list[str]:
    return texts(at.error)


def successes(at: AppTest) -> list[str]:
    return texts(at.success)


def metric(at: AppTest, label: str) -> str:
    found = [m.value for m in at.metric if m.label == label]
    assert len(found) == 1, f"no single metric {label!r}; have {[m.label for m in at.metric]}"
    return found[0]


def can_open(at: AppTest, page: str) -> bool:
    """Whether the last run's navigation offered ``page`` to the signed-in role (the pages
    ``st.navigation`` registered, which is what the sidebar lists)."""
    return calc_hash(page) in at._registered_pages

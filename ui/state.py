"""Who is signed in, to which API: the portal's per-browser-session state.

A session holds only the bearer token (in ``st.session_state``, server side, never in the
URL); the account comes from ``GET /v1/me``. The API address is fixed per portal process
by ``PREFMARKET_API_URL``. One ``MarketClient`` per API address is shared by all
sessions (``st.cache_resource``: one connection pool) and each session uses it through
``with_token``, so a token never leaks into another session's requests.
"""

from __future__ import annotations

import streamlit as st

from market.client import MarketClient
from ui.settings import api_url


@st.cache_resource(show_spinner=False)
def _shared_client(url: str) -> MarketClient:
    return MarketClient(url, None, timeout=15.0)


def client() -> MarketClient:
    """The signed-in session's client (anonymous before sign-in)."""
    return _shared_client(api_url()).with_token(st.session_state.get("token"))


def account() -> dict | None:
    """The signed-in account (``id``, ``name``, ``role``), or None."""
    return st.session_state.get("account")


def sign_in(token: str) -> dict:
    """Check ``token`` against ``/v1/me`` and remember it; raises ``MarketError`` if refused."""
    acct = _shared_client(api_url()).with_token(token).me()
    st.session_state.update(token=token, account=acct)
    return acct


def sign_out() -> None:
    """Forget the token and everything the pages remembered for this account."""
    st.session_state.clear()

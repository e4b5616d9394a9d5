"""Who is signed in, to which API: the portal's per-browser-session state.

A session holds only the API address and the bearer token (in ``st.session_state``); the
account comes from ``GET /v1/me``. One ``MarketClient`` per API address is shared by all
sessions (``st.cache_resource``: one connection pool) and each session uses it through
``with_token``, so a token never leaks into another session's requests.
"""

from __future__ import annotations

import os

import streamlit as st

from market.client import MarketClient

API_URL_ENV = "PREFMARKET_API_URL"
DEFAULT_API_URL = "http://127.0.0.1:8000"


def default_api_url() -> str:
    """The API the portal was started against (``prefmarket portal --api-url``)."""
    return os.environ.get(API_URL_ENV) or DEFAULT_API_URL


def api_url() -> str:
    return st.session_state.get("api_url") or default_api_url()


@st.cache_resource(show_spinner=False)
def _shared_client(url: str) -> MarketClient:
    return MarketClient(url, None, timeout=15.0)


def client() -> MarketClient:
    """The signed-in session's client (anonymous before sign-in)."""
    return _shared_client(api_url()).with_token(st.session_state.get("token"))


def account() -> dict | None:
    """The signed-in account (``id``, ``name``, ``role``), or None."""
    return st.session_state.get("account")


def role() -> str | None:
    acct = account()
    return acct["role"] if acct else None


def sign_in(token: str, url: str | None = None) -> dict:
    """Check ``token`` against ``/v1/me`` and remember it; raises ``MarketError`` if refused."""
    url = (url or api_url()).strip().rstrip("/")
    acct = _shared_client(url).with_token(token).me()
    st.session_state.update(api_url=url, token=token, account=acct)
    return acct


def sign_out() -> None:
    """Forget the token and everything the pages remembered for this account."""
    url = st.session_state.get("api_url")
    st.session_state.clear()
    if url:
        st.session_state["api_url"] = url

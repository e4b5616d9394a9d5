"""API calls with readable errors, and flash messages that survive a rerun.

``fetch`` is for what a page needs to draw: on a ``MarketError`` it shows the message and
stops the page (there is nothing sensible to draw without the data). ``act`` is for
button callbacks: it records success or the error as a flash message that the page shows
at its top on the rerun that follows the click. Neither ever shows a traceback.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from market.client import MarketError
from ui import data, state

_FLASH = "_flash"


def readable(err: MarketError) -> str:
    return data.error_message(err.status, err.detail)


def _refused(err: MarketError) -> None:
    """Show a failed page read and stop the page. A token the API no longer accepts (401)
    signs the session out, so the rerun lands on the sign-in page with the reason."""
    if err.status == 401 and state.account() is not None:
        state.sign_out()
        flash("error", readable(err))
        st.rerun()
    st.error(readable(err))
    st.stop()


def fetch(fn: Callable[..., Any], *args, **kwargs) -> Any:
    """Call the API for page data; on failure show the reason and stop this page."""
    try:
        return fn(*args, **kwargs)
    except MarketError as err:
        _refused(err)


def fetch_or_none(fn: Callable[..., Any], *args, missing: int = 404, **kwargs) -> Any:
    """Like ``fetch``, but an answer of status ``missing`` (e.g. no bid yet) is ``None``."""
    try:
        return fn(*args, **kwargs)
    except MarketError as err:
        if err.status == missing:
            return None
        _refused(err)


def flash(kind: str, message: str) -> None:
    """Queue a message (``success``, ``info``, ``warning`` or ``error``) for the next draw."""
    st.session_state.setdefault(_FLASH, []).append((kind, message))


def show_flash() -> None:
    """Draw and forget queued messages; call at the top of every page."""
    for kind, message in st.session_state.pop(_FLASH, []):
        getattr(st, kind)(message)


def act(fn: Callable[..., Any], *args, success: str | Callable[[Any], str] | None = None, **kwargs) -> Any:
    """Run a change from a callback; flash ``success`` (text, or built from the result) or
    the API's reason. Returns the result (True for a call that returns nothing), or None
    when it failed."""
    try:
        result = fn(*args, **kwargs)
    except MarketError as err:
        if err.status == 401 and state.account() is not None:
            state.sign_out()  # the rerun after this callback shows the sign-in page
        flash("error", readable(err))
        return None
    except ValueError as err:  # a form value the page itself refuses (see ui.data)
        flash("error", str(err))
        return None
    if success is not None:
        flash("success", success(result) if callable(success) else success)
    return result if result is not None else True


def require_account() -> dict:
    """The signed-in account; a page reached without one says so and stops."""
    acct = state.account()
    if acct is None:
        st.warning("Sign in first.")
        st.stop()
    return acct

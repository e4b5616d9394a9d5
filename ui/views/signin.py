"""Sign-in: paste the API token an admin issued (``pm_...``); the role decides the pages.

The API address is the operator's choice (``prefmarket portal --api-url``), not a form
field: a portal that fetched whatever URL a visitor typed would let anyone make its
server send requests (with their token) to any host it can reach."""

from __future__ import annotations

import streamlit as st

from ui import state
from ui.views.common import act, flash, show_flash


def _sign_in() -> None:
    token = (st.session_state.get("signin_token") or "").strip()
    if not token:
        flash("error", "Paste your API token (it starts with pm_).")
        return
    act(state.sign_in, token)


def page() -> None:
    st.title("prefmarket")
    st.markdown(
        "A sealed-bid market for preference labels. **Annotators** name their price per label "
        "and label the pairs they win; **requesters** fund campaigns and watch their dollars turn "
        "into win rate. The **economist lab** needs no account."
    )
    show_flash()
    with st.form("signin", border=True):
        st.text_input("API token", type="password", placeholder="pm_…", key="signin_token",
                      help="An admin creates your account and gives you its token (shown once).")
        st.form_submit_button("Sign in", type="primary", on_click=_sign_in)

"""Admin page: create accounts and issue tokens (each token is shown once, here)."""

from __future__ import annotations

import streamlit as st

from ui import state
from ui.views.common import act, require_account, show_flash

ROLES = ("annotator", "requester", "worker", "admin")
_NEW_TOKEN = "_new_token"  # (who, token) to show once, then forget


def _create_account() -> None:
    name, role = st.session_state["acct_name"].strip(), st.session_state["acct_role"]
    created = act(state.client().create_account, name, role)
    if created:
        st.session_state[_NEW_TOKEN] = (f"{created['name']} ({created['role']}, account #{created['id']})",
                                        created["token"])


def _new_token() -> None:
    account_id = int(st.session_state["token_account"])
    issued = act(state.client().new_token, account_id)
    if issued:
        st.session_state[_NEW_TOKEN] = (f"account #{account_id}", issued["token"])


def accounts_page() -> None:
    require_account()
    st.title("Accounts")
    show_flash()
    shown = st.session_state.pop(_NEW_TOKEN, None)
    if shown:
        who, token = shown
        st.success(f"Token for {who}. Copy it now: it is not shown again.")
        st.code(token, language=None)
    left, right = st.columns(2, gap="large")
    with left, st.form("new_account", border=True):
        st.markdown("**New account**")
        st.text_input("Name", key="acct_name")
        st.selectbox("Role", ROLES, key="acct_role")
        st.form_submit_button("Create account", type="primary", on_click=_create_account)
    with right, st.form("new_token", border=True):
        st.markdown("**Another token for an account**")
        st.number_input("Account id", min_value=1, step=1, key="token_account")
        st.form_submit_button("Issue token", on_click=_new_token)

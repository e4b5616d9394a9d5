"""The prefmarket portal: ``streamlit run ui/portal.py`` (or ``prefmarket portal``).

This entry file only decides which pages the signed-in role sees and draws the sidebar;
each page is a view function in ``ui.views``, registered by ``ui.navigation``.
The API address comes from ``PREFMARKET_API_URL`` (see ``ui.state``).
"""

from __future__ import annotations

import streamlit as st

from ui import data, navigation, settings, state

st.set_page_config(page_title="prefmarket", page_icon=":material/balance:", layout="wide")

acct = state.account()
current = st.navigation([navigation.page(name) for name in data.pages_for(acct["role"] if acct else None)])

with st.sidebar:
    if acct:
        st.markdown(f"Signed in as **{acct['name']}** · {acct['role']}")
        if st.button("Sign out", key="signout", icon=":material/logout:"):
            state.sign_out()
            st.rerun()
    st.caption(f"API: {settings.api_url()}")

current.run()

"""The prefmarket portal: ``streamlit run ui/portal.py`` (or ``prefmarket portal``).

This entry file only decides which pages the signed-in role sees and draws the sidebar;
each page is a two-line file under ``screens/`` (not ``pages/``, which Streamlit would
also pick up as an old-style page folder) that calls its renderer in ``ui.views``.
The API address comes from ``PREFMARKET_API_URL`` (see ``ui.state``).
"""

from __future__ import annotations

import streamlit as st

from ui import data, settings, state

ICONS = {
    "signin": ":material/login:",
    "rounds": ":material/gavel:",
    "label": ":material/compare:",
    "earnings": ":material/payments:",
    "campaigns": ":material/campaign:",
    "dashboard": ":material/monitoring:",
    "quality": ":material/verified:",
    "accounts": ":material/manage_accounts:",
    "lab": ":material/science:",
}

st.set_page_config(page_title="prefmarket", page_icon=":material/balance:", layout="wide")

acct = state.account()
pages = [
    st.Page(f"screens/{name}.py", title=data.PAGE_TITLES[name], icon=ICONS[name], url_path=name)
    for name in data.pages_for(acct["role"] if acct else None)
]
current = st.navigation(pages)

with st.sidebar:
    if acct:
        st.markdown(f"Signed in as **{acct['name']}** · {acct['role']}")
        if st.button("Sign out", key="signout", icon=":material/logout:"):
            state.sign_out()
            st.rerun()
    st.caption(f"API: {settings.api_url()}")

current.run()

"""The portal's pages: each one a view function, registered with ``st.Page`` under its name.

``data.ROLE_PAGES`` decides who sees which page; this module says what each page draws.
The name is also the page's URL path (``/dashboard``). It has to be given: Streamlit
infers a callable page's path from the function's name, and three views are called
``page``."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from ui import data

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


def views() -> dict[str, Callable[[], None]]:
    """Each page's view function, by page name.

    Imported here rather than at the top because the views link to other pages through
    ``page`` (``st.page_link``), which would make a top-level import circular."""
    from ui.views import admin, annotator, lab, quality, requester, signin

    return {
        "signin": signin.page,
        "rounds": annotator.rounds_page,
        "label": annotator.label_page,
        "earnings": annotator.earnings_page,
        "campaigns": requester.campaigns_page,
        "dashboard": requester.dashboard_page,
        "quality": quality.page,
        "accounts": admin.accounts_page,
        "lab": lab.page,
    }


def page(name: str) -> st.Page:
    """The page called ``name``, for ``st.navigation`` and ``st.page_link``."""
    return st.Page(views()[name], title=data.PAGE_TITLES[name], icon=ICONS[name], url_path=name)

"""Where the portal finds the API. No Streamlit here, so ``prefmarket``'s CLI can import
the portal command without paying for Streamlit's import on every other command."""

from __future__ import annotations

import os

API_URL_ENV = "PREFMARKET_API_URL"
DEFAULT_API_URL = "http://127.0.0.1:8000"


def api_url() -> str:
    """The API the portal was started against (``prefmarket portal --api-url``)."""
    return (os.environ.get(API_URL_ENV) or DEFAULT_API_URL).rstrip("/")

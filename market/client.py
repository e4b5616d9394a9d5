"""``MarketClient``: the one way code outside ``market/`` talks to the market (HTTP).

Method names follow docs/contract.md exactly. Every non-2xx answer raises
``MarketError(status, detail)`` with the server's message; a server that cannot be
reached raises ``MarketError(0, ...)``. A 429 (rate limit) or 503 (database busy) is
resent up to ``RETRIES`` times, after ``Retry-After`` seconds (at most 10): the server
changed nothing when it gave either answer.

Tests and in-process demos pass ``transport=``: either an ``httpx`` transport, or a
ready client object with a ``request`` method, such as FastAPI's ``TestClient(app)``,
which is then used as is::

    client = MarketClient("http://testserver", token, transport=TestClient(app))
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

import httpx


def _transport_errors() -> tuple[type[Exception], ...]:
    errors: list[type[Exception]] = [httpx.TransportError]
    try:  # Starlette's TestClient is built on the httpx2 fork
        import httpx2

        errors.append(httpx2.TransportError)
    except ImportError:  # pragma: no cover
        pass
    return tuple(errors)


_TRANSPORT_ERRORS = _transport_errors()


RETRIES = 3  # resends of a request answered 429 or 503
MAX_RETRY_WAIT_S = 10.0


def _retry_after(resp, attempt: int) -> float:
    try:
        wait = float(resp.headers.get("retry-after", ""))
    except ValueError:
        wait = 0.25 * 2**attempt
    return min(max(wait, 0.05), MAX_RETRY_WAIT_S)


class MarketError(Exception):
    """An HTTP error from the market: ``status`` (0 when unreachable) and ``detail``."""

    def __init__(self, status: int, detail: str):
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail


def _with_expiry(body: dict, expires_at: datetime | str | None) -> dict:
    if expires_at is not None:
        body["expires_at"] = expires_at.isoformat() if isinstance(expires_at, datetime) else expires_at
    return body


def _integral(x: Any) -> Any:
    """numpy integers become ints; floats stay floats so the server can refuse them."""
    return int(x) if hasattr(x, "__index__") and not isinstance(x, bool) else x


class MarketClient:
    def __init__(self, base_url: str, token: str | None = None, *, transport: Any = None, timeout: float = 30.0):
        self.base_url = base_url.rstrip("/")
        self.token = token
        if transport is not None and hasattr(transport, "request") and not hasattr(transport, "handle_request"):
            # a ready client (httpx.Client, or Starlette's TestClient, which is built on httpx2)
            self._http, self._owns = transport, False
        else:
            self._http, self._owns = httpx.Client(transport=transport, timeout=timeout), True

    # --- plumbing ---------------------------------------------------------------------

    def with_token(self, token: str) -> MarketClient:
        """Another client on the same connection pool/transport, acting as another account."""
        other = MarketClient.__new__(MarketClient)
        other.base_url, other.token, other._http, other._owns = self.base_url, token, self._http, False
        return other

    def close(self) -> None:
        if self._owns:
            self._http.close()

    def __enter__(self) -> MarketClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _request(self, method: str, path: str, *, json_body: Any = None, content: str | None = None,
                 params: dict | None = None, headers: dict | None = None) -> httpx.Response:
        hdrs = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        hdrs.update(headers or {})
        if params:
            params = {k: v for k, v in params.items() if v is not None}
        url = f"{self.base_url}/v1{path}"
        for attempt in range(RETRIES + 1):
            try:
                resp = self._http.request(method, url, json=json_body, content=content, params=params or None,
                                          headers=hdrs)
            except _TRANSPORT_ERRORS as exc:
                raise MarketError(0, f"cannot reach the market at {self.base_url}: {exc}") from None
            # 429 (rate limit) and 503 (database busy) changed nothing on the server: wait, resend
            if resp.status_code not in (429, 503) or attempt == RETRIES:
                break
            time.sleep(_retry_after(resp, attempt))
        if resp.status_code >= 400:
            try:
                detail = resp.json().get("detail", resp.text)
            except (ValueError, AttributeError):
                detail = resp.text or resp.reason_phrase
            raise MarketError(resp.status_code, str(detail))
        return resp

    def _json(self, method: str, path: str, **kw) -> Any:
        resp = self._request(method, path, **kw)
        return resp.json() if resp.content else None

    # --- accounts ---------------------------------------------------------------------

    def create_account(self, name: str, role: str, expires_at: datetime | str | None = None) -> dict:
        return self._json("POST", "/accounts", json_body=_with_expiry({"name": name, "role": role}, expires_at))

    def new_token(self, account_id: int, expires_at: datetime | str | None = None) -> dict:
        """``{account_id, token, id, expires_at}``: another token for the account (admin)."""
        return self._json("POST", f"/accounts/{account_id}/tokens", json_body=_with_expiry({}, expires_at))

    def list_tokens(self, account_id: int | None = None) -> list[dict]:
        """Your tokens (an admin: ``account_id``'s): ``{id, status, expires_at, revoked_at, current, ...}``."""
        return self._json("GET", "/tokens", params={"account_id": account_id})

    def revoke_token(self, token_id: int) -> dict:
        """Revoke a token at once, on every server process (idempotent)."""
        return self._json("DELETE", f"/tokens/{token_id}")

    def rotate_token(self, token_id: int, expires_at: datetime | str | None = None) -> dict:
        """A new token replacing ``token_id``, which is revoked. To keep using this client
        after rotating its own token, use ``client.with_token(result["token"])``."""
        return self._json("POST", f"/tokens/{token_id}/rotate", json_body=_with_expiry({}, expires_at))

    def me(self) -> dict:
        return self._json("GET", "/me")

    def earnings(self) -> dict:
        return self._json("GET", "/me/earnings")

    # --- campaigns --------------------------------------------------------------------

    def create_campaign(self, **fields) -> dict:
        return self._json("POST", "/campaigns", json_body=fields)

    def list_campaigns(self) -> list[dict]:
        return self._json("GET", "/campaigns")

    def get_campaign(self, campaign_id: int) -> dict:
        return self._json("GET", f"/campaigns/{campaign_id}")

    def upload_items(self, campaign_id: int, jsonl_text: str, *, skip_invalid: bool = False) -> dict:
        """``{campaign_id, imported, format, refused: [{line, reason}]}``; ``refused`` is
        non-empty only with ``skip_invalid`` (otherwise a bad line refuses the upload)."""
        return self._json("POST", f"/campaigns/{campaign_id}/items", content=jsonl_text,
                          params={"skip_invalid": "true" if skip_invalid else None},
                          headers={"Content-Type": "application/x-ndjson"})

    def upload_held_out(self, campaign_id: int, jsonl_text: str, *, skip_invalid: bool = False) -> dict:
        """Append a held-out labelled set (same answer as ``upload_items``)."""
        return self._json("POST", f"/campaigns/{campaign_id}/held-out", content=jsonl_text,
                          params={"skip_invalid": "true" if skip_invalid else None},
                          headers={"Content-Type": "application/x-ndjson"})

    def list_held_out(self, campaign_id: int) -> list[dict]:
        """The held-out pairs: ``{id, prompt, chosen, rejected, ...}`` (owner, worker, admin)."""
        return self._json("GET", f"/campaigns/{campaign_id}/held-out")

    def list_items(self, campaign_id: int) -> list[dict]:
        return self._json("GET", f"/campaigns/{campaign_id}/items")

    def set_completions(self, campaign_id: int, rows: list[dict]) -> dict:
        return self._json("PUT", f"/campaigns/{campaign_id}/completions", json_body={"completions": list(rows)})

    def post_scores(self, campaign_id: int, scores: dict[int, float]) -> dict:
        body = {"scores": [{"item_id": int(k), "score": float(v)} for k, v in scores.items()]}
        return self._json("PUT", f"/campaigns/{campaign_id}/scores", json_body=body)

    def campaign_summary(self, campaign_id: int) -> dict:
        return self._json("GET", f"/campaigns/{campaign_id}/summary")

    def export_labels(self, campaign_id: int, *, include_ties: bool = False,
                      aggregation: str | None = None) -> list[dict]:
        resp = self._request("GET", f"/campaigns/{campaign_id}/export",
                             params={"include_ties": "true" if include_ties else None, "aggregation": aggregation})
        return [json.loads(line) for line in resp.text.splitlines() if line.strip()]

    def ledger(self, campaign_id: int) -> dict:
        return self._json("GET", f"/campaigns/{campaign_id}/ledger")

    def campaign_bids(self, campaign_id: int) -> list[dict]:
        return self._json("GET", f"/campaigns/{campaign_id}/bids")

    def post_evaluation(self, campaign_id: int, **fields) -> dict:
        return self._json("POST", f"/campaigns/{campaign_id}/evaluations", json_body=fields)

    def list_evaluations(self, campaign_id: int) -> list[dict]:
        return self._json("GET", f"/campaigns/{campaign_id}/evaluations")

    def accounting(self, campaign_id: int, compare_to: int | None = None, *, metric: str = "win_rate",
                   target: float | None = None) -> dict:
        """``metric`` (win_rate or heldout_accuracy) against spend, cents per point, cents to
        reach ``target`` (percent; the server's default when None), payments per annotator;
        with ``compare_to``, the comparison with that (baseline) campaign."""
        return self._json("GET", f"/campaigns/{campaign_id}/accounting",
                          params={"compare_to": compare_to, "metric": metric, "target": target})

    # --- quality control ------------------------------------------------------------

    def mark_gold(self, campaign_id: int, answers: dict[int, str]) -> dict:
        body = {"items": [{"item_id": int(k), "answer": v} for k, v in answers.items()]}
        return self._json("PUT", f"/campaigns/{campaign_id}/gold", json_body=body)

    def campaign_quality(self, campaign_id: int) -> dict:
        return self._json("GET", f"/campaigns/{campaign_id}/quality")

    def campaign_flags(self, campaign_id: int) -> list[dict]:
        return self._json("GET", f"/campaigns/{campaign_id}/flags")

    def all_flags(self) -> list[dict]:
        return self._json("GET", "/flags")

    def soft_labels(self, campaign_id: int, aggregation: str = "skill") -> list[dict]:
        return self._json("GET", f"/campaigns/{campaign_id}/soft-labels", params={"aggregation": aggregation})

    # --- rounds and bids --------------------------------------------------------------

    def open_round(self, campaign_id: int, duration_s: float | None = None) -> dict:
        body = {"duration_s": duration_s} if duration_s is not None else {}
        return self._json("POST", f"/campaigns/{campaign_id}/rounds", json_body=body)

    def close_round(self, round_id: int) -> dict:
        return self._json("POST", f"/rounds/{round_id}/close")

    def settle_round(self, round_id: int) -> dict:
        return self._json("POST", f"/rounds/{round_id}/settle")

    def list_rounds(self, state: str | None = None, campaign_id: int | None = None) -> list[dict]:
        return self._json("GET", "/rounds", params={"state": state, "campaign_id": campaign_id})

    def get_round(self, round_id: int) -> dict:
        return self._json("GET", f"/rounds/{round_id}")

    def place_bid(self, round_id: int, ask_cents: int, capacity: int = 1) -> dict:
        body = {"ask_cents": _integral(ask_cents), "capacity": _integral(capacity)}
        return self._json("PUT", f"/rounds/{round_id}/bid", json_body=body)

    def withdraw_bid(self, round_id: int) -> None:
        self._request("DELETE", f"/rounds/{round_id}/bid")

    def my_bid(self, round_id: int) -> dict:
        return self._json("GET", f"/rounds/{round_id}/bid")

    # --- assignments and labels -------------------------------------------------------

    def my_assignments(self, state: str | None = None) -> list[dict]:
        return self._json("GET", "/assignments", params={"state": state})

    def submit_label(self, assignment_id: int, choice: str, confidence: float | None = None,
                     key: str | None = None) -> dict:
        body: dict[str, Any] = {"choice": choice}
        if confidence is not None:
            body["confidence"] = confidence
        if key is not None:
            body["idempotency_key"] = key
        return self._json("POST", f"/assignments/{assignment_id}/label", json_body=body)

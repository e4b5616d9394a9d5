"""Accounts and bearer tokens.

A token is ``pm_`` + 32 random bytes (url-safe); the database keeps only its sha256, so a
leaked database does not leak working credentials. A token is shown exactly once, when
created. An account may hold several tokens (portal, bot, worker); ``new_token`` adds one.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict

from sqlmodel import Session, select

from market.errors import Invalid, NotFound, Unauthorized
from market.tables import ROLES, Account, ApiToken

TOKEN_PREFIX = "pm_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _issue(session: Session, account: Account) -> str:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(account_id=account.id, token_hash=hash_token(token)))
    session.flush()
    return token


def create_account(session: Session, name: str, role: str) -> tuple[Account, str]:
    """Create an account and its first token; returns ``(account, token)``. Caller commits."""
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise Invalid("name: must be 1 to 200 characters")
    if role not in ROLES:
        raise Invalid(f"role: must be one of {', '.join(ROLES)} (got {role!r})")
    account = Account(name=name, role=role)
    session.add(account)
    session.flush()
    return account, _issue(session, account)


def new_token(session: Session, account_id: int) -> str:
    """Issue another token for an existing account. Caller commits."""
    account = session.get(Account, account_id)
    if account is None:
        raise NotFound(f"account {account_id} not found")
    return _issue(session, account)


def authenticate(session: Session, token: str | None) -> Account:
    """The account a bearer token belongs to, or Unauthorized."""
    if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        raise Unauthorized("missing or malformed bearer token")
    digest = hash_token(token)
    row = session.exec(
        select(Account, ApiToken.token_hash).join(ApiToken, ApiToken.account_id == Account.id).where(
            ApiToken.token_hash == digest
        )
    ).first()
    if row is None or not hmac.compare_digest(row[1], digest):
        raise Unauthorized("invalid bearer token")
    return row[0]


class TokenCache:
    """A small in-process cache: token hash → a detached copy of its account.

    It saves the token lookup on the hot paths (bids, labels). Safe because nothing a
    cached copy carries can move money: roles never change, tokens are never revoked (yet:
    revocation must call :meth:`clear`), and clearing reads annotator quality from the
    database, not from here. Entries expire after ``ttl_s``; at most ``size`` are kept."""

    def __init__(self, ttl_s: float = 60.0, size: int = 10_000):
        self.ttl_s, self.size = ttl_s, size
        self._data: OrderedDict[str, tuple[float, Account]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, token: str) -> Account | None:
        key = hash_token(token)
        with self._lock:
            hit = self._data.get(key)
            if hit is None or hit[0] < time.monotonic():
                self._data.pop(key, None)
                return None
            self._data.move_to_end(key)
            return hit[1]

    def put(self, token: str, account: Account) -> None:
        copy = Account.model_validate(account.model_dump())
        with self._lock:
            self._data[hash_token(token)] = (time.monotonic() + self.ttl_s, copy)
            while len(self._data) > self.size:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


def annotator_quality(account: Account) -> float:
    """The annotator's label quality q in (0, 1] in campaigns without quality control.

    ``Account.quality`` (1.0 unless an admin set it), clipped into (0, 1] so a bad value
    cannot break clearing. A campaign with gold checks uses its own evidence instead: the
    annotator's gold posterior on that campaign, mapped by
    ``market.quality.skill.quality_from_accuracy`` (``q = 2·accuracy − 1``, floored)."""
    q = float(account.quality if account.quality is not None else 1.0)
    if not (q > 0.0):  # also catches NaN
        return 1e-3
    return min(q, 1.0)

"""Accounts and bearer tokens.

A token is ``pm_`` + 32 random bytes (url-safe); the database keeps only its sha256, so a
leaked database does not leak working credentials. A token is shown exactly once, when
created. An account may hold several tokens (portal, bot, worker); ``new_token`` adds one.

A token may carry an expiry (``expires_at``) and can be revoked, or rotated (a new token
is issued and the old one revoked in the same transaction). Every request looks its token
up in the database (no in-process cache), so a revocation holds at once in every server
process; the lookup is a read that takes no writer lock (``market.db.read_connection``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import Connection, Row, bindparam
from sqlmodel import Session, col, select

from market import clock
from market.errors import Conflict, Invalid, NotFound, Unauthorized
from market.tables import ROLES, Account, ApiToken

TOKEN_PREFIX = "pm_"


class Caller(NamedTuple):
    """Who is calling: the account and the id of the token it showed."""

    account: Account
    token_id: int


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _check_expiry(expires_at: datetime | None) -> datetime | None:
    if expires_at is not None and expires_at <= clock.now():
        raise Invalid("expires_at: must be in the future")
    return expires_at


def _issue(session: Session, account_id: int, expires_at: datetime | None = None) -> tuple[ApiToken, str]:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(account_id=account_id, token_hash=hash_token(token), expires_at=_check_expiry(expires_at))
    session.add(row)
    session.flush()
    return row, token


def create_account(session: Session, name: str, role: str,
                   expires_at: datetime | None = None) -> tuple[Account, str]:
    """Create an account and its first token; returns ``(account, token)``. Caller commits."""
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise Invalid("name: must be 1 to 200 characters")
    if role not in ROLES:
        raise Invalid(f"role: must be one of {', '.join(ROLES)} (got {role!r})")
    account = Account(name=name, role=role)
    session.add(account)
    session.flush()
    return account, _issue(session, account.id, expires_at)[1]


def new_token(session: Session, account_id: int, expires_at: datetime | None = None) -> tuple[ApiToken, str]:
    """Issue another token for an existing account; ``(row, token)``. Caller commits."""
    if session.get(Account, account_id) is None:
        raise NotFound(f"account {account_id} not found")
    return _issue(session, account_id, expires_at)


def token_status(row: ApiToken | Row) -> str:
    """``"active"``, ``"expired"`` or ``"revoked"``: whether the token works now."""
    if row.revoked_at is not None:
        return "revoked"
    if row.expires_at is not None and row.expires_at <= clock.now():
        return "expired"
    return "active"


# One statement, built once: the account's columns and the token's state, by token hash.
# Core rather than the ORM, since it runs on every request (a third of the time).
_BY_HASH = (
    select(Account.__table__, col(ApiToken.id).label("token_id"), col(ApiToken.token_hash).label("token_hash"),
           col(ApiToken.revoked_at).label("revoked_at"), col(ApiToken.expires_at).label("expires_at"))
    .join(ApiToken.__table__, col(ApiToken.account_id) == col(Account.id))
    .where(col(ApiToken.token_hash) == bindparam("digest"))
)
_ACCOUNT_FIELDS = tuple(Account.model_fields)


def authenticate(conn: Connection, token: str | None) -> Caller:
    """The caller a bearer token belongs to, or Unauthorized (unknown, revoked, expired).

    It only reads (``market.db.read_connection``: no writer lock), so a failed attempt
    costs one indexed lookup. The account comes back as a detached copy."""
    if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        raise Unauthorized("missing or malformed bearer token")
    digest = hash_token(token)
    row = conn.execute(_BY_HASH, {"digest": digest}).first()
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        raise Unauthorized("invalid bearer token")
    status = token_status(row)
    if status == "revoked":
        raise Unauthorized("this bearer token was revoked; use a current one")
    if status == "expired":
        raise Unauthorized("this bearer token has expired; ask for a new one")
    fields = row._mapping
    return Caller(Account.model_construct(**{f: fields[f] for f in _ACCOUNT_FIELDS}), row.token_id)


def list_tokens(session: Session, caller: Account, account_id: int | None = None) -> list[ApiToken]:
    """The tokens of ``account_id`` (default: the caller's), oldest first; others' are
    visible to admins only (404 otherwise, as if the account did not exist)."""
    account_id = caller.id if account_id is None else account_id
    if account_id != caller.id and (caller.role != "admin" or session.get(Account, account_id) is None):
        raise NotFound(f"account {account_id} not found")
    return list(session.exec(select(ApiToken).where(ApiToken.account_id == account_id)
                             .order_by(col(ApiToken.id))).all())


def _own_token(session: Session, caller: Account, token_id: int) -> ApiToken:
    """The token row, locked, if the caller may manage it (its own, or any for an admin)."""
    row = session.exec(select(ApiToken).where(ApiToken.id == token_id).with_for_update()).first()
    if row is None or (row.account_id != caller.id and caller.role != "admin"):
        raise NotFound(f"token {token_id} not found")
    return row


def revoke_token(session: Session, caller: Account, token_id: int) -> ApiToken:
    """Revoke a token from now on (idempotent: a revoked token keeps its first time). Caller commits."""
    row = _own_token(session, caller, token_id)
    if row.revoked_at is None:
        row.revoked_at = clock.now()
        session.add(row)
        session.flush()
    return row


def rotate_token(session: Session, caller: Account, token_id: int,
                 expires_at: datetime | None = None) -> tuple[ApiToken, str]:
    """Issue a new token for the token's account and revoke the old one, in one transaction.

    The new token keeps the old one's expiry unless ``expires_at`` is given. A token that
    is revoked or has expired cannot be rotated (409): issue a new one instead."""
    row = _own_token(session, caller, token_id)
    status = token_status(row)
    if status != "active":
        raise Conflict(f"token {token_id} is {status}; it cannot be rotated (an admin can issue a new one)")
    new_row, token = _issue(session, row.account_id, expires_at if expires_at is not None else row.expires_at)
    row.revoked_at = clock.now()
    session.add(row)
    session.flush()
    return new_row, token


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

"""Domain errors that carry their HTTP meaning.

The domain modules (campaign, round, bid, label, ledger, ...) raise these instead of
FastAPI's HTTPException so that they stay usable from the CLI and from tests without a
web stack; the API turns each into ``{"detail": message}`` with its status code.
Messages name the offending field or object so a caller knows what to fix.
"""

from __future__ import annotations


class MarketProblem(Exception):
    """Base class: a request the market refuses, with a status code and a message."""

    status = 400

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


class Invalid(MarketProblem):
    """The input is malformed or out of range (names the field)."""

    status = 422


class Unauthorized(MarketProblem):
    """No token, or a token that matches no account."""

    status = 401


class Forbidden(MarketProblem):
    """The caller is known but its role or ownership does not allow this."""

    status = 403


class NotFound(MarketProblem):
    """No such object (or not visible to this caller)."""

    status = 404


class Conflict(MarketProblem):
    """The request is well formed but the object's state forbids it (closed round, duplicate label...)."""

    status = 409


class LedgerViolation(Conflict):
    """A posting would break a ledger invariant; nothing was written."""

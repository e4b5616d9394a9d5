"""Accounts (admin), ``/me`` (anyone signed in), and tokens: each account lists, revokes
and rotates its own; an admin anyone's. Someone else's token answers 404, as a missing one."""

from typing import Annotated, Optional

from fastapi import APIRouter, Query

from market import accounts, assignment
from market.api.deps import PathId, Admin, Annotator, CurrentAccount, CurrentCaller, SessionDep
from market.api.schemas import AccountCreate, AccountCreated, AccountOut, EarningsOut, TokenIn, TokenInfoOut, TokenOut
from market.limits import MAX_ID
from market.tables import ApiToken

router = APIRouter(tags=["accounts"])


@router.post("/accounts", response_model=AccountCreated, status_code=201)
def create_account(body: AccountCreate, session: SessionDep, _: Admin):
    """Create an account; its bearer token is in the response and never shown again."""
    account, token = accounts.create_account(session, body.name, body.role, body.expires_at)
    session.commit()
    return AccountCreated(**AccountOut.model_validate(account).model_dump(), token=token)


def _token_out(row: ApiToken, token: str) -> TokenOut:
    return TokenOut(account_id=row.account_id, token=token, id=row.id, expires_at=row.expires_at)


@router.post("/accounts/{account_id}/tokens", response_model=TokenOut, status_code=201)
def new_token(account_id: PathId, session: SessionDep, _: Admin, body: TokenIn | None = None):
    """Issue another token for an account (earlier tokens stay valid), optionally expiring."""
    row, token = accounts.new_token(session, account_id, body.expires_at if body else None)
    session.commit()
    return _token_out(row, token)


def _info(row: ApiToken, current_id: int) -> TokenInfoOut:
    return TokenInfoOut(id=row.id, account_id=row.account_id, created_at=row.created_at, expires_at=row.expires_at,
                        revoked_at=row.revoked_at, status=accounts.token_status(row), current=row.id == current_id)


@router.get("/tokens", response_model=list[TokenInfoOut])
def list_tokens(session: SessionDep, caller: CurrentCaller,
                account_id: Annotated[Optional[int], Query(ge=1, le=MAX_ID, description="admins: another account's")] = None):
    """Your tokens (never their secrets), oldest first, with their expiry and revocation."""
    rows = accounts.list_tokens(session, caller.account, account_id)
    return [_info(r, caller.token_id) for r in rows]


@router.delete("/tokens/{token_id}", response_model=TokenInfoOut)
def revoke_token(token_id: PathId, session: SessionDep, caller: CurrentCaller):
    """Revoke a token: every server process refuses it from the next request on (idempotent)."""
    row = accounts.revoke_token(session, caller.account, token_id)
    session.commit()
    return _info(row, caller.token_id)


@router.post("/tokens/{token_id}/rotate", response_model=TokenOut, status_code=201)
def rotate_token(token_id: PathId, session: SessionDep, caller: CurrentCaller, body: TokenIn | None = None):
    """A new token for the same account, and the old one revoked, at once; the new one keeps
    the old one's expiry unless ``expires_at`` is given. Shown once: store it now."""
    row, token = accounts.rotate_token(session, caller.account, token_id, body.expires_at if body else None)
    session.commit()
    return _token_out(row, token)


@router.get("/me", response_model=AccountOut)
def me(account: CurrentAccount):
    return account


@router.get("/me/earnings", response_model=EarningsOut)
def my_earnings(session: SessionDep, account: Annotator):
    """Paid so far (from the ledger), pending on open assignments, labels done."""
    return assignment.earnings(session, account)

"""Accounts and tokens (admin), and ``/me`` (anyone signed in)."""

from fastapi import APIRouter

from market import accounts, assignment
from market.api.deps import PathId, Admin, Annotator, CurrentAccount, SessionDep
from market.api.schemas import AccountCreate, AccountCreated, AccountOut, EarningsOut, TokenOut

router = APIRouter(tags=["accounts"])


@router.post("/accounts", response_model=AccountCreated, status_code=201)
def create_account(body: AccountCreate, session: SessionDep, _: Admin):
    """Create an account; its bearer token is in the response and never shown again."""
    account, token = accounts.create_account(session, body.name, body.role)
    session.commit()
    return AccountCreated(**AccountOut.model_validate(account).model_dump(), token=token)


@router.post("/accounts/{account_id}/tokens", response_model=TokenOut, status_code=201)
def new_token(account_id: PathId, session: SessionDep, _: Admin):
    """Issue another token for an account (earlier tokens stay valid)."""
    token = accounts.new_token(session, account_id)
    session.commit()
    return TokenOut(account_id=account_id, token=token)


@router.get("/me", response_model=AccountOut)
def me(account: CurrentAccount):
    return account


@router.get("/me/earnings", response_model=EarningsOut)
def my_earnings(session: SessionDep, account: Annotator):
    """Paid so far (from the ledger), pending on open assignments, labels done."""
    return assignment.earnings(session, account)

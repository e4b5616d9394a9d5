"""Dependencies: one database session per request, and the caller's account from its token.

Authentication uses its own short session (or the token cache) and is finished before
the route's session begins its transaction, so a request never holds two transactions
at once (on SQLite each one takes the write lock; see ``market.db``). Routes call
``session.commit()`` themselves once the domain call succeeded; anything else is rolled
back when the session closes, which is what makes "bad input changes nothing" hold.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from market.accounts import authenticate
from market.errors import Forbidden, Unauthorized
from market.limits import MAX_ID
from market.tables import Account

PathId = Annotated[int, Path(ge=1, le=MAX_ID, description="an id")]

bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer <token>`")


async def get_session(request: Request) -> AsyncIterator[Session]:
    # Creating a Session does no I/O (it connects lazily, inside the route's thread), so
    # this runs on the event loop and saves a thread hop per request.
    session = Session(request.app.state.engine, expire_on_commit=False)
    try:
        yield session
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_session)]


def _lookup(engine, token: str) -> Account:
    with Session(engine, expire_on_commit=False) as session:
        account = authenticate(session, token)
        session.commit()
        return account


async def current_account(
    request: Request, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Account:
    """The caller's account: from the token cache, else looked up (in a worker thread)."""
    if creds is None or creds.scheme.lower() != "bearer":
        raise Unauthorized("missing bearer token: send 'Authorization: Bearer <token>'")
    cache = request.app.state.token_cache
    account = cache.get(creds.credentials)
    if account is None:
        account = await run_in_threadpool(_lookup, request.app.state.engine, creds.credentials)
        cache.put(creds.credentials, account)
    return account


CurrentAccount = Annotated[Account, Depends(current_account)]


def require_role(*roles: str) -> Callable[[Account], Account]:
    async def check(account: CurrentAccount) -> Account:
        if account.role not in roles:
            raise Forbidden(f"this needs the {' or '.join(roles)} role; your account's role is {account.role}")
        return account

    return check


Admin = Annotated[Account, Depends(require_role("admin"))]
Requester = Annotated[Account, Depends(require_role("requester"))]
Annotator = Annotated[Account, Depends(require_role("annotator"))]

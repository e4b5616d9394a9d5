"""Dependencies: one database session per request, and the caller's account.

The caller is settled by ``market.api.middleware.Authenticate`` before the body is read
and before the route's session begins its transaction (its lookup is a read without a
writer lock), so a request never holds two transactions at once (on SQLite each one
takes the write lock; see ``market.db``). Routes call ``session.commit()`` themselves
once the domain call succeeded; anything else is rolled back when the session closes,
which is what makes "bad input changes nothing" hold.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from market.accounts import Caller
from market.api.middleware import CALLER, MISSING_TOKEN
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


async def current_caller(
    request: Request, _: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Caller:
    """The caller the middleware authenticated (``bearer`` is declared so the API docs show
    the scheme); a route outside the middleware's reach has none, and answers 401."""
    caller = request.scope.get(CALLER)
    if caller is None:
        raise Unauthorized(MISSING_TOKEN)
    return caller


async def current_account(caller: Annotated[Caller, Depends(current_caller)]) -> Account:
    return caller.account


CurrentCaller = Annotated[Caller, Depends(current_caller)]
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

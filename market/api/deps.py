"""Dependencies: one database session per request, and the caller's account from its token.

The session is shared by authentication and the route, so a request holds at most one
connection (and, on SQLite, one ``BEGIN IMMEDIATE`` transaction at a time). Routes call
``session.commit()`` themselves once the domain call succeeded; anything else is rolled
back when the session closes, which is what makes "bad input changes nothing" hold.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from market.accounts import authenticate
from market.errors import Forbidden, Unauthorized
from market.tables import Account

bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer <token>`")


def get_session(request: Request) -> Iterator[Session]:
    with Session(request.app.state.engine, expire_on_commit=False) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def current_account(
    session: SessionDep, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Account:
    if creds is None or creds.scheme.lower() != "bearer":
        raise Unauthorized("missing bearer token: send 'Authorization: Bearer <token>'")
    account = authenticate(session, creds.credentials)
    session.commit()  # end the read transaction (SQLite: releases the write lock early)
    return account


CurrentAccount = Annotated[Account, Depends(current_account)]


def require_role(*roles: str) -> Callable[[Account], Account]:
    def check(account: CurrentAccount) -> Account:
        if account.role not in roles:
            raise Forbidden(f"this needs the {' or '.join(roles)} role; your account is a {account.role}")
        return account

    return check


Admin = Annotated[Account, Depends(require_role("admin"))]
Requester = Annotated[Account, Depends(require_role("requester"))]
Annotator = Annotated[Account, Depends(require_role("annotator"))]

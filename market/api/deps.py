"""Dependencies: one database session per request, and the caller's account.

The caller is settled by ``market.api.middleware.Authenticate`` before the body is read
and before the route's session begins its transaction (its lookup is a read without a
writer lock), so a request never holds two transactions at once (on SQLite each one
takes the write lock; see ``market.db``). Routes call ``session.commit()`` themselves
once the domain call succeeded; anything else is rolled back when the session closes,
which is what makes "bad input changes nothing" hold.

A hot route may instead be ``async def`` and hand its whole unit of work to
:func:`in_transaction`: one trip to the threadpool per request instead of two (a sync
route runs in the threadpool, and FastAPI validates its answer there too), and no
session dependency to solve (bids go further: ``market.api.bid_writer`` writes them in
batches). The caller dependencies read what the middleware settled, each in one step (``_Bearer``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated, Concatenate, ParamSpec, TypeVar

from fastapi import Depends, Path, Request
from fastapi.security import HTTPBearer
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from market.accounts import Caller
from market.api.middleware import CALLER, MISSING_TOKEN
from market.errors import Forbidden, Unauthorized
from market.limits import MAX_ID
from market.tables import Account

P = ParamSpec("P")
T = TypeVar("T")
PathId = Annotated[int, Path(ge=1, le=MAX_ID, description="an id")]


async def get_session(request: Request) -> AsyncIterator[Session]:
    # Creating a Session does no I/O (it connects lazily, inside the route's thread), so
    # this runs on the event loop and saves a thread hop per request.
    session = Session(request.app.state.engine, expire_on_commit=False)
    try:
        yield session
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_session)]


async def in_transaction(request: Request, work: Callable[Concatenate[Session, P], T],
                         *args: P.args, **kwargs: P.kwargs) -> T:
    """``work(session, *args, **kwargs)`` then commit, all in one worker thread, with a
    session of its own that is closed there (rolled back if ``work`` raised)."""
    engine = request.app.state.engine

    def run() -> T:
        with Session(engine, expire_on_commit=False) as session:
            result = work(session, *args, **kwargs)
            session.commit()
            return result

    return await run_in_threadpool(run)


class _Bearer(HTTPBearer):
    """The caller the middleware authenticated (``scope[CALLER]``), or its account,
    optionally of one of ``roles``. It is itself FastAPI's bearer scheme, so that the API
    docs show the scheme and a route solves one dependency for its caller, not a chain
    (FastAPI's cost per request grows with each level). A route outside the middleware's
    reach has no caller, and answers 401."""

    def __init__(self, *roles: str, account: bool = True):
        super().__init__(auto_error=False, scheme_name="HTTPBearer",
                         description="`Authorization: Bearer <token>`")
        self.roles, self.account = roles, account

    async def __call__(self, request: Request) -> Caller | Account:  # type: ignore[override]
        caller = request.scope.get(CALLER)
        if caller is None:
            raise Unauthorized(MISSING_TOKEN)
        role = caller.account.role
        if self.roles and role not in self.roles:
            raise Forbidden(f"this needs the {' or '.join(self.roles)} role; your account's role is {role}")
        return caller.account if self.account else caller


CurrentCaller = Annotated[Caller, Depends(_Bearer(account=False))]
CurrentAccount = Annotated[Account, Depends(_Bearer())]
Admin = Annotated[Account, Depends(_Bearer("admin"))]
Requester = Annotated[Account, Depends(_Bearer("requester"))]
Annotator = Annotated[Account, Depends(_Bearer("annotator"))]

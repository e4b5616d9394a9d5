"""The FastAPI application factory and its error handling.

Every error leaves as ``{"detail": "<message>"}``: domain problems with their own status
(4xx, see ``market.errors``), validation errors as 422 with each offending field named
(``body.ask_cents: ...``), races caught by a database constraint as 409, a busy SQLite
as 503, and anything unexpected as a plain 500 without a traceback (it is logged).

Deadlines are enforced lazily by the routes (see ``market.round``); ``sweep_interval_s``
adds a background thread that also settles overdue rounds when nobody is calling.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading

import anyio
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from sqlmodel import Session

from market import db, limits, secret
from market.api import middleware
from market.api.bid_writer import BidWriter
from market import round as rounds
from market.errors import MarketProblem

log = logging.getLogger("market.api")
SQLITE_THREADS = 6
SQLITE_DB_SLOTS = 2
SERVER_DB_SLOTS = 16
DEFAULT_RATE_LIMIT = "30/120"  # per account and worker: 30 requests/s, bursts of 120

DESCRIPTION = """\
prefmarket buys pairwise preference labels at auction. Requesters fund campaigns and
upload items; annotators place sealed bids (price per label in **integer cents**,
capacity in labels) on open rounds, label the pairs they win and are paid per accepted
label. Auth: `Authorization: Bearer <token>`. Errors: `{"detail": "<message>"}`.
"""


def _field(loc) -> str:
    return ".".join(str(p) for p in loc) if loc else "body"


def validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        msg = err.get("msg", "invalid")
        if err.get("type") == "json_invalid":
            msg = "the body is not valid JSON"
        parts.append(f"{_field(err.get('loc'))}: {msg}")
    return "; ".join(parts) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(MarketProblem)
    async def _problem(_: Request, exc: MarketProblem):
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse({"detail": exc.detail}, status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError):
        return JSONResponse({"detail": validation_message(exc)}, status_code=422)

    @app.exception_handler(IntegrityError)
    async def _integrity(_: Request, exc: IntegrityError):
        log.info("integrity error turned into 409: %s", exc.orig)
        return JSONResponse({"detail": "conflict: a concurrent request changed the same object; retry"}, status_code=409)

    @app.exception_handler(OperationalError)
    async def _busy(_: Request, exc: OperationalError):
        log.warning("database error: %s", exc.orig)
        return JSONResponse({"detail": "the database is busy; retry shortly"}, status_code=503)

    @app.exception_handler(sqlite3.OperationalError)
    async def _sqlite_busy(_: Request, exc: sqlite3.OperationalError):
        # raised by market.db's writer lock before SQLAlchemy sees a statement
        log.warning("database error: %s", exc)
        return JSONResponse({"detail": "the database is busy; retry shortly"}, status_code=503)

    @app.exception_handler(OverflowError)
    async def _overflow(_: Request, exc: OverflowError):
        return JSONResponse({"detail": "a number in the request is out of range"}, status_code=422)

    @app.exception_handler(DataError)
    async def _data_error(_: Request, exc: DataError):
        # Postgres' twin of sqlite3's OverflowError ("bigint out of range"): a backstop; the
        # schemas bound every id and amount, so that the 422 names the field first.
        log.warning("database refused a value: %s", exc.orig)
        return JSONResponse({"detail": "a number in the request is out of range"}, status_code=422)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception):
        log.exception("unexpected error")
        return JSONResponse({"detail": "internal error (logged); nothing was changed"}, status_code=500)


def _sweeper(engine: Engine, interval: float, stop: threading.Event) -> None:
    while not stop.wait(interval):
        try:
            with Session(engine, expire_on_commit=False) as session:
                if rounds.touch_due(session):
                    session.commit()
                rounds.decide_expired_holds(session)
        except Exception:  # keep sweeping; the next request settles lazily anyway
            log.exception("round sweeper failed")


def create_app(
    engine: Engine | None = None,
    *,
    database_url: str | None = None,
    sweep_interval_s: float | None = None,
    threadpool_size: int | None = None,
    rate_limit: str | None = None,
    max_body_bytes: int | None = None,
    max_upload_bytes: int | None = None,
    db_slots: int | None = None,
    auth_failures: str | None = None,
) -> FastAPI:
    """Build the app on ``engine`` (or a new one from ``database_url``/``DATABASE_URL``).

    ``rate_limit`` (``"rate/burst"`` per account and second; ``"0"``: off; default
    ``PREFMARKET_RATE_LIMIT`` or :data:`DEFAULT_RATE_LIMIT`), ``auth_failures`` (failed
    authentications per client address, e.g. ``"20/minute"``; ``"0"``: off; default
    ``PREFMARKET_AUTH_FAILURES`` or ``middleware.DEFAULT_AUTH_FAILURES``),
    ``max_body_bytes`` (default ``PREFMARKET_MAX_BODY_BYTES`` or 16 MiB; a requester's
    uploads may carry 64 MiB) and ``db_slots`` (requests working with the database at once
    per process; default ``PREFMARKET_DB_SLOTS``, else 2 on SQLite, 16 otherwise): see
    ``market.api.middleware``."""
    engine = engine or db.make_engine(database_url)
    db.init_db(engine)
    secret.ensure(engine)  # the key of the gold draws, written at the first start (market.secret)
    sqlite = db.is_sqlite(engine)
    slots = db_slots or int(os.environ.get("PREFMARKET_DB_SLOTS", "0") or 0) or (
        SQLITE_DB_SLOTS if sqlite else SERVER_DB_SLOTS)
    rate = middleware.parse_rate(rate_limit if rate_limit is not None
                                 else os.environ.get("PREFMARKET_RATE_LIMIT", DEFAULT_RATE_LIMIT))
    failures = middleware.parse_failures(auth_failures if auth_failures is not None
                                         else os.environ.get("PREFMARKET_AUTH_FAILURES", middleware.DEFAULT_AUTH_FAILURES))
    body_bytes = max_body_bytes or int(os.environ.get("PREFMARKET_MAX_BODY_BYTES", "0") or 0) or (
        middleware.DEFAULT_MAX_BODY_BYTES)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        threads = threadpool_size if threadpool_size is not None else (
            int(os.environ.get("PREFMARKET_THREADS", "0")) or (SQLITE_THREADS if sqlite else None))
        # SQLite takes one writer at a time: a few threads keep it busy, and fewer threads
        # fighting for the GIL and the write lock give a tighter latency tail. Never fewer
        # than two per database slot (the route, then its answer's validation) plus two,
        # so a request holding the database always finds a thread to finish on.
        limiter = anyio.to_thread.current_default_thread_limiter()
        limiter.total_tokens = max(threads or limiter.total_tokens, 2 * slots + 2)
        stop = threading.Event()
        thread = None
        if sweep_interval_s:
            thread = threading.Thread(target=_sweeper, args=(engine, sweep_interval_s, stop), daemon=True)
            thread.start()
        yield
        stop.set()
        if thread is not None:
            thread.join(timeout=5)

    app = FastAPI(
        title="prefmarket",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        responses={401: {"description": "missing or invalid token"}},
    )
    app.state.engine = engine
    app.state.bids = BidWriter(engine)  # bids are written in batches (group commit)
    app.state.limits = {"rate_limit": rate, "auth_failures": failures, "max_body_bytes": body_bytes,
                        "db_slots": slots}
    install_error_handlers(app)
    # added innermost first: a request meets Authenticate, RateLimit, BodyLimit, then DbSlots
    app.add_middleware(middleware.DbSlots, slots=slots)
    app.add_middleware(middleware.BodyLimit, max_body_bytes=body_bytes,
                       max_upload_bytes=max_upload_bytes or limits.MAX_UPLOAD_BYTES)
    if rate is not None:
        app.add_middleware(middleware.RateLimit, rate=rate[0], burst=rate[1])
    app.add_middleware(middleware.Authenticate, engine=engine, failures=failures)

    from market.api.routes import accounts, assignments, campaigns, health, rounds as round_routes

    # routes are tried in order: health (the probe) first, then the hot ones (bids, labels)
    for module in (health, round_routes, assignments, accounts, campaigns):
        app.include_router(module.router, prefix="/v1")
    return app

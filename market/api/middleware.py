"""ASGI middleware in front of the routes: authentication, per-account rate limits, body
size limits, and database slots. Outermost first:

1. :class:`Authenticate` settles who is calling from the headers alone, before anything
   reads the body: no token is **401**, a token that fails (unknown, revoked, expired) is
   **401**, and the caller (``scope[CALLER]``) goes on. Why first: a client without a
   working token must not make the server hold a body (uploads may be 64 MiB). The
   lookup reads the database on every request (no cache, so a revocation holds at once in
   every process) without taking SQLite's writer lock. On SQLite it runs on the event
   loop: a WAL reader never waits for the writer, and one indexed read costs less than a
   trip to the threadpool and back (measured, ``bench/bench_http.py``); elsewhere it is a
   network round trip, so it goes to the threadpool. Failed authentications are
   counted per client address (``limits``, a moving window; ``PREFMARKET_AUTH_FAILURES``,
   default ``20/minute``; ``0`` or ``off`` turns it off): past the limit, every request
   from that address that shows a token is **429** with ``Retry-After`` until the window
   moves on, before any lookup, however many different fake tokens it tries. Behind a
   reverse proxy, run uvicorn with ``--proxy-headers`` so the address is the client's.
2. :class:`RateLimit` gives each account a token bucket (``rate`` requests per second,
   bursts of ``burst``) in each worker process; past it the answer is **429** with
   ``Retry-After`` (whole seconds). ``PREFMARKET_RATE_LIMIT="rate/burst"``; ``0`` or
   ``off`` turns it off. With N workers an account may get up to N times the rate.
3. :class:`BodyLimit` refuses a request body over its limit with **413** and a message:
   at once when ``Content-Length`` says so, else as soon as the streamed body passes it.
   Item uploads (``POST /v1/campaigns/{id}/items``) by a requester may carry
   ``limits.MAX_UPLOAD_BYTES``; every other body ``max_body_bytes``
   (``PREFMARKET_MAX_BODY_BYTES``, default 16 MiB). The limit is chosen after
   authentication, from the caller's role.
4. :class:`DbSlots` lets at most ``slots`` requests per process work with the database at
   once; the rest wait in the event loop, not in threads. Why: a sync route runs in the
   threadpool and FastAPI validates its answer in the threadpool *after* it returns, while
   the request's session (its transaction, and on SQLite the writer lock) is only closed
   after that. If every thread were taken by requests waiting for that lock, the holder
   could never get a thread to finish, and everyone would wait out the busy timeout.
   With ``slots`` requests in flight and at least ``2 * slots + 2`` threads (see
   ``create_app``), a holder always finds a thread. The body is read before a slot is
   taken, so a slow client cannot hold one. Health and the API docs take no slot, and
   need no token.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import sqlite3
import threading
import time
import weakref
from collections import OrderedDict

from limits import RateLimitItem, parse as parse_limit
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from market import accounts, db, limits
from market.api.bid_writer import BID_PATH
from market.errors import Unauthorized

log = logging.getLogger("market.api")
DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
DEFAULT_AUTH_FAILURES = "20/minute"  # failed authentications per client address and worker
UPLOAD_PATH = re.compile(r"^/v1/campaigns/[^/]+/items/?$")
UPLOAD_ROLES = ("requester",)  # who may send an upload-sized body (the campaign's owner uploads)
FREE_PATHS = ("/v1/health", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc")
CALLER = "prefmarket.caller"  # the scope key under which Authenticate leaves the accounts.Caller
MISSING_TOKEN = "missing bearer token: send 'Authorization: Bearer <token>'"
CLOSE = (b"connection", b"close")  # the request's body (if any) is never read


async def _send_json(send: Send, status: int, detail: str, headers: list[tuple[bytes, bytes]] = ()) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                    *headers],
    })
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value
    return None


def _bearer(scope: Scope) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    auth = _header(scope, b"authorization")
    if not auth or auth[:7].lower() != b"bearer ":
        return None
    return auth[7:].strip().decode("latin-1") or None


def _lookup(engine: Engine, token: str) -> accounts.Caller:
    with db.read_connection(engine) as conn:
        return accounts.authenticate(conn, token)


class _LoopReader:
    """A read connection kept open for the lookups made on the event loop (SQLite).

    Checking a connection out of the pool and back in for every request cost more than the
    lookup itself. Each lookup still reads on its own (no BEGIN, see
    ``db.read_connection``), so it sees every commit made before it: nothing is cached.
    A second event loop in the process (tests run several) takes a pooled one instead."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self._lock = threading.Lock()
        self._conn = None

    def lookup(self, token: str) -> accounts.Caller:
        if not self._lock.acquire(blocking=False):
            return _lookup(self.engine, token)
        try:
            if self._conn is None or self._conn.closed:
                self._conn = db.open_read_connection(self.engine)
                weakref.finalize(self, self._conn.close)  # back to the pool with the app
            try:
                return accounts.authenticate(self._conn, token)
            finally:
                self._conn.rollback()  # ends SQLAlchemy's transaction; SQLite saw no BEGIN
        finally:
            self._lock.release()


def parse_failures(text: str | None) -> RateLimitItem | None:
    """``"20/minute"`` (``limits`` notation: N per second, minute, hour...) → item; off → None."""
    text = (text or "").strip().lower()
    if text in ("", "0", "off", "none", "false"):
        return None
    item = parse_limit(text)  # ValueError with the text if it does not parse
    if item.amount < 1:
        raise ValueError(f"failed-authentication limit {text!r}: expected 'N/second', 'N/minute', ... with N >= 1")
    return item


class Authenticate:
    """The caller, from its bearer token, before the body is read; failures counted per address."""

    def __init__(self, app: ASGIApp, engine: Engine, failures: RateLimitItem | None):
        self.app = app
        self.engine = engine
        self.failures = failures
        self._on_loop = _LoopReader(engine) if db.is_sqlite(engine) else None
        self._limiter = MovingWindowRateLimiter(MemoryStorage()) if failures is not None else None

    def _refuse_for(self, address: str) -> int:
        """0 if ``address`` may try a token now, else whole seconds until it may."""
        if self._limiter is None or self._limiter.test(self.failures, address):
            return 0
        reset = self._limiter.get_window_stats(self.failures, address).reset_time
        return max(1, math.ceil(reset - time.time()))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path", "") in FREE_PATHS:
            await self.app(scope, receive, send)
            return
        challenge = [(b"www-authenticate", b"Bearer"), CLOSE]
        token = _bearer(scope)
        if token is None:
            await _send_json(send, 401, MISSING_TOKEN, challenge)
            return
        address = (scope.get("client") or ("unknown",))[0]
        retry = self._refuse_for(address)
        if retry:
            await _send_json(send, 429, f"too many failed authentications from {address} (at most "
                             f"{self.failures}); retry after {retry} s",
                             [(b"retry-after", str(retry).encode()), CLOSE])
            return
        try:
            caller = (self._on_loop.lookup(token) if self._on_loop is not None
                      else await run_in_threadpool(_lookup, self.engine, token))
        except Unauthorized as exc:
            if self._limiter is not None:
                self._limiter.hit(self.failures, address)
            await _send_json(send, 401, exc.detail, challenge)
            return
        except (OperationalError, sqlite3.OperationalError) as exc:
            log.warning("database error while authenticating: %s", exc)
            await _send_json(send, 503, "the database is busy; retry shortly", [CLOSE])
            return
        scope[CALLER] = caller
        await self.app(scope, receive, send)


class _TooLarge(Exception):
    pass


class BodyLimit:
    def __init__(self, app: ASGIApp, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
                 max_upload_bytes: int = limits.MAX_UPLOAD_BYTES):
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_upload_bytes = max_upload_bytes

    def limit_for(self, scope: Scope) -> tuple[int, str]:
        caller = scope.get(CALLER)
        if (scope.get("method") == "POST" and UPLOAD_PATH.match(scope.get("path", "")) and caller is not None
                and caller.account.role in UPLOAD_ROLES):
            return self.max_upload_bytes, "uploads are limited to {} bytes; split the file"
        return self.max_body_bytes, "request bodies are limited to {} bytes"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, message = self.limit_for(scope)
        detail = f"body: {message.format(limit)}"
        declared = _header(scope, b"content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > limit:
            await _send_json(send, 413, detail, [(b"connection", b"close")])
            return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge()
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if started:
                raise
            await _send_json(send, 413, detail, [(b"connection", b"close")])


def parse_rate(text: str | None) -> tuple[float, float] | None:
    """``"rate"`` or ``"rate/burst"`` (requests per second, bucket size) → tuple; off → None."""
    if text is None:
        return None
    text = text.strip().lower()
    if text in ("", "0", "off", "none", "false"):
        return None
    rate_s, _, burst_s = text.partition("/")
    rate = float(rate_s)
    burst = float(burst_s) if burst_s else max(1.0, 2 * rate)
    if not (math.isfinite(rate) and rate > 0 and math.isfinite(burst) and burst >= 1):
        raise ValueError(f"rate limit {text!r}: expected 'requests_per_second[/burst]', both positive")
    return rate, burst


class RateLimit:
    """Token buckets per account (in this process); 429 + Retry-After when empty."""

    def __init__(self, app: ASGIApp, rate: float, burst: float, max_keys: int = 100_000):
        self.app = app
        self.rate, self.burst = float(rate), float(burst)
        self.max_keys = max_keys
        self._buckets: OrderedDict[int, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def _take(self, key: int) -> float:
        """Take one request from ``key``'s bucket; 0 if allowed, else seconds until one is."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.pop(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                wait, tokens = 0.0, tokens - 1.0
            else:
                wait = (1.0 - tokens) / self.rate
            self._buckets[key] = (tokens, now)
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        return wait

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        caller = scope.get(CALLER)
        if caller is not None:
            wait = self._take(caller.account.id)
            if wait > 0:
                retry = max(1, math.ceil(wait))
                await _send_json(
                    send, 429,
                    f"rate limit: at most {self.rate:g} requests per second per account (bursts of "
                    f"{self.burst:g}); retry after {retry} s",
                    [(b"retry-after", str(retry).encode())],
                )
                return
        await self.app(scope, receive, send)


class DbSlots:
    """At most ``slots`` requests of this process past this point at once (body read first).

    Bids pass freely: ``market.api.bid_writer`` is their gate, one batch in flight per
    process, and a batch can only grow while bids are let through to join it."""

    def __init__(self, app: ASGIApp, slots: int):
        self.app = app
        self.slots = slots
        self._sem: asyncio.Semaphore | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path in FREE_PATHS or (scope["method"] == "PUT" and BID_PATH.fullmatch(path)):
            await self.app(scope, receive, send)
            return
        # read the whole body before taking a slot (BodyLimit, outside, bounds it)
        messages: list[Message] = []
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request" or not message.get("more_body", False):
                break
        replay = iter(messages)

        async def replayed() -> Message:
            try:
                return next(replay)
            except StopIteration:
                return await receive()  # e.g. http.disconnect, after the body

        if self._sem is None:
            self._sem = asyncio.Semaphore(self.slots)
        async with self._sem:
            await self.app(scope, replayed, send)

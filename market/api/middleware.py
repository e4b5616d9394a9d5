"""ASGI middleware in front of the routes: body size limits, per-token rate limits, and
database slots. Outermost first:

1. :class:`BodyLimit` refuses a request body over its limit with **413** and a message:
   at once when ``Content-Length`` says so, else as soon as the streamed body passes it.
   Item uploads (``POST /v1/campaigns/{id}/items``) may carry ``limits.MAX_UPLOAD_BYTES``;
   every other body ``max_body_bytes`` (``PREFMARKET_MAX_BODY_BYTES``, default 16 MiB).
2. :class:`RateLimit` gives each bearer token a token bucket (``rate`` requests per
   second, bursts of ``burst``) in each worker process; past it the answer is **429** with
   ``Retry-After`` (whole seconds). ``PREFMARKET_RATE_LIMIT="rate/burst"``; ``0`` or
   ``off`` turns it off. With N workers a token may get up to N times the rate.
3. :class:`DbSlots` lets at most ``slots`` requests per process work with the database at
   once; the rest wait in the event loop, not in threads. Why: a sync route runs in the
   threadpool and FastAPI validates its answer in the threadpool *after* it returns, while
   the request's session (its transaction, and on SQLite the writer lock) is only closed
   after that. If every thread were taken by requests waiting for that lock, the holder
   could never get a thread to finish, and everyone would wait out the busy timeout.
   With ``slots`` requests in flight and at least ``2 * slots + 2`` threads (see
   ``create_app``), a holder always finds a thread. The body is read before a slot is
   taken, so a slow client cannot hold one. Health and the API docs take no slot.
"""

from __future__ import annotations

import asyncio
import math
import re
import threading
import time
from collections import OrderedDict

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from market import limits

DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
UPLOAD_PATH = re.compile(r"^/v1/campaigns/[^/]+/items/?$")
FREE_PATHS = ("/v1/health", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc")


async def _send_json(send: Send, status: int, detail: str, headers: list[tuple[bytes, bytes]] = ()) -> None:
    import json

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


class _TooLarge(Exception):
    pass


class BodyLimit:
    def __init__(self, app: ASGIApp, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
                 max_upload_bytes: int = limits.MAX_UPLOAD_BYTES):
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_upload_bytes = max_upload_bytes

    def limit_for(self, scope: Scope) -> tuple[int, str]:
        if scope.get("method") == "POST" and UPLOAD_PATH.match(scope.get("path", "")):
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
    """Token buckets per bearer token (in this process); 429 + Retry-After when empty."""

    def __init__(self, app: ASGIApp, rate: float, burst: float, max_keys: int = 100_000):
        self.app = app
        self.rate, self.burst = float(rate), float(burst)
        self.max_keys = max_keys
        self._buckets: OrderedDict[bytes, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def _take(self, key: bytes) -> float:
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
        if scope["type"] == "http":
            auth = _header(scope, b"authorization")
            if auth and auth[:7].lower() == b"bearer ":
                wait = self._take(auth[7:].strip())
                if wait > 0:
                    retry = max(1, math.ceil(wait))
                    await _send_json(
                        send, 429,
                        f"rate limit: at most {self.rate:g} requests per second per token (bursts of "
                        f"{self.burst:g}); retry after {retry} s",
                        [(b"retry-after", str(retry).encode())],
                    )
                    return
        await self.app(scope, receive, send)


class DbSlots:
    """At most ``slots`` requests of this process past this point at once (body read first)."""

    def __init__(self, app: ASGIApp, slots: int):
        self.app = app
        self.slots = slots
        self._sem: asyncio.Semaphore | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path", "") in FREE_PATHS:
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

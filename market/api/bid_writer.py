"""Group commit for sealed bids: the bids that arrive while one batch is being written
are written together, in one transaction, by the next.

Why: a bid is one short statement, yet on its own it pays a trip to the threadpool, a
pooled connection, the writer lock (a thread lock and two ``flock`` calls on SQLite, see
``market.db``), ``BEGIN`` and ``COMMIT``, each a wait for the GIL. Bids come in bursts
(every annotator bids as a round opens), so under load one batch carries many, and each
bid costs little more than its statement. Durability is unchanged: a bid is answered
only after the transaction that holds it has committed.

One bid cannot fail another: each is placed by :func:`market.bid.try_place_bid` in the
batch's transaction, input that it refuses raises before any statement and is answered
on its own, and a batch whose transaction fails (a deadlock between two server
processes on Postgres, a commit error) is retried one bid per transaction, so that each
gets its own outcome. A bid whose round refused it (closed, over the price cap) comes
back as ``None`` and the route says why in a transaction of its own, as before.

The writer is also the bids' gate into the database: one batch of a process in flight
at a time, so the bid route is exempt from ``middleware.DbSlots`` (``BID_PATH``).
"""

from __future__ import annotations

import asyncio
import re
import weakref
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from market.bid import try_place_bid
from market.errors import MarketProblem
from market.tables import Account, Bid

BID_PATH = re.compile(r"/v1/rounds/[0-9]+/bid")
MAX_BATCH = 64  # bids per transaction: keeps the writer lock's hold short for other writers


@dataclass(frozen=True)
class BidRequest:
    annotator: Account
    round_id: int
    ask_cents: int
    capacity: int
    campaign_id: int | None


Outcome = Bid | None | BaseException


@dataclass
class _Queue:
    """The bids waiting on one event loop, and the task writing them (kept: the loop holds
    only a weak reference to a task)."""

    waiting: list[tuple[BidRequest, asyncio.Future]] = field(default_factory=list)
    task: asyncio.Task | None = None


class BidWriter:
    """Writes bids in batches (see the module's docstring); one per app."""

    def __init__(self, engine: Engine, max_batch: int = MAX_BATCH):
        self.engine = engine
        self.max_batch = max_batch
        self.transactions = 0  # batches committed or tried: what tests and benches read
        # one queue per event loop: futures belong to the loop that made them (a test may
        # drive the same app from several loops)
        self._queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Queue] = weakref.WeakKeyDictionary()

    async def place(self, request: BidRequest) -> Bid | None:
        """The bid placed, or None if its round refused it; raises what placing it raised."""
        loop = asyncio.get_running_loop()
        queue = self._queues.setdefault(loop, _Queue())
        future = loop.create_future()
        queue.waiting.append((request, future))
        if queue.task is None or queue.task.done():
            # a task of its own, so that a caller who hangs up does not stop the others' batch;
            # it ends only once no bid waits (nothing runs between its last check and its end)
            queue.task = loop.create_task(self._drain(queue))
        return await future

    async def _drain(self, queue: _Queue) -> None:
        while queue.waiting:
            batch, queue.waiting = queue.waiting[: self.max_batch], queue.waiting[self.max_batch:]
            try:
                outcomes = await run_in_threadpool(self.write, [r for r, _ in batch])
            except Exception as exc:  # noqa: BLE001 - handed to every caller of the batch
                outcomes = [exc] * len(batch)
            except BaseException:  # the loop is shutting down: nobody is left to answer
                for _, future in batch + queue.waiting:
                    future.cancel()
                raise
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                if future.done():  # its caller hung up; the bid stands if it was written
                    continue
                if isinstance(outcome, BaseException):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)

    def write(self, requests: list[BidRequest]) -> list[Outcome]:
        """Each request's outcome, all in one transaction, or one transaction each if the
        batch's failed (runs in a worker thread)."""
        # a fixed order of row locks, so that two processes' batches cannot deadlock on Postgres
        order = sorted(range(len(requests)), key=lambda i: (requests[i].round_id, requests[i].annotator.id))
        try:
            outcomes = self._transaction([requests[i] for i in order])
        except Exception as exc:  # noqa: BLE001 - one bid's fault must not be everyone's
            if len(requests) == 1:
                return [exc]
            return [self._single(r) for r in requests]
        unsorted: list[Outcome] = [None] * len(requests)
        for i, outcome in zip(order, outcomes, strict=True):
            unsorted[i] = outcome
        return unsorted

    def _single(self, request: BidRequest) -> Outcome:
        try:
            return self._transaction([request])[0]
        except Exception as exc:  # noqa: BLE001 - answered to this bid's caller alone
            return exc

    def _transaction(self, requests: list[BidRequest]) -> list[Outcome]:
        self.transactions += 1
        outcomes: list[Outcome] = []
        with self.engine.begin() as conn:
            for r in requests:
                try:
                    outcomes.append(try_place_bid(conn, r.annotator, r.round_id, r.ask_cents, r.capacity,
                                                  r.campaign_id))
                except MarketProblem as exc:  # refused before any statement: the transaction is intact
                    outcomes.append(exc)
        return outcomes

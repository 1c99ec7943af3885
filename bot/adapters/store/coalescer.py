"""Coalesce concurrent calls into one Redis round trip, answered one by one.

Under load the web process answers many deliveries at once; each needs one atomic dedupe+enqueue.
Calls that arrive in the same event-loop turn are handed to `flush` together, which runs them as
one command (bot/adapters/store/ledger.py: one script call for the whole batch, each delivery
still decided atomically, in arrival order). One flush is in flight at a time; calls arriving
meanwhile form the next batch (like Nagle's algorithm), so batches grow with load by themselves.
Two batches may be in flight at once, so the web process is parsing the next batch's requests
while Redis runs the last one instead of waiting for it. With one call at a time it is a plain
round trip.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from bot.adapters.store.errors import REDIS_DOWN

log = logging.getLogger("hookwise.redis")

# Bounds one batch's size, and so the latency a call at the back of a burst can see.
MAX_BATCH = 256
LANES = 2  # batches in flight at once

T = TypeVar("T")
R = TypeVar("R")


class Coalescer(Generic[T, R]):
    def __init__(
        self,
        flush: Callable[[Sequence[T]], Awaitable[Sequence[R]]],
        *,
        max_batch: int = MAX_BATCH,
        lanes: int = LANES,
    ) -> None:
        self._flush = flush
        self._max_batch = max_batch
        self._lanes = lanes
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._draining: set[asyncio.Task[None]] = set()

    def __call__(self, item: T) -> asyncio.Future[R]:
        """The answer to `item`, once its batch has run. A future, not a coroutine: the caller
        awaits it directly, one frame fewer to resume for every call of a batch."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._pending.append((item, future))
        if len(self._draining) < self._lanes:
            task = loop.create_task(self._drain())
            self._draining.add(task)
            task.add_done_callback(self._draining.discard)
        return future

    async def _drain(self) -> None:
        """Flush batches until nothing is pending; the next call starts a new drain."""
        await asyncio.sleep(0)  # let the calls of this loop turn join the first batch
        while self._pending:
            batch, self._pending = self._pending[: self._max_batch], self._pending[self._max_batch :]
            if not await self._settle(batch):
                # Redis is away: what queued up behind this batch would wait out the same
                # timeout. Answer it now (each caller turns it into a 503, well inside 10 s).
                waiting, self._pending = self._pending, []
                _fail(waiting, ConnectionError("Redis unavailable; the batch before failed"))

    async def _settle(self, batch: list[tuple[T, asyncio.Future[R]]]) -> bool:
        """Run one batch and answer each caller; False when the whole batch failed."""
        try:
            results = await self._flush([item for item, _ in batch])
        except Exception as exc:  # Redis down, timeout - or a bug: no caller may wait forever
            if not isinstance(exc, REDIS_DOWN):
                log.exception("unexpected error in a batched Redis call")
            _fail(batch, exc)
            return False
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():  # the request went away meanwhile
                future.set_result(result)
        return True


def _fail(calls: Sequence[tuple[object, asyncio.Future[R]]], exc: BaseException) -> None:
    for _, future in calls:
        if not future.done():
            future.set_exception(exc)

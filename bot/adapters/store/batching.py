"""Coalesce concurrent calls of one Lua script into one pipelined Redis round trip.

Under load the web process answers many deliveries at once; each needs one atomic script call.
Sending the calls that arrive in the same event-loop turn as one pipeline keeps every call atomic
(each is its own EVALSHA) while paying redis-py's per-command overhead and the network round trip
once per batch instead of once per delivery. One pipeline is in flight at a time; calls arriving
meanwhile form the next batch (like Nagle's algorithm), so batches grow with load by themselves.
With one call at a time it is a plain round trip.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError, RedisError

log = logging.getLogger("hookwise.redis")

# Bounds one pipeline's size, and so the latency a call at the back of a burst can see.
MAX_BATCH = 256


Call = tuple[list[Any], "asyncio.Future[Any]"]  # (numkeys, *keys, *args), and who waits for it


class ScriptBatcher:
    def __init__(self, redis: Redis, script: str) -> None:
        self._redis = redis
        self._script = redis.register_script(script)  # knows its SHA and how to (re)load itself
        self._pending: list[Call] = []
        self._in_flight: asyncio.Task[None] | None = None

    async def __call__(self, keys: list[Any], args: list[Any]) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._pending.append(([len(keys), *keys, *args], future))
        if self._in_flight is None:
            self._in_flight = loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        """Send batches until nothing is pending; the next call starts a new drain."""
        try:
            await asyncio.sleep(0)  # let the calls of this loop turn join the first batch
            while self._pending:
                batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
                failure = await self._flush(batch)
                if failure is not None:
                    # Redis is away: what queued up behind this batch would wait out the same
                    # timeout. Answer it now (each caller turns it into a 503, well inside 10 s).
                    waiting, self._pending = self._pending, []
                    _fail(waiting, failure)
        finally:
            self._in_flight = None

    async def _flush(self, batch: list[Call], *, reload: bool = True) -> BaseException | None:
        """Run `batch` in one pipeline and settle each caller with its own result. Returns the
        error that failed the whole batch, if one did."""
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for call, _ in batch:
                    pipe.execute_command("EVALSHA", self._script.sha, *call)
                results = await pipe.execute(raise_on_error=False)
        except Exception as exc:  # Redis down, timeout - or a bug: no caller may wait forever
            if not isinstance(exc, RedisError | OSError | TimeoutError):
                log.exception("unexpected error in a batched Redis call")
            _fail(batch, exc)
            return exc
        missing: list[Call] = []
        for (call, future), result in zip(batch, results, strict=True):
            if reload and isinstance(result, NoScriptError):
                missing.append((call, future))
            else:
                _settle(future, result)
        if not missing:
            return None
        # Redis restarted or flushed its scripts: load the script once, run only those calls again.
        try:
            await self._redis.script_load(self._script.script)
        except (RedisError, OSError, TimeoutError) as exc:
            _fail(missing, exc)
            return exc
        return await self._flush(missing, reload=False)


def _fail(calls: list[Call], exc: BaseException) -> None:
    for _, future in calls:
        if not future.done():
            future.set_exception(exc)


def _settle(future: asyncio.Future[Any], result: Any) -> None:
    if future.done():  # the request went away meanwhile
        return
    if isinstance(result, Exception):
        future.set_exception(result)
    else:
        future.set_result(result)

"""The circuit breaker around every call to GitHub and to the model (bot/core/operations/breaker.py).

`Guard.call(dependency)` admits the call (or raises `CircuitOpen`: the job waits, bot/core/operations/retry.py),
and files how it ended: the service answered, it is failing (an outage error of hookwise's own:
bot/core/errors.py), or neither. When the failure opens the breaker, the error becomes
`CircuitOpen` too, so the job waits for the breaker's probe instead of backing off on its own.
GitHub's adapter puts it around each request (bot/adapters/github.py); `GuardedLLM`
(bot/adapters/guarded_llm.py) puts it around each question to the model. `NO_GUARD` admits
everything (tests, `receive`).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from bot.adapters.store.breakers import Breakers, Ticket
from bot.core.errors import CircuitOpen
from bot.core.operations.breaker import Dependency


class Guard:
    def __init__(self, breakers: Breakers | None, *, clock: Callable[[], float] = time.time) -> None:
        self._breakers = breakers
        self._clock = clock

    async def enter(self, dependency: Dependency) -> Ticket:
        if self._breakers is None:
            return Ticket(dependency)
        return await self._breakers.gate(dependency)

    async def settle(self, ticket: Ticket, error: BaseException | None) -> None:
        """File the call's end; an outage failure that leaves the breaker open is raised as
        `CircuitOpen` (from `error`)."""
        if self._breakers is None:
            return
        state = await self._breakers.settle(ticket, error)
        if error is not None and state is not None and state.is_open:
            reason = getattr(error, "reason", str(error))
            raise CircuitOpen(
                reason, wait_s=state.probe_at - self._clock(), dependency=ticket.dependency.key
            ) from error

    async def release(self, ticket: Ticket) -> None:
        if self._breakers is not None:
            await self._breakers.release(ticket)

    @asynccontextmanager
    async def call(self, dependency: Dependency) -> AsyncIterator[None]:
        ticket = await self.enter(dependency)
        try:
            yield
        except Exception as exc:
            await self.settle(ticket, exc)
            raise
        except BaseException:  # cancelled: says nothing about the service
            await self.release(ticket)
            raise
        await self.settle(ticket, None)


NO_GUARD = Guard(None)

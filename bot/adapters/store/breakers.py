"""Circuit breakers in Redis, shared by every worker (the decisions: bot/core/operations/breaker.py).

Each dependency has one hash (`keys.BREAKER`); a change is read, decided by the pure transition
and written back in a WATCH/MULTI transaction, so concurrent workers never lose each other's
failures. The probe is a lease (`SET NX PX`): one worker at a time calls a service whose breaker
is open. Open breakers are also listed in `keys.BREAKERS_OPEN` (the fair queue holds its backlog
back while one is open: bot/adapters/store/fairness.py), and each job waiting on one is noted in
`keys.BREAKER_WAITING` (by a digest of its id, until it wakes) so the status page can count them.

Everything here is best effort against Redis: a breaker that cannot be read lets the call go.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import WatchError

from bot.adapters.store import keys
from bot.adapters.store.codec import text
from bot.adapters.store.errors import REDIS_DOWN
from bot.core.errors import CircuitOpen, HookwiseError, PermanentError, TransientError
from bot.core.operations import breaker
from bot.core.operations.breaker import Admit, BreakerState, Dependency

log = logging.getLogger("hookwise.breaker")

STATE_TTL_S = 7 * 86_400
PROBE_IN_FLIGHT_WAIT_S = 2.0  # another worker is probing: look again once its answer is likely in
WAIT_MARGIN_S = 2.0

# Delete the probe's lease only while it is still ours.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass(frozen=True, slots=True)
class Ticket:
    """One call's admission: its dependency, the probe's lease when it is the probe, and whether
    the breaker was clean (closed, nothing counted) so that a success need not be written."""

    dependency: Dependency
    probe: str | None = None
    clean: bool = True


@dataclass(frozen=True, slots=True)
class BreakerView:
    """A breaker as the status page shows it."""

    key: str
    label: str
    state: BreakerState
    waiting: int  # jobs waiting on it now


def job_digest(job_id: str) -> str:
    """A job's id as the breakers and the retry state keep it: job ids may name a repository."""
    return hashlib.sha256(job_id.encode()).hexdigest()[:24]


def _state(raw: dict[bytes, bytes]) -> BreakerState:
    """A breaker's state from its hash as redis-py answers it (bytes; empty: never changed)."""
    return BreakerState.from_fields({text(k): text(v) for k, v in raw.items()})


def _waiting(dependency: Dependency, state: BreakerState, now: float) -> CircuitOpen:
    """The job waits for the next probe of `dependency`'s open breaker."""
    reason = breaker.waiting_reason(state, dependency.label)
    return CircuitOpen(reason, wait_s=max(state.probe_at - now, 0.0), dependency=dependency.key)


class Breakers:
    def __init__(
        self,
        redis: Redis,
        *,
        lease_s: float = 60.0,
        clock: Callable[[], float] = time.time,
        probe_interval_s: float = breaker.PROBE_INTERVAL_S,
    ) -> None:
        self._redis = redis
        self._lease_ms = int(lease_s * 1000)
        self._clock = clock
        self._probe_interval_s = probe_interval_s  # tests shorten it
        self._release = redis.register_script(_RELEASE)

    # -- around one call ---------------------------------------------------------------------------

    async def hold(self, dependencies: Iterable[Dependency]) -> None:
        """Before a job runs: raise `CircuitOpen` when a dependency it needs is down and no probe is
        due, so it waits without calling anything (a probe's turn goes ahead: its first call takes
        the lease in `gate`). Redis not answering holds nothing: the calls decide."""
        for dependency in dependencies:
            try:
                state = await self.state(dependency.key)
            except REDIS_DOWN:
                return
            now = self._clock()
            if breaker.admit(state, now) is Admit.WAIT:
                raise _waiting(dependency, state, now)

    async def gate(self, dependency: Dependency) -> Ticket:
        """Admit one call to `dependency`, or raise `CircuitOpen` (the job waits)."""
        now = self._clock()
        try:
            state = await self.state(dependency.key)
        except REDIS_DOWN as exc:  # no breaker without Redis; the call decides
            log.debug("breaker %s unreadable (%s): the call goes", dependency.key, exc)
            return Ticket(dependency)
        verdict = breaker.admit(state, now)
        if verdict is Admit.GO:
            return Ticket(dependency, clean=state.clean)
        if verdict is Admit.PROBE:
            return await self._probe(dependency, state, now)
        raise _waiting(dependency, state, self._clock())

    async def _probe(self, dependency: Dependency, state: BreakerState, now: float) -> Ticket:
        """Take the probe's lease and be the probe, or raise `CircuitOpen` (another worker probes)."""
        token = uuid.uuid4().hex
        ticket = Ticket(dependency, probe=token, clean=False)
        try:
            taken = await self._redis.set(keys.BREAKER_PROBE + dependency.key, token, nx=True, px=self._lease_ms)
            # The lease was free - but another worker's probe may have failed and let it go since
            # the state was read: it moves the next probe before it releases the lease, so reading
            # the state again tells a due probe from one just made.
            again = await self.state(dependency.key) if taken else state
        except REDIS_DOWN as exc:  # as when the breaker is unreadable: the call goes, holding no lease
            log.debug("breaker %s: probe lease unsure (%s): the call goes", dependency.key, exc)
            await self.release(ticket)  # the SET may have landed: else the lease would block probes for lease_s
            return Ticket(dependency)
        if not taken:
            reason = breaker.waiting_reason(state, dependency.label)
            raise CircuitOpen(reason, wait_s=PROBE_IN_FLIGHT_WAIT_S, dependency=dependency.key)
        if breaker.admit(again, self._clock()) is not Admit.WAIT:
            log.info("breaker %s: probing (open for %.0fs)", dependency.label, now - (state.opened_at or now))
            return ticket
        await self.release(ticket)
        raise _waiting(dependency, again, self._clock())

    async def settle(self, ticket: Ticket, error: BaseException | None) -> BreakerState | None:
        """What the call's end says about the service: it answered (a success, or a permanent
        error: the service is up), it is failing (an outage error), or nothing (a rate limit, our
        own timeout, a cancelled job). Returns the state after an outage failure."""
        try:
            if error is None or isinstance(error, PermanentError):
                if ticket.probe is not None or not ticket.clean:
                    before, _after = await self._update(ticket.dependency, breaker.after_success)
                    if before.is_open:
                        log.warning(
                            "breaker %s closed: it answers again after %.0fs",
                            ticket.dependency.label,
                            self._clock() - (before.opened_at or 0),
                        )
                return None
            if isinstance(error, TransientError) and error.outage:
                return await self._failed(ticket.dependency, error)
            return None
        except REDIS_DOWN as exc:
            log.warning("breaker %s could not be updated: %s", ticket.dependency.key, exc)
            return None
        finally:
            await self.release(ticket)

    async def release(self, ticket: Ticket) -> None:
        if ticket.probe is None:
            return
        try:
            await self._release(keys=[keys.BREAKER_PROBE + ticket.dependency.key], args=[ticket.probe])
        except REDIS_DOWN as exc:  # the lease expires by itself
            log.warning("breaker %s: probe lease not released (%s)", ticket.dependency.key, exc)

    async def _failed(self, dependency: Dependency, error: HookwiseError) -> BreakerState:
        now = self._clock()
        asked = error.retry_after_s if isinstance(error, TransientError) else None

        def change(state: BreakerState) -> BreakerState:
            return breaker.after_failure(state, now, error.reason, asked_s=asked, interval_s=self._probe_interval_s)

        before, after = await self._update(dependency, change)
        if after.is_open and not before.is_open:
            log.warning(
                "breaker %s open after %d failures in a row: %s; one probe every %.0fs until it answers",
                dependency.label,
                after.failures,
                error.reason,
                after.probe_at - now,
            )
        return after

    async def _update(
        self, dependency: Dependency, change: Callable[[BreakerState], BreakerState]
    ) -> tuple[BreakerState, BreakerState]:
        key = keys.breaker(dependency.key)
        async with self._redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(key)
                    raw = await pipe.hgetall(key)  # type: ignore[misc]
                    before = _state(raw)
                    after = change(before)
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.hset(key, mapping={**after.to_fields(), "label": dependency.label})
                    pipe.expire(key, STATE_TTL_S)
                    if after.is_open:
                        pipe.zadd(keys.BREAKERS_OPEN, {dependency.key: after.probe_at})
                    else:
                        pipe.zrem(keys.BREAKERS_OPEN, dependency.key)
                    now = self._clock()
                    pipe.zadd(keys.BREAKERS, {dependency.key: now})
                    # A dependency unchanged for as long as its hash lives is gone from the status page too.
                    pipe.zremrangebyscore(keys.BREAKERS, "-inf", now - STATE_TTL_S)
                    await pipe.execute()
                    return before, after
                except WatchError:
                    continue

    # -- reads -------------------------------------------------------------------------------------

    async def state(self, key: str) -> BreakerState:
        return _state(await self._redis.hgetall(keys.breaker(key)))  # type: ignore[misc]

    async def note_waiting(self, dependency_key: str, job_id: str, delay_s: float) -> None:
        """A job waits on `dependency_key`'s breaker until `delay_s` from now (the status page counts it)."""
        now = self._clock()
        key = keys.BREAKER_WAITING + dependency_key
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zadd(key, {job_digest(job_id): now + delay_s + WAIT_MARGIN_S})
            pipe.zremrangebyscore(key, "-inf", now)
            pipe.expire(key, STATE_TTL_S)
            await pipe.execute()

    async def overview(self, extra: Iterable[Dependency] = ()) -> list[BreakerView]:
        """Every breaker known (those that ever changed, and `extra`), with the jobs waiting on each."""
        now = self._clock()
        labels = {dependency.key: dependency.label for dependency in extra}
        for raw in await self._redis.zrange(keys.BREAKERS, 0, -1):
            labels.setdefault(text(raw), "")
        names: Sequence[str] = sorted(labels)
        if not names:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.hgetall(keys.breaker(name))
                pipe.zcount(keys.BREAKER_WAITING + name, now, "+inf")
            answers = await pipe.execute()
        views = []
        for name, raw, waiting in zip(names, answers[0::2], answers[1::2], strict=True):
            state = _state(raw)
            views.append(BreakerView(name, state.label or labels[name] or name, state, int(waiting)))
        return views

"""Is Redis allowed to drop keys? Exactly-once rests on keys that must not vanish: delivery records,
effect keys, arq's jobs. With `maxmemory-policy` anything but `noeviction` (a common managed
default is `allkeys-lru`), Redis evicts them silently under memory pressure: a duplicate comment
or a lost job, and no error anywhere. Under `noeviction` a full Redis refuses writes instead (an
OOM error), which the web answers 503 and the worker rides out (bot/adapters/store/errors.py).

The web and the worker each check at start and log one warning line naming `maxmemory-policy`
unless it is `noeviction` (or, once, that they could not tell: managed Redis services often
refuse `CONFIG GET`); the status page shows the same (bot/core/operations/health.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from bot.adapters.store.codec import text
from bot.core.operations.health import eviction_warning


@dataclass(frozen=True, slots=True)
class EvictionPolicy:
    policy: str | None  # None: Redis would not say
    problem: str = ""  # why it would not say (`CONFIG GET` refused)

    def warning(self) -> str | None:
        """The one line to log, or None when the policy is `noeviction`."""
        return eviction_warning(self.policy, self.problem)


async def eviction_policy(redis: Redis) -> EvictionPolicy:
    """Redis's `maxmemory-policy`; connection errors propagate (the caller tries again later)."""
    try:
        answer = await redis.config_get("maxmemory-policy")
    except ResponseError as exc:  # e.g. "unknown command 'CONFIG'" or NOPERM on a managed service
        return EvictionPolicy(None, str(exc).split("\n")[0][:200])
    values = {text(k): text(v) for k, v in dict(answer).items()}
    policy = values.get("maxmemory-policy")
    return EvictionPolicy(policy) if policy else EvictionPolicy(None, "no maxmemory-policy in the answer")


async def warn_about_eviction(redis: Redis, log: logging.Logger) -> EvictionPolicy:
    """Check once and log the warning line when there is one."""
    found = await eviction_policy(redis)
    line = found.warning()
    if line is not None:
        log.warning("%s", line)
    return found

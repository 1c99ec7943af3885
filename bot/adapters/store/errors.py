"""redis-py's errors as hookwise's own: a Redis blip inside a job is transient
(bot/core/operations/retry.py), and so is a Redis out of memory (`maxmemory` reached under
`noeviction`): the worker rides it out like an outage of any other service, for up to RETRY_FOR."""

from __future__ import annotations

from redis import exceptions as redis_errors

from bot.core.errors import TransientError

OUT_OF_MEMORY = "Redis out of memory"
REDIS_DOWN: tuple[type[BaseException], ...] = (redis_errors.RedisError, OSError)
"""What a call to Redis raises when Redis is away, full or too slow: the one tuple hookwise catches
(a best-effort write logs and goes on; a job's own failure is mapped by `store_error`)."""


def is_out_of_memory(exc: BaseException) -> bool:
    """Redis refused a write because `maxmemory` is reached (`OOM command not allowed ...`)."""
    if isinstance(exc, redis_errors.OutOfMemoryError):
        return True
    text = str(exc)
    return isinstance(exc, redis_errors.ResponseError) and (
        text.startswith("OOM ") or "used memory > 'maxmemory'" in text
    )


def store_error(exc: BaseException) -> BaseException:
    """hookwise's error for what redis-py raised; anything else is returned unchanged."""
    if isinstance(exc, redis_errors.ConnectionError | redis_errors.TimeoutError):
        return TransientError(f"Redis unavailable: {type(exc).__name__}")
    if is_out_of_memory(exc):
        return TransientError(f"{OUT_OF_MEMORY}: {exc}")
    return exc

"""redis-py's errors as hookwise's own: a Redis blip inside a job is transient (bot/core/operations/retry.py)."""

from __future__ import annotations

from redis import exceptions as redis_errors

from bot.core.errors import TransientError


def store_error(exc: BaseException) -> BaseException:
    """hookwise's error for what redis-py raised; anything else is returned unchanged."""
    if isinstance(exc, redis_errors.ConnectionError | redis_errors.TimeoutError):
        return TransientError(f"Redis unavailable: {type(exc).__name__}")
    return exc

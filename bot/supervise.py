"""Keep a worker running through Redis outages: wait, reconnect, carry on."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from arq.worker import Worker
from redis.exceptions import RedisError

from bot.config import Settings
from bot.worker import worker_settings

log = logging.getLogger("hookwise.worker")

RECONNECT_MIN_S = 0.5
RECONNECT_MAX_S = 10.0


async def run_worker_forever(settings: Settings, **overrides: Any) -> None:
    """Run arq's worker; when Redis goes away, start a new one once it is back. Returns on SIGTERM."""
    delay = RECONNECT_MIN_S
    while True:
        worker = Worker(**worker_settings(settings, **overrides))
        try:
            await worker.async_run()
            return
        except asyncio.CancelledError:
            # arq's signal handler cancels its main task after letting running jobs finish (or
            # re-queueing them): the shutdown was asked for.
            return
        except (RedisError, OSError) as exc:
            log.warning("Redis unavailable (%s); reconnecting in %.1fs", exc, delay)
        finally:
            try:
                await worker.close()
            except (RedisError, OSError):
                pass
        await asyncio.sleep(delay)
        delay = min(delay * 2, RECONNECT_MAX_S)

"""Keep a worker running through Redis outages: wait, reconnect, carry on - and stop on SIGTERM,
whether the signal comes while a worker runs or while waiting to reconnect."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import Any

from arq.worker import Worker

from bot.adapters.store.errors import REDIS_DOWN
from bot.config import Settings
from bot.worker.heartbeat import WorkerStats
from bot.worker.settings import shutdown, worker_settings

log = logging.getLogger("hookwise.worker")

RECONNECT_MIN_S = 0.5
RECONNECT_MAX_S = 10.0


async def run_worker_forever(settings: Settings, **overrides: Any) -> None:
    """Run arq's worker; when Redis goes away, start a new one once it is back. Returns on SIGTERM
    or SIGINT (arq's own handler lets running jobs finish first, then hands the rest back)."""
    delay = RECONNECT_MIN_S
    stop = asyncio.Event()
    stats = WorkerStats()  # one identity on the status page however often Redis comes and goes
    while not stop.is_set():
        worker = Worker(**worker_settings(settings, stats=stats, **overrides))  # installs arq's signal handlers
        try:
            await worker.async_run()
            return
        except asyncio.CancelledError:
            return  # arq's signal handler cancelled its main task: the shutdown was asked for
        except REDIS_DOWN as exc:
            log.warning("Redis unavailable (%s); reconnecting in %.1fs", exc, delay)
        finally:
            await _close(worker)
        _on_signals(stop.set)  # arq's handlers belong to the worker that just ended
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
        delay = min(delay * 2, RECONNECT_MAX_S)
    log.info("stopped while waiting for Redis")


async def _close(worker: Worker) -> None:
    try:
        await worker.close()
    except REDIS_DOWN:
        # arq's close() talks to Redis before its on_shutdown: close our clients ourselves.
        await shutdown(worker.ctx)


def _on_signals(callback: Any) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, callback)

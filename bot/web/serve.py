"""Run the web process, and drain it on SIGTERM.

aiohttp's `run_app` stops reading request bodies once its shutdown starts, so a delivery still
uploading when SIGTERM arrives would be cut off unanswered. Here the shutdown is ours: stop
listening (new connections go to another process), keep reading and answering every request
already in flight - bodies mid-upload included, 2xx or 503 - for up to `DRAIN_S`, then close the
idle connections and Redis, and return, well inside the contract's 20 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import Coroutine
from typing import Any

from aiohttp import web

from bot.web.keys import DRAIN

log = logging.getLogger("hookwise.web")

DRAIN_S = 15.0  # answering what is in flight; a delivery normally takes milliseconds
CLOSE_S = 3.0  # then closing idle keep-alive connections and Redis


def run_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run the web process on uvloop where it is installed (it answers a delivery with less CPU:
    bench/README.md), else on asyncio's own loop."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency except on Windows
        asyncio.run(main)
        return
    uvloop.run(main)


def listening_on(runner: web.AppRunner, host: str, port: int) -> str:
    """Where the server really listens: with PORT=0 the system chose the port, and this says which."""
    bound = [address for address in runner.addresses if isinstance(address, tuple) and len(address) >= 2]
    if not bound:
        return f"{host}:{port}"
    return ", ".join(sorted({f"[{a[0]}]:{a[1]}" if ":" in str(a[0]) else f"{a[0]}:{a[1]}" for a in bound}))


async def serve(app: web.Application, *, host: str, port: int) -> None:
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=CLOSE_S)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024)
    await site.start()
    # What start-up made lives as long as the process: out of the collector's way (fewer objects
    # for every full collection to walk while deliveries arrive).
    gc.collect()
    gc.freeze()
    log.info("listening on %s", listening_on(runner, host, port))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
        drain = app[DRAIN]
        await site.stop()  # no new connections; the ones open keep being read
        log.info("stopping: no new connections; answering %d request(s) in flight", drain.in_flight)
        if not await drain.until_idle(DRAIN_S):
            log.warning("stopping: %d request(s) still in flight after %.0fs", drain.in_flight, DRAIN_S)
    finally:
        await runner.cleanup()
    log.info("stopped")

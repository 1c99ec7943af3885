"""Knowing what is in flight, so a shutdown can answer it before it exits.

aiohttp calls a handler as soon as a request's headers are in, so a request whose body is still
uploading is already "in flight" here. While draining, every answer closes its connection (the
sender's next request opens a new one, on another process) and `/readyz` says 503.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Drain:
    def __init__(self) -> None:
        self.in_flight = 0
        self.draining = False
        self._idle = asyncio.Event()
        self._idle.set()

    def tracked(self, handler: Handler) -> Handler:
        """`handler`, counted while it runs (a route's own wrapper rather than a middleware: aiohttp
        then calls it without its middleware machinery, which costs per request)."""

        async def handle(request: web.Request) -> web.StreamResponse:
            self.in_flight += 1
            self._idle.clear()
            try:
                response = await handler(request)
                if self.draining:
                    response.force_close()
                return response
            finally:
                self.in_flight -= 1
                if self.in_flight == 0:
                    self._idle.set()

        return handle

    async def until_idle(self, limit_s: float) -> bool:
        """Start draining and wait, at most `limit_s`, until no request is in flight."""
        self.draining = True
        try:
            await asyncio.wait_for(self._idle.wait(), limit_s)
        except TimeoutError:
            return False
        return True

"""The web process: `create_app(settings)` builds the aiohttp application."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from aiohttp import web
from redis.asyncio import Redis

from bot.adapters.store.errors import REDIS_DOWN
from bot.adapters.store.ledger import Ledger
from bot.adapters.store.redis_policy import warn_about_eviction
from bot.adapters.store.status import DEFAULT_SOURCES, StatusSources
from bot.adapters.store.trends import SignatureFailures
from bot.config import Settings
from bot.logs import GatheredLines
from bot.web.drain import Drain
from bot.web.keys import DRAIN, LEDGER, LINES, METRICS, REDIS, SECRETS, SETTINGS, SIGNATURE_FAILURES, STATUS_READERS
from bot.web.metrics import WebMetrics
from bot.web.status import status_page
from bot.web.webhook import MAX_BODY_BYTES, handle_webhook

log = logging.getLogger("hookwise.web")

# Short enough that a request answers 503 well inside GitHub's 10 s when Redis is away.
REDIS_TIMEOUT_S = 2.0


def connect_redis(url: str) -> Redis:
    redis: Redis = Redis.from_url(url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S)
    return redis


async def check_eviction_policy(redis: Redis, *, first_delay_s: float = 1.0, most_s: float = 30.0) -> None:
    """Log the one `maxmemory-policy` warning line (bot/adapters/store/redis_policy.py) as soon as
    Redis answers: at start, or once it is back if it was not there."""
    delay = first_delay_s
    while True:
        try:
            await warn_about_eviction(redis, log)
            return
        except REDIS_DOWN:
            await asyncio.sleep(delay)
            delay = min(delay * 2, most_s)


def _redis_ctx(sources: StatusSources) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        redis = connect_redis(app[SETTINGS].REDIS_URL)
        app[REDIS] = redis
        app[LEDGER] = Ledger(redis)
        app[STATUS_READERS] = sources.readers(redis, app[SETTINGS])
        app[SIGNATURE_FAILURES] = failures = SignatureFailures(redis)
        check = asyncio.get_running_loop().create_task(check_eviction_policy(redis))
        yield
        check.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await check
        await failures.flush()
        await redis.aclose()

    return ctx


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    if request.app[DRAIN].draining:
        return web.json_response({"status": "stopping"}, status=503)
    try:
        await request.app[REDIS].ping()
    except REDIS_DOWN as exc:
        return web.json_response({"status": "unavailable", "redis": str(exc)}, status=503)
    return web.json_response({"status": "ready"})


async def metrics(request: web.Request) -> web.Response:
    body = request.app[METRICS].render()
    return web.Response(body=body, headers={"Content-Type": request.app[METRICS].content_type})


def create_app(settings: Settings, *, status_sources: StatusSources = DEFAULT_SOURCES) -> web.Application:
    """The web process. `status_sources` makes the status page's budget and agreement readers."""
    settings.check_web()
    # A little over GitHub's cap, so an oversized body is refused by our own check with a JSON 413.
    drain = Drain()
    app = web.Application(client_max_size=MAX_BODY_BYTES + 1)
    app[DRAIN] = drain
    app[SETTINGS] = settings
    app[SECRETS] = settings.webhook_secrets()
    app[METRICS] = WebMetrics()
    app[LINES] = GatheredLines(logging.getLogger("hookwise.webhook"))
    app[METRICS].in_flight.set_function(lambda: drain.in_flight)
    app.cleanup_ctx.append(_redis_ctx(status_sources))
    app.router.add_post(settings.WEBHOOK_PATH, drain.tracked(handle_webhook))
    app.router.add_get("/healthz", drain.tracked(healthz))
    app.router.add_get("/readyz", drain.tracked(readyz))
    app.router.add_get("/metrics", drain.tracked(metrics))
    if settings.STATUS_PASSWORD is not None:  # without it the page does not exist: 404 like any unknown path
        app.router.add_get("/status", drain.tracked(status_page))
    return app

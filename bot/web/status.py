"""GET /status: what the bot is doing, as a page an operator would rather read than logs.

Served only when STATUS_PASSWORD is set (otherwise the route does not exist: 404), behind HTTP
Basic auth with any user name and that password, compared in constant time; 401 with a
`WWW-Authenticate` challenge otherwise. `gather` builds the typed view (bot/core/views/status.py) from
small store reads (bot/adapters/store/status.py); `render_page` makes the HTML. The page carries
no script and loads nothing else; it is never cached.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import time
from collections.abc import Awaitable, Sequence
from typing import TypeVar

from aiohttp import web
from redis.asyncio import Redis

from bot.adapters.store.breakers import Breakers
from bot.adapters.store.errors import REDIS_DOWN
from bot.adapters.store.fairness import Fairness
from bot.adapters.store.heartbeats import Heartbeats
from bot.adapters.store.redis_policy import eviction_policy
from bot.adapters.store.status import StatusReaders, dead_letters, queue_state, recent_deliveries
from bot.adapters.store.trends import cost_by_day, deliveries_by_hour, signature_failures
from bot.config import Settings
from bot.core.operations.breaker import github_dependency
from bot.core.operations.health import DependencyRow, Health, WorkerRow
from bot.core.views.status import BudgetUse, QueueView, RepoAgreement, StatusView, render_page, safe_text
from bot.web.keys import REDIS, SETTINGS, STATUS_READERS

log = logging.getLogger("hookwise.status")
T = TypeVar("T")

REALM = 'Basic realm="hookwise status", charset="UTF-8"'
RECENT = 50
DEAD = 20
MIN_REFRESH_S, MAX_REFRESH_S = 5, 3600
HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    ),
}


def known_secrets(settings: Settings) -> tuple[str, ...]:
    """Every secret value this process knows: redacted wherever a record's text would show one."""
    values = [part.decode() for part in settings.webhook_secrets()]
    for secret in (
        settings.STATUS_PASSWORD,
        settings.ANTHROPIC_API_KEY,
        settings.PRIVATE_KEY,
        settings.AWS_SECRET_ACCESS_KEY,
        settings.AWS_SESSION_TOKEN,
        settings.AWS_BEARER_TOKEN_BEDROCK,
    ):
        if secret is not None:
            values.append(secret.get_secret_value())
    return tuple(values)


def authorized(header: str | None, password: str) -> bool:
    """HTTP Basic with any user name and `password`; constant time (digests of equal length)."""
    scheme, _, value = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    _user, colon, given = decoded.partition(":")
    if not colon:
        return False
    return hmac.compare_digest(hashlib.sha256(given.encode()).digest(), hashlib.sha256(password.encode()).digest())


async def _section(read: Awaitable[Sequence[T]], what: str, problems: list[str]) -> list[T] | None:
    """A reader's rows; when it fails, None (the section says "not recorded yet") and the reason in
    `problems`, so one broken source never takes the page down."""
    try:
        return list(await read)
    except Exception as exc:
        log.warning("status page: %s could not be read", what, exc_info=not isinstance(exc, REDIS_DOWN))
        problems.append(f"{what} could not be read: {exc or type(exc).__name__}")
        return None


async def gather(
    redis: Redis, settings: Settings, readers: StatusReaders, *, now: float | None = None, refresh_s: int | None = None
) -> StatusView:
    """The page's view: recent deliveries, queue, dead letters, the last hour's refused deliveries
    and the charts' counters (Redis errors propagate: 503), then budgets and agreement from their
    readers (a reader's failure is shown in the page instead)."""
    now = time.time() if now is None else now
    deliveries = await recent_deliveries(redis, RECENT)
    dead = await dead_letters(redis, DEAD)
    queue = await queue_state(redis, now)
    refused = await signature_failures(redis, now)
    hourly = await deliveries_by_hour(redis, now)
    daily_cost = await cost_by_day(redis, now)
    problems: list[str] = []
    budgets: list[BudgetUse] | None = None
    agreement: list[RepoAgreement] | None = None
    if readers.budgets is not None:
        budgets = await _section(readers.budgets.budgets_today(), "today's model budget", problems)
    if readers.agreement is not None:
        agreement = await _section(readers.agreement.agreement(), "triage agreement", problems)
    health = await gather_health(redis, settings, queue, now=now)
    return StatusView(
        generated_at=now,
        deliveries=deliveries,
        queue=queue,
        dead_letters=dead,
        budgets=budgets,
        agreement=agreement,
        budget_limit=settings.MODEL_TOKENS_PER_DAY,
        dry_run=settings.DRY_RUN,
        known_secrets=known_secrets(settings),
        problems=tuple(problems),
        refresh_s=refresh_s,
        health=health,
        signature_failures=refused,
        hourly=hourly,
        daily_cost=daily_cost,
    )


async def gather_health(redis: Redis, settings: Settings, queue: QueueView, *, now: float) -> Health:
    """Workers seen in the last minute, each dependency's breaker, the fair-share backlog and
    Redis's eviction policy (Redis errors propagate: the page answers 503)."""
    seen = await Heartbeats(redis).seen(now=now)
    known = [github_dependency(settings.GITHUB_API_URL)] + [
        settings.model_dependency(model)
        for model in dict.fromkeys((settings.model_for("triage"), settings.model_for("summary")))
    ]
    breakers = await Breakers(redis).overview(known)
    fairness = Fairness(redis)
    parked = await fairness.parked()
    policy = await eviction_policy(redis)
    window = await fairness.window()
    return Health(
        workers=[
            WorkerRow(w.worker_id, w.host, w.pid, w.started_at, w.seen_at, w.running, w.slots, w.done) for w in seen
        ],
        dependencies=[
            DependencyRow(
                b.key,
                b.label,
                b.state.is_open,
                b.state.failures,
                b.state.opened_at,
                b.state.probe_at,
                b.state.last_error,
                b.waiting,
            )
            for b in breakers
        ],
        jobs_waiting=queue.depth + parked.total,
        parked=parked.total,
        parked_installations=parked.installations,
        parked_largest=parked.largest,
        eviction_policy=policy.policy,
        eviction_problem=policy.problem,
        window=window,
    )


def _refresh(request: web.Request) -> int | None:
    try:
        asked = int(request.query.get("refresh", ""))
    except ValueError:
        return None
    return min(max(asked, MIN_REFRESH_S), MAX_REFRESH_S)


async def status_page(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    assert settings.STATUS_PASSWORD is not None  # the route exists only with it
    if not authorized(request.headers.get("Authorization"), settings.STATUS_PASSWORD.get_secret_value()):
        return web.Response(
            status=401,
            text="401: the status page needs the password (HTTP Basic, any user name, STATUS_PASSWORD)\n",
            headers={"WWW-Authenticate": REALM, **HEADERS},
        )
    try:
        view = await gather(request.app[REDIS], settings, request.app[STATUS_READERS], refresh_s=_refresh(request))
    except REDIS_DOWN as exc:
        log.warning("status page: Redis unavailable: %s", exc)
        reason = safe_text(str(exc), known_secrets(settings))
        body = f"<!DOCTYPE html><title>hookwise status</title><h1>Redis unavailable</h1><p>{reason}</p>"
        return web.Response(status=503, text=body, content_type="text/html", headers=HEADERS)
    return web.Response(text=render_page(view), content_type="text/html", headers=HEADERS)

"""The worker process: arq settings, the clients built once in `on_startup`, and the one job.

`process_delivery` turns a queued delivery into a gidgethub `Event`, dispatches it through the
combined router, and leaves a provenance record however it ends. Transient failures become arq
`Retry` with backoff; permanent ones fail once, as a dead letter with the reason.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import aiohttp
from anthropic import AsyncAnthropic
from arq import Retry
from arq.connections import RedisSettings
from gidgethub.routing import Router
from gidgethub.sansio import Event
from redis.exceptions import RedisError

from bot.adapters.github import GitHubApp
from bot.adapters.llm import LLM, AnthropicLLM
from bot.adapters.store.config_cache import ConfigStore
from bot.adapters.store.effects import Effects
from bot.adapters.store.ledger import QUEUE_NAME, DeliveryState, Ledger, deserialize_job, serialize_job
from bot.adapters.store.records import JobRecord, Records
from bot.config import Settings
from bot.core import retry as failures
from bot.core.prompts import Prompts
from bot.logs import bound
from bot.worker.deps import Deps
from bot.worker.events import issue_comment, issues, pull_request, push

log = logging.getLogger("hookwise.worker")

# A crashed worker's job runs again after the longest job timeout + 10 s (arq's in-progress TTL):
# 60 s keeps that near a minute while leaving a model call (timeout 40 s) room to finish.
JOB_TIMEOUT_S = 60
MODEL_TIMEOUT_S = 40.0
GITHUB_TIMEOUT_S = 20.0
# arq refuses to start a job past its max_tries without calling it, which would leave no record;
# allow a few more than our own policy so `failures.MAX_TRIES` always decides.
ARQ_MAX_TRIES = failures.LOCK_WAIT_TRIES + 1

ROUTER = Router(pull_request.router, issues.router, issue_comment.router, push.router)


def anthropic_client(settings: Settings) -> AsyncAnthropic:
    return AsyncAnthropic(
        api_key=settings.ANTHROPIC_API_KEY.get_secret_value() if settings.ANTHROPIC_API_KEY else None,
        base_url=settings.ANTHROPIC_BASE_URL,
        max_retries=0,  # arq's tries are the one retry budget (bot/failures.py)
        timeout=MODEL_TIMEOUT_S,
    )


def build_deps(settings: Settings, session: aiohttp.ClientSession, redis: Any, llm: LLM, *, lock_ttl_s: float) -> Deps:
    return Deps(
        github=GitHubApp.from_settings(session, settings),
        llm=llm,
        prompts=Prompts.load(),
        effects=Effects(redis, lock_ttl_s=lock_ttl_s, dry_run=settings.DRY_RUN),
        configs=ConfigStore(redis),
        redis=redis,
    )


async def startup(ctx: dict[str, Any]) -> None:
    settings: Settings = ctx["settings"]
    ctx["session"] = session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=GITHUB_TIMEOUT_S))
    llm: LLM | None = ctx.get("llm")
    if llm is None:
        ctx["anthropic"] = client = anthropic_client(settings)
        llm = AnthropicLLM(client, settings.ANTHROPIC_MODEL)
    # A target's lock outlives the longest a job may run, so a live job never loses it, and
    # expires soon after, so a crashed worker's lock does not outlast arq's re-run of its job.
    lock_ttl_s = float(ctx.get("job_timeout_s", JOB_TIMEOUT_S)) + 5
    ctx["deps"] = build_deps(settings, session, ctx["redis"], llm, lock_ttl_s=lock_ttl_s)
    ctx["ledger"] = Ledger(ctx["redis"])
    ctx["records"] = Records(ctx["redis"])
    log.info(
        "worker ready: model=%s github=%s dry_run=%s",
        settings.ANTHROPIC_MODEL,
        settings.GITHUB_API_URL,
        settings.DRY_RUN,
    )


async def shutdown(ctx: dict[str, Any]) -> None:
    session: aiohttp.ClientSession | None = ctx.get("session")
    if session is not None:
        await session.close()
    client: AsyncAnthropic | None = ctx.get("anthropic")
    if client is not None:
        await client.close()


def _record_for(delivery_id: str, event: str, payload: dict[str, Any], job_try: int) -> JobRecord:
    issue = payload.get("pull_request") or payload.get("issue") or {}
    return JobRecord(
        delivery_id=delivery_id,
        event=event,
        action=str(payload.get("action", "")),
        repository=str(payload["repository"]["full_name"]),
        target=int(issue.get("number", 0)),
        installation_id=int(payload["installation"]["id"]),
        job_try=job_try,
    )


async def process_delivery(
    ctx: dict[str, Any], *, delivery_id: str, event: str, payload: dict[str, Any]
) -> dict[str, Any]:
    record = _record_for(delivery_id, event, payload, int(ctx.get("job_try", 1)))
    fields = {"delivery": delivery_id, "installation": record.installation_id, "repo": record.repository}
    with bound(**fields):
        return await _process(ctx, record, Event(payload, event=event, delivery_id=delivery_id))


async def _process(ctx: dict[str, Any], record: JobRecord, event: Event) -> dict[str, Any]:
    deps: Deps = ctx["deps"]
    job_try = record.job_try
    started = time.perf_counter()
    where = f"event={event.event}.{record.action} target={record.target} try={job_try}"
    try:
        # Our own deadline, inside arq's: arq's timeout is final (not retried) and would leave no
        # record; ours is a TimeoutError, classified as transient and retried.
        async with asyncio.timeout(_inner_timeout(float(ctx.get("job_timeout_s", JOB_TIMEOUT_S)))):
            repo = await deps.github.repo(record.installation_id, record.repository)
            await ROUTER.dispatch(event, repo, deps=deps, record=record)
        record.rate_limit = repo.rate_limit()
        if record.outcome == "running":
            record.outcome = "skipped"
    except Exception as exc:
        retry = failures.will_retry(exc, job_try)
        if retry is not None:
            delay = failures.backoff(job_try, retry.wait_s, base=ctx.get("retry_base_s", failures.BASE_DELAY_S))
            record.outcome, record.error = "retrying", retry.reason
            await _finish(ctx, record, started, where)
            log.warning("%s retrying in %.1fs: %s", where, delay, retry.reason)
            raise Retry(defer=delay) from exc
        verdict = failures.classify(exc)
        record.outcome, record.error = "failed", verdict.reason
        log.error("%s failed: %s", where, verdict.reason, exc_info=isinstance(verdict, failures.Permanent))
    await _finish(ctx, record, started, where)
    return {"outcome": record.outcome, "detail": record.detail, "error": record.error}


def _inner_timeout(job_timeout_s: float) -> float:
    return job_timeout_s - min(5.0, job_timeout_s * 0.2)


async def _finish(ctx: dict[str, Any], record: JobRecord, started: float, where: str) -> None:
    """Leave the record and the delivery's state. Best effort: with Redis away neither can be
    written, and raising here would turn a retry into a lost job; arq re-runs an unfinished job."""
    record.duration_ms = int((time.perf_counter() - started) * 1000)
    try:
        await ctx["records"].save(record)
        if record.outcome in ("done", "skipped"):
            await ctx["ledger"].mark(record.delivery_id, DeliveryState.DONE)
        elif record.outcome == "failed":
            await ctx["ledger"].mark(record.delivery_id, DeliveryState.FAILED)
    except (RedisError, OSError) as exc:
        log.error("%s could not save its record (%s): outcome=%s error=%s", where, exc, record.outcome, record.error)
    log.info(
        "%s outcome=%s detail=%r comment=%s labels=%s model=%s tokens_in=%d tokens_out=%d rate_limit=%s duration_ms=%d",
        where,
        record.outcome,
        record.detail,
        record.comment_id,
        record.labels,
        record.model,
        record.input_tokens,
        record.output_tokens,
        record.rate_limit or "unknown",
        record.duration_ms,
    )


def worker_settings(settings: Settings, *, job_timeout_s: float = JOB_TIMEOUT_S, **overrides: Any) -> dict[str, Any]:
    """arq Worker keyword arguments (arq's WorkerSettings), built from our Settings at start.

    `job_timeout_s` also bounds how long a target's lock may outlive a crashed worker; tests
    shorten it to see a crashed job picked up again within seconds.
    """
    from arq import cron, func

    from bot.worker.sweeper import sweep_job

    # Every 5 minutes one worker (arq's unique cron) asks GitHub to redeliver what never reached us.
    # Its timeout is no longer than the job's: arq re-runs a crashed job after the LONGEST function
    # timeout + 10 s, and that must stay near a minute.
    sweeper = cron(sweep_job, name="sweep", minute=set(range(0, 60, 5)), second=20, unique=True, timeout=job_timeout_s)
    job = func(process_delivery, name="process_delivery", timeout=job_timeout_s, max_tries=ARQ_MAX_TRIES)
    options: dict[str, Any] = {
        "functions": [job],
        "cron_jobs": [sweeper],
        "on_startup": startup,
        "on_shutdown": shutdown,
        "redis_settings": RedisSettings.from_dsn(settings.REDIS_URL),
        "queue_name": QUEUE_NAME,
        "job_serializer": serialize_job,
        "job_deserializer": deserialize_job,
        "ctx": {"settings": settings, "job_timeout_s": job_timeout_s},
        "max_jobs": 10,
        "keep_result": 60,
        "job_timeout": job_timeout_s,
        "max_tries": ARQ_MAX_TRIES,
        "poll_delay": 0.2,
        # On SIGTERM give running jobs 20 s to finish before arq cancels and re-queues them
        # (Heroku kills at 30 s).
        "job_completion_wait": 20,
    }
    options.update(overrides)
    return options

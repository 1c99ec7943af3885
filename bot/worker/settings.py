"""arq's WorkerSettings, built from our Settings at start, and the clients made once per process
in `on_startup` (one aiohttp session, one Anthropic client) and closed in `on_shutdown`."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
from anthropic import AsyncAnthropic
from arq.connections import RedisSettings

from bot.adapters.github import GitHubApp, Journal
from bot.adapters.llm import LLM, AnthropicLLM
from bot.adapters.store.agreement import AgreementStore
from bot.adapters.store.config_cache import ConfigStore
from bot.adapters.store.cooldowns import Cooldowns
from bot.adapters.store.costs import CostLedger
from bot.adapters.store.effects import Effects
from bot.adapters.store.ledger import QUEUE_NAME, Ledger, deserialize_job, serialize_job
from bot.adapters.store.permissions import Permissions
from bot.adapters.store.prompt_cache import CacheWarmth
from bot.adapters.store.records import Records
from bot.adapters.store.summaries import SummaryRecords
from bot.adapters.store.triage_queue import BATCH_FUNCTION, TriageQueue
from bot.config import Settings
from bot.core import retry
from bot.core.prompts import Prompts
from bot.worker.deps import Deps, Models
from bot.worker.job import JOB_TIMEOUT_S, process_delivery
from bot.worker.learning import Learning
from bot.worker.rounds import rescue_rounds, triage_batch
from bot.worker.tally import Tally

log = logging.getLogger("hookwise.worker")

MODEL_TIMEOUT_S = 40.0
GITHUB_TIMEOUT_S = 20.0
# arq refuses to start a job past its max_tries without calling it, which would leave no record;
# allow a few more than our own policy so `retry.MAX_TRIES` always decides.
ARQ_MAX_TRIES = retry.LOCK_WAIT_TRIES + 1


# The TLS options redis-py reads from a `rediss://` URL's query (the web and the operator commands
# connect with redis-py's from_url); arq's `RedisSettings.from_dsn` drops the query, so the worker
# passes them on itself. `ssl_cert_reqs=none` is what Heroku Redis's self-signed certificate needs.
REDIS_TLS_QUERY = ("ssl_cert_reqs", "ssl_ca_certs", "ssl_certfile", "ssl_keyfile", "ssl_check_hostname")


def redis_settings(url: str) -> RedisSettings:
    """arq's RedisSettings for REDIS_URL, TLS options of a `rediss://` URL's query included."""
    options = RedisSettings.from_dsn(url)
    query = parse_qs(urlsplit(url).query)
    for name in REDIS_TLS_QUERY:
        if name in query:
            value: object = query[name][-1]
            if name == "ssl_check_hostname":
                value = str(value).lower() in ("1", "true", "yes", "on")
            setattr(options, name, value)
    return options


def anthropic_client(settings: Settings) -> AsyncAnthropic:
    return AsyncAnthropic(
        api_key=settings.ANTHROPIC_API_KEY.get_secret_value() if settings.ANTHROPIC_API_KEY else None,
        base_url=settings.ANTHROPIC_BASE_URL,
        max_retries=0,  # arq's tries are the one retry budget (bot/core/retry.py)
        timeout=MODEL_TIMEOUT_S,
    )


def build_llm(settings: Settings, client: AsyncAnthropic, *, warmth: CacheWarmth | None = None) -> AnthropicLLM:
    """The model adapter as the settings say: the default model, the prices, strict tools or not."""
    return AnthropicLLM(
        client,
        settings.ANTHROPIC_MODEL,
        prices=settings.prices(),
        warmth=warmth,
        strict_tools=settings.MODEL_STRICT_TOOLS,
    )


def build_deps(
    settings: Settings,
    session: aiohttp.ClientSession,
    redis: Any,
    llm: LLM,
    *,
    lock_ttl_s: float,
    clock: Callable[[], float] = time.time,
    journal: Journal | None = None,
) -> Deps:
    """What the handlers get. `lock_ttl_s` outlives the longest a job may run; a batch round's claims
    last as long. `clock` tells the budget which UTC day it is (tests pass one; the product uses the
    time). `journal` (for `receive`) collects every write to GitHub, made or dry."""
    return Deps(
        github=GitHubApp.from_settings(session, settings, journal=journal),
        llm=llm,
        prompts=Prompts.load(),
        effects=Effects(redis, lock_ttl_s=lock_ttl_s, dry_run=settings.DRY_RUN),
        configs=ConfigStore(redis),
        permissions=Permissions(redis),
        cooldowns=Cooldowns(redis),
        meter=CostLedger(redis, tokens_per_day=settings.MODEL_TOKENS_PER_DAY, clock=clock),
        models=Models(triage=settings.model_for("triage"), summary=settings.model_for("summary")),
        triage_queue=TriageQueue(
            redis,
            max_batch=settings.TRIAGE_BATCH_MAX,
            max_wait_s=settings.TRIAGE_BATCH_WAIT_S,
            claim_ttl_s=lock_ttl_s,
        ),
        batching=settings.batching,
        agreement=(agreement := AgreementStore(redis)),
        learning=Learning(agreement),
        summaries=SummaryRecords(redis, dry_run=settings.DRY_RUN),
        diff_budget_tokens=settings.SUMMARY_DIFF_TOKENS,
        max_input_tokens=settings.SUMMARY_MAX_INPUT_TOKENS,
        web_url=settings.GITHUB_URL,
    )


async def startup(ctx: dict[str, Any]) -> None:
    settings: Settings = ctx["settings"]
    ctx["session"] = session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=GITHUB_TIMEOUT_S))
    llm: LLM | None = ctx.get("llm")
    if llm is None:
        ctx["anthropic"] = client = anthropic_client(settings)
        llm = build_llm(settings, client, warmth=CacheWarmth(ctx["redis"]))
    # A target's lock outlives the longest a job may run, so a live job never loses it, and
    # expires soon after, so a crashed worker's lock does not outlast arq's re-run of its job.
    lock_ttl_s = float(ctx.get("job_timeout_s", JOB_TIMEOUT_S)) + 5
    ctx["deps"] = build_deps(
        settings, session, ctx["redis"], llm, lock_ttl_s=lock_ttl_s, clock=ctx.get("clock", time.time)
    )
    ctx["ledger"] = Ledger(ctx["redis"])
    ctx["records"] = Records(ctx["redis"])
    ctx["tally"] = Tally()
    log.info(
        "worker ready: model=%s triage_model=%s summary_model=%s batch=%d wait_s=%.1f tokens_per_day=%d "
        "github=%s dry_run=%s",
        settings.ANTHROPIC_MODEL,
        settings.model_for("triage"),
        settings.model_for("summary"),
        settings.TRIAGE_BATCH_MAX,
        settings.TRIAGE_BATCH_WAIT_S,
        settings.MODEL_TOKENS_PER_DAY,
        settings.GITHUB_API_URL,
        settings.DRY_RUN,
    )


async def shutdown(ctx: dict[str, Any]) -> None:
    tally: Tally | None = ctx.pop("tally", None)  # popped: a close after a failed close logs it once
    if tally is not None:
        log.info("%s", tally.line())
    session: aiohttp.ClientSession | None = ctx.get("session")
    if session is not None:
        await session.close()
    client: AsyncAnthropic | None = ctx.get("anthropic")
    if client is not None:
        await client.close()


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
    # Every minute one worker makes sure each repository with issues waiting has a round queued.
    rescue = cron(rescue_rounds, name="triage-rescue", second=40, unique=True, timeout=job_timeout_s)
    # One round of micro-batched triage (queued by bot/adapters/store/triage_queue.py).
    batch = func(triage_batch, name=BATCH_FUNCTION, timeout=job_timeout_s, max_tries=ARQ_MAX_TRIES)
    options: dict[str, Any] = {
        "functions": [job, batch],
        "cron_jobs": [sweeper, rescue],
        "on_startup": startup,
        "on_shutdown": shutdown,
        "redis_settings": redis_settings(settings.REDIS_URL),
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

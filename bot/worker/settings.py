"""arq's WorkerSettings, built from our Settings at start, and the clients made once per process
in `on_startup` (one aiohttp session, one model client for MODEL_PROVIDER, the breakers every call
goes through, the heartbeat) and closed in `on_shutdown`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import httpx2
from anthropic import AsyncAnthropic, AsyncAnthropicBedrock, AsyncAnthropicVertex
from arq.connections import RedisSettings
from pydantic import SecretStr

from bot.adapters.github import GitHubApp, GitHubBackend, Journal
from bot.adapters.guard import NO_GUARD, Guard
from bot.adapters.guarded_llm import GuardedLLM
from bot.adapters.llm import LLM, AnthropicLLM
from bot.adapters.store import keys
from bot.adapters.store.agreement import AgreementStore
from bot.adapters.store.breakers import Breakers
from bot.adapters.store.config_cache import ConfigStore
from bot.adapters.store.cooldowns import Cooldowns
from bot.adapters.store.costs import Spending
from bot.adapters.store.effects import Effects
from bot.adapters.store.errors import REDIS_DOWN
from bot.adapters.store.fairness import Fairness
from bot.adapters.store.forget import SECOND_PASS_AFTER_TIMEOUTS, Forgetter
from bot.adapters.store.ledger import QUEUE_NAME, Ledger, deserialize_job, serialize_job
from bot.adapters.store.permissions import Permissions
from bot.adapters.store.prompt_cache import CacheWarmth
from bot.adapters.store.records import Records
from bot.adapters.store.redis_policy import warn_about_eviction
from bot.adapters.store.retry_state import RetryStates
from bot.adapters.store.summaries import SummaryRecords
from bot.adapters.store.triage_queue import BATCH_FUNCTION, TriageQueue
from bot.config import ConfigError, Settings
from bot.core.model.providers import Provider
from bot.core.operations import retry
from bot.core.prompts import Prompts
from bot.worker.deps import Deps, Models
from bot.worker.heartbeat import Beating, WorkerStats
from bot.worker.job import process_delivery
from bot.worker.learning import Learning
from bot.worker.retrying import Retrying
from bot.worker.rounds import rescue_rounds, triage_batch
from bot.worker.state import JOB_TIMEOUT_S, STATE, TUNING, Tuning, WorkerState
from bot.worker.tally import Tally

log = logging.getLogger("hookwise.worker")

MODEL_TIMEOUT_S = 40.0
GITHUB_TIMEOUT_S = 20.0
# arq refuses to start a job past its max_tries without calling it, which would leave no record.
# The bound is time (RETRY_FOR, bot/core/operations/retry.py), and every run counts as a try in arq - a wait
# on a breaker every ~15 s too - so arq's bound is set beyond anything RETRY_FOR's 3 days at most
# can reach, and the policy always decides (a crash loop ends at retry.MAX_CRASHES, with a record).
ARQ_MAX_TRIES = 1_000_000
MAX_JOBS = 10  # jobs one worker runs at once (arq's max_jobs): its slots in the fair queue


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


GOOGLE_CLOUD_SCOPE = "https://www.googleapis.com/auth/cloud-platform"  # what the SDK's Vertex client asks for
COMPATIBLE_API_KEY = "hookwise"  # a compatible server ignores the key, but the SDK sends one (Ollama: any value)

ModelSDKClient = AsyncAnthropic | AsyncAnthropicBedrock | AsyncAnthropicVertex


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


def google_credentials(path: Path | None) -> Any:
    """Google credentials from GOOGLE_APPLICATION_CREDENTIALS, loaded by their type's own loader (as
    google-auth advises): a service-account key or a user's `gcloud auth application-default login`
    file. None (the SDK then finds the application default credentials itself, the variable in the
    environment included) when the variable is unset or names another type (workload identity
    federation and the like)."""
    if path is None:
        return None
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"GOOGLE_APPLICATION_CREDENTIALS: cannot read {path} as JSON ({exc})") from exc
    kind = info.get("type") if isinstance(info, dict) else None
    if kind == "service_account":
        from google.oauth2 import service_account

        return service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
            info, scopes=[GOOGLE_CLOUD_SCOPE]
        )
    if kind == "authorized_user":
        from google.oauth2 import credentials

        return credentials.Credentials.from_authorized_user_info(  # type: ignore[no-untyped-call]
            info, scopes=[GOOGLE_CLOUD_SCOPE]
        )
    return None


def anthropic_client(settings: Settings, *, http_client: httpx2.AsyncClient | None = None) -> ModelSDKClient:
    """The SDK's async client for MODEL_PROVIDER, configured from the settings (so a `.env` file
    works for the provider's settings too); what the settings leave out, the SDK, botocore and
    google-auth find as they document (AWS profiles and instance roles, Google application default
    credentials). ConfigError when the provider misses a setting it needs. `http_client` replaces the
    SDK's own (the unit tier's answers in-process: bot/sandbox/inprocess.py)."""
    settings.check_model()
    # arq's tries are the one retry budget (bot/core/operations/retry.py): the SDK retries nothing itself.
    common: dict[str, Any] = {"max_retries": 0, "timeout": MODEL_TIMEOUT_S}
    if http_client is not None:
        common["http_client"] = http_client
    provider = settings.MODEL_PROVIDER
    if provider is Provider.BEDROCK:
        bearer = _secret(settings.AWS_BEARER_TOKEN_BEDROCK)
        aws: dict[str, Any] = (
            {}
            if bearer is not None
            else {
                "aws_access_key": _secret(settings.AWS_ACCESS_KEY_ID),
                "aws_secret_key": _secret(settings.AWS_SECRET_ACCESS_KEY),
                "aws_session_token": _secret(settings.AWS_SESSION_TOKEN),
                "aws_profile": settings.AWS_PROFILE,
            }
        )
        return AsyncAnthropicBedrock(
            aws_region=settings.bedrock_region(),
            api_key=bearer,
            base_url=settings.ANTHROPIC_BEDROCK_BASE_URL,
            **aws,
            **common,
        )
    if provider is Provider.VERTEX:
        credentials = google_credentials(settings.GOOGLE_APPLICATION_CREDENTIALS)
        return AsyncAnthropicVertex(
            region=settings.CLOUD_ML_REGION or "",
            project_id=settings.ANTHROPIC_VERTEX_PROJECT_ID or "",
            credentials=credentials,
            base_url=settings.ANTHROPIC_VERTEX_BASE_URL,
            **common,
        )
    api_key = _secret(settings.ANTHROPIC_API_KEY)
    if provider is Provider.COMPATIBLE:
        api_key = api_key or COMPATIBLE_API_KEY
    return AsyncAnthropic(api_key=api_key, base_url=settings.ANTHROPIC_BASE_URL, **common)


def build_llm(settings: Settings, client: ModelSDKClient, *, warmth: CacheWarmth | None = None) -> AnthropicLLM:
    """The model adapter as the settings say: the provider, the default model, the prices, strict
    tools or not."""
    return AnthropicLLM(
        client,
        settings.ANTHROPIC_MODEL,
        prices=settings.prices(),
        warmth=warmth,
        strict_tools=settings.MODEL_STRICT_TOOLS,
        provider=settings.MODEL_PROVIDER,
        region=settings.model_region,
    )


def build_deps(
    settings: Settings,
    http: aiohttp.ClientSession | GitHubBackend,
    redis: Any,
    llm: LLM,
    *,
    lock_ttl_s: float,
    clock: Callable[[], float] = time.time,
    journal: Journal | None = None,
    guard: Guard = NO_GUARD,
    second_pass_s: float = JOB_TIMEOUT_S * SECOND_PASS_AFTER_TIMEOUTS,
) -> Deps:
    """What the handlers get. `lock_ttl_s` outlives the longest a job may run; a batch round's claims
    last as long. `clock` tells the budget which UTC day it is (tests pass one; the product uses the
    time). `journal` (for `receive`) collects every write to GitHub, made or dry. `http` is what GitHub
    is asked through: the process's one aiohttp session, or (the unit tier) a gidgethub backend.
    `guard` puts the breakers around every call to GitHub and the model (the worker's; none by
    default)."""
    if guard is not NO_GUARD:
        llm = GuardedLLM(llm, guard, settings.model_dependency, settings.ANTHROPIC_MODEL)
    return Deps(
        github=GitHubApp.from_settings(http, settings, journal=journal, guard=guard),
        llm=llm,
        prompts=Prompts.load(),
        effects=Effects(redis, lock_ttl_s=lock_ttl_s, dry_run=settings.DRY_RUN),
        configs=ConfigStore(redis),
        permissions=Permissions(redis),
        cooldowns=Cooldowns(redis),
        spending=Spending(redis, tokens_per_day=settings.MODEL_TOKENS_PER_DAY, clock=clock),
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
        forgetter=Forgetter(redis, second_pass_s=second_pass_s),
    )


def retrying_for(settings: Settings, deps: Deps, tuning: Tuning, redis: Any, breakers: Breakers | None) -> Retrying:
    """The retry policy's I/O: what each job went through, kept in Redis, and the breakers."""
    retry_for_s = tuning.retry_for_s if tuning.retry_for_s is not None else settings.retry_for_s
    base_s = tuning.retry_base_s if tuning.retry_base_s is not None else retry.BASE_DELAY_S
    return Retrying(
        states=RetryStates(redis, retry_for_s=retry_for_s, base_s=base_s),
        breakers=breakers,
        github=deps.github.dependency,
        model=lambda task: settings.model_dependency(settings.model_for(task)),
    )


async def startup(ctx: dict[str, Any]) -> None:
    """arq's on_startup: the worker's state (bot/worker/state.py), built once."""
    settings: Settings = ctx["settings"]
    tuning: Tuning = ctx.get(TUNING) or Tuning()
    redis = ctx["redis"]  # arq's pool
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=GITHUB_TIMEOUT_S))
    client = None
    llm = tuning.llm
    if llm is None:
        client = anthropic_client(settings)
        llm = build_llm(settings, client, warmth=CacheWarmth(redis))
    # A target's lock outlives the longest a job may run, so a live job never loses it, and
    # expires soon after, so a crashed worker's lock does not outlast arq's re-run of its job.
    lock_ttl_s = tuning.job_timeout_s + 5
    breakers = Breakers(redis, lease_s=tuning.job_timeout_s, probe_interval_s=tuning.probe_interval_s)
    deps = build_deps(
        settings, session, redis, llm, lock_ttl_s=lock_ttl_s, clock=tuning.clock, guard=Guard(breakers),
        second_pass_s=tuning.job_timeout_s * SECOND_PASS_AFTER_TIMEOUTS,  # once every job in flight has ended
    )  # fmt: skip
    fairness = Fairness(redis, default_window=MAX_JOBS)
    stats: WorkerStats = ctx["stats"]  # worker_settings made it: the identity outlives reconnects

    beating = Beating(redis, stats, slots=MAX_JOBS, fairness=fairness,
                      forget_caches=deps.forget_caches)  # fmt: skip
    ctx[STATE] = WorkerState(
        settings=settings,
        tuning=tuning,
        deps=deps,
        ledger=Ledger(redis),
        records=Records(redis),
        retrying=retrying_for(settings, deps, tuning, redis, breakers),
        fairness=fairness,
        tally=Tally(),
        stats=stats,
        session=session,
        client=client,
        heartbeat=(beating, asyncio.get_running_loop().create_task(beating.run())),
    )
    with contextlib.suppress(*REDIS_DOWN):
        await warn_about_eviction(redis, log)
    log.info(
        "worker ready: id=%s provider=%s model=%s triage_model=%s summary_model=%s batch=%d wait_s=%.1f "
        "tokens_per_day=%d github=%s retry_for=%s dry_run=%s",
        stats.worker_id,
        settings.MODEL_PROVIDER.value,
        settings.ANTHROPIC_MODEL,
        settings.model_for("triage"),
        settings.model_for("summary"),
        settings.TRIAGE_BATCH_MAX,
        settings.TRIAGE_BATCH_WAIT_S,
        settings.MODEL_TOKENS_PER_DAY,
        settings.GITHUB_API_URL,
        settings.RETRY_FOR,
        settings.DRY_RUN,
    )


async def on_job_start(ctx: dict[str, Any]) -> None:
    state = ctx.get(STATE)
    if isinstance(state, WorkerState) and state.stats is not None:
        state.stats.running += 1


async def on_job_end(ctx: dict[str, Any]) -> None:
    state = ctx.get(STATE)
    if isinstance(state, WorkerState) and state.stats is not None:
        state.stats.running = max(state.stats.running - 1, 0)
        state.stats.done += 1


async def shutdown(ctx: dict[str, Any]) -> None:
    """arq's on_shutdown (also called by bot/worker/supervise.py when arq's own close could not
    reach Redis): stop the heartbeat, log how deliveries ended, close the clients. Once."""
    state = ctx.pop(STATE, None)  # popped: a close after a failed close does nothing twice
    if not isinstance(state, WorkerState):
        return
    if state.heartbeat is not None:
        beating, task = state.heartbeat
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await beating.stop()
    if state.tally is not None:
        log.info("%s", state.tally.line())
    if state.session is not None:
        await state.session.close()
    if state.client is not None:
        await state.client.close()


def worker_settings(
    settings: Settings, *, tuning: Tuning | None = None, stats: WorkerStats | None = None, **overrides: Any
) -> dict[str, Any]:
    """arq Worker keyword arguments (arq's WorkerSettings), built from our Settings at start.

    `tuning` is what a test changes (bot/worker/state.py): a short job timeout, which also bounds how
    long a target's lock may outlive a crashed worker, shows a crashed job picked up again within
    seconds. `stats` is the worker's identity and counts, kept across reconnects to Redis
    (bot/worker/supervise.py)."""
    tuning = tuning or Tuning()
    job_timeout_s = tuning.job_timeout_s
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
        "on_job_start": on_job_start,
        "on_job_end": on_job_end,
        "redis_settings": redis_settings(settings.REDIS_URL),
        "queue_name": QUEUE_NAME,
        "job_serializer": serialize_job,
        "job_deserializer": deserialize_job,
        "ctx": {"settings": settings, TUNING: tuning, "stats": stats or WorkerStats()},
        "max_jobs": MAX_JOBS,
        "keep_result": 60,
        "job_timeout": job_timeout_s,
        "max_tries": ARQ_MAX_TRIES,
        "poll_delay": 0.2,
        # On SIGTERM give running jobs 20 s to finish before arq cancels and re-queues them
        # (Heroku kills at 30 s).
        "job_completion_wait": 20,
        # arq's health line, per process rather than per queue, so a container's health check
        # (`python -m bot healthcheck`) hears from its own worker and not from any other.
        "health_check_interval": keys.WORKER_HEALTH_EVERY_S,
        "health_check_key": keys.worker_health(socket.gethostname(), os.getpid()),
    }
    options.update(overrides)
    return options

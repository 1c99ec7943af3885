"""Operator commands: `history` (provenance and dead letters), `replay`, `redeliver`, `costs`,
`accuracy` and `forget`."""

from __future__ import annotations

import time
from datetime import timedelta

from redis.asyncio import Redis

from bot.adapters.store.costs import Spending
from bot.adapters.store.ledger import Accepted, Ledger
from bot.adapters.store.records import JobRecord, Records
from bot.config import Settings
from bot.core.costs.ledger import Report, format_report, utc_day
from bot.core.errors import UnreadableJob


def format_record(record: JobRecord) -> str:
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(record.started_at))
    done = ", ".join(
        part
        for part in (
            f"comment {record.comment_id}" if record.comment_id else "",
            f"labels {','.join(record.labels)}" if record.labels else "",
        )
        if part
    )
    line = (
        f"{when}Z {record.outcome:<8} {record.event}.{record.action} {record.repository}#{record.target} "
        f"delivery={record.delivery_id} try={record.job_try} {record.duration_ms}ms"
    )
    if record.model:
        provider = f" provider={record.provider}" if record.provider else ""
        line += f"{provider} model={record.model} tokens={record.input_tokens}/{record.output_tokens}"
        if record.estimated_calls:
            line += " (estimated: the answer carried no usage)"
        if record.cache_write_tokens or record.cache_read_tokens:
            line += f" cache={record.cache_write_tokens}/{record.cache_read_tokens}"
        line += f" cost=${record.cost_usd:.6f}"
    if done or record.detail:
        line += f" — {record.detail}{' (' + done + ')' if done else ''}"
    if record.error:
        line += f" error: {record.error}"
    if record.origin:
        line += f" (via {record.origin})"
    return line


async def print_history(settings: Settings, *, count: int, dead_only: bool) -> None:
    redis = Redis.from_url(settings.REDIS_URL)
    try:
        records = await Records(redis).recent(count, dead_only=dead_only)
    finally:
        await redis.aclose()
    if not records:
        print("no records" + (" of failed jobs" if dead_only else ""))
    for record in records:
        print(format_record(record))


async def replay(settings: Settings, delivery_id: str) -> int:
    redis = Redis.from_url(settings.REDIS_URL)
    try:
        ledger = Ledger(redis)
        try:
            job = await ledger.stored(delivery_id)
        except UnreadableJob as exc:
            print(f"hookwise: delivery {delivery_id} cannot be replayed: {exc.reason}")
            return 1
        if job is None:
            print(f"hookwise: no delivery {delivery_id} is remembered (records last 4 days)")
            return 1
        result = await ledger.accept(job, replay=True)
    finally:
        await redis.aclose()
    assert isinstance(result, Accepted)
    print(f"queued {job.event} delivery {delivery_id} again as job {result.job_id}")
    return 0


async def redeliver(settings: Settings, *, since: timedelta | None, cap: int) -> int:
    """`python -m bot redeliver`: one sweep now (what the worker's cron does every 5 minutes)."""
    import aiohttp

    from bot.adapters.github import GitHubApp
    from bot.core.ingress.redelivery import format_report
    from bot.worker.sweeper import sweep

    settings.check_worker()
    redis = Redis.from_url(settings.REDIS_URL)
    try:
        async with aiohttp.ClientSession() as session:
            report = await sweep(GitHubApp.from_settings(session, settings), redis, since=since, cap=cap)
    finally:
        await redis.aclose()
    print(format_report(report))
    return 1 if report.errors else 0


async def print_costs(settings: Settings, *, since: timedelta, label: str, now: float | None = None) -> int:
    """`python -m bot costs`: model calls, tokens and estimated dollars per installation,
    repository and task since `since` ago (by UTC hour), today's budget per installation."""
    redis = Redis.from_url(settings.REDIS_URL)

    def clock() -> float:
        return time.time() if now is None else now

    try:
        ledger = Spending(redis, tokens_per_day=settings.MODEL_TOKENS_PER_DAY, clock=clock)
        start = clock() - since.total_seconds()
        rows = await ledger.rows(start)
        budgets = await ledger.budgets(row.installation_id for row in rows)
    finally:
        await redis.aclose()
    since_label = time.strftime("%Y-%m-%d %H:00 UTC", time.gmtime(start)) + f" ({label})"
    report = Report(since_label=since_label, rows=rows, budgets=budgets, day=utc_day(clock()))
    print(format_report(report, settings.prices()))
    return 0


async def print_accuracy(settings: Settings, *, repository: str | None, since: timedelta) -> int:
    """`python -m bot accuracy`: triage agreement with maintainers, per repository."""
    from bot.adapters.store.agreement import AgreementStore
    from bot.core.views import agreement as agreement_text

    redis = Redis.from_url(settings.REDIS_URL)
    try:
        reports = await AgreementStore(redis).reports(repository, now=time.time(), since_s=since.total_seconds())
    finally:
        await redis.aclose()
    print(agreement_text.format_report(reports))
    return 0


async def forget(settings: Settings, *, repository: str | None, installation: int | None) -> int:
    """`python -m bot forget OWNER/REPO | --installation ID`: what an uninstall does, on demand."""
    import uuid

    from bot.adapters.store.forget import SECOND_PASS_AFTER_TIMEOUTS, Forgetter
    from bot.core.ingress.job import ForgetJob
    from bot.core.operations.forget import digest
    from bot.worker.actions.forget import forget_now
    from bot.worker.state import JOB_TIMEOUT_S

    job = ForgetJob(
        delivery_id=str(uuid.uuid4()), event="forget", action="command", installation_id=installation or 0,
        repository="", repositories=[] if repository is None else [digest(repository.lower())],
        whole_installation=installation is not None,
    )  # fmt: skip
    redis = Redis.from_url(settings.REDIS_URL)
    try:
        forgetter = Forgetter(redis, second_pass_s=JOB_TIMEOUT_S * SECOND_PASS_AFTER_TIMEOUTS)
        report, count = await forget_now(job, forgetter)
    finally:
        await redis.aclose()
    what = repository or f"installation {installation} ({count} repositor{'y' if count == 1 else 'ies'})"
    print(f"{what}: {report.line()}; a worker makes a second pass in {forgetter.second_pass_s:.0f}s")
    return 0

"""`python -m bot receive EVENT PAYLOAD.json [--dry-run]`: one delivery through the bot, in this process.

Like Probot's `receive`: the payload file goes through the web's decision (`bot/core/ingress/intake.py:
decide`) and, when it is work, through the worker's own job (`bot/worker/job.py: run_job`, which
dispatches to the same handler and leaves the same provenance record), with the App's credentials
from the environment and Redis from `REDIS_URL` (exactly-once holds across `receive` and the
worker: they share the effect keys). It prints what it did, or in a dry run what it would have
written: the outcome, each comment in full, labels and reactions.

Exit status: 0 when the job is done or skipped, and for an event the bot ignores (it says so: the
web would answer `200 ignored`); 1 for a payload file that cannot be read or is not a delivery of
that event, for Redis not answering, and for a job that failed (or would be retried); 2 for an
event name GitHub does not send (naming the one most likely meant) and for a missing or malformed
setting (`hookwise: configuration error: ...`, like the processes).

`--sandbox` (bot/sandbox/receive_world.py) builds the settings and the sandboxes, then calls `run`.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO
from urllib.parse import urlsplit

from redis.asyncio import Redis

from bot.adapters.store.errors import REDIS_DOWN
from bot.adapters.store.records import JobRecord
from bot.config import ConfigError, Settings
from bot.core.costs import pricing
from bot.core.ingress import events, intake
from bot.core.ingress.job import Job
from bot.core.model.providers import Provider, provider_price
from bot.core.outcome import OutcomeKind
from bot.logs import bound

if TYPE_CHECKING:
    from bot.adapters.github import Write
    from bot.adapters.llm import LLM

__all__ = [
    "Ignored",
    "ReceiveError",
    "UsageError",
    "answers",
    "check_event",
    "decide_payload",
    "format_report",
    "read_delivery",
    "read_payload",
    "redis_location",
    "run",
]

PREFIX = "hookwise: receive:"
REDIS_TIMEOUT_S = 5.0
QUOTE = "    │ "


class ReceiveError(Exception):
    """The delivery cannot be run; the message is the one line the operator sees."""


class UsageError(ReceiveError):
    """The command line itself is wrong (an event name GitHub does not send): exit status 2."""


# Why the web would ignore a delivery, and what the operator of `receive` can do about it.
HINTS = {
    "no installation or repository in the payload": (
        "a delivery to a GitHub App carries both: copy one from the App's settings (Advanced, Recent "
        "Deliveries), or try this one with --sandbox"
    ),
    "comment holds no command": "a command is a line of its own, like `@hookwise help`; with --sandbox, "
    "--comment '@hookwise help' tries one",
}


@dataclass(frozen=True, slots=True)
class Ignored:
    event: str
    reason: str

    @property
    def line(self) -> str:
        """What `receive` prints for it (exit status 0: ignoring an event is no failure)."""
        hint = HINTS.get(self.reason)
        return f"ignored: {self.event}: {self.reason} (the web process would answer 200 ignored)" + (
            f"; {hint}" if hint else ""
        )


def check_event(event: str) -> None:
    """UsageError unless `event` is an event GitHub sends; it names the one most likely meant."""
    if event in events.GITHUB_EVENTS:
        return
    meant = events.closest_event(event) if intake.is_event_name(event.replace(" ", "_")) else None
    suggestion = f"did you mean {meant}?" if meant else "e.g. pull_request, issues, issue_comment"
    raise UsageError(f"{event!r} is not a GitHub event name; {suggestion}")


def read_payload(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ReceiveError(f"{path}: cannot read: {exc.strerror or type(exc).__name__}") from exc


def decide_payload(event: str, path: Path, body: bytes, delivery_id: str | None = None) -> Job | Ignored:
    """The job the web would queue for `body` as an `event` delivery, or why it would not; a
    ReceiveError when the body is not a delivery of that event."""
    delivery_id = delivery_id or str(uuid.uuid4())
    if not intake.is_delivery_id(delivery_id):
        raise ReceiveError(f"--delivery {delivery_id!r} is not a GUID (GitHub's X-GitHub-Delivery is one)")
    try:
        payload = json.loads(body)
    except ValueError:
        payload = None  # intake.decide says what is wrong with it
    mismatch = events.payload_mismatch(event, payload)
    if mismatch is not None:
        raise ReceiveError(f"{path}: not {events.article(event)} {event} delivery: {mismatch}")
    decision = intake.decide(event, body, delivery_id)
    if isinstance(decision, intake.Malformed):
        raise ReceiveError(f"{path}: not {events.article(event)} {event} delivery: {decision.error}")
    if isinstance(decision, intake.Ignore):
        return Ignored(event, decision.reason)
    return decision.job


def read_delivery(event: str, path: Path, delivery_id: str | None = None) -> Job | Ignored:
    """The job the web would queue for `path`'s payload as an `event` delivery, or why it would not."""
    check_event(event)
    return decide_payload(event, path, read_payload(path), delivery_id)


def redis_location(url: str) -> str:
    """`url` without its user name and password: what may be printed."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    return f"{parts.scheme}://{host}{':' + str(parts.port) if parts.port else ''}{parts.path}"


async def _connect(url: str) -> Redis:
    redis: Redis = Redis.from_url(url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S)
    try:
        await redis.ping()
    except REDIS_DOWN as exc:
        await redis.aclose()
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise ReceiveError(
            f"Redis at {redis_location(url)} does not answer ({reason}); exactly-once needs it: set REDIS_URL"
        ) from exc
    return redis


async def answers(url: str) -> bool:
    """True when Redis at `url` answers PING (TLS and passwords included)."""
    try:
        redis = await _connect(url)
    except ReceiveError:
        return False
    await redis.aclose()
    return True


def check_credentials(settings: Settings, *, model_given: bool) -> None:
    """What `receive` needs to act as the App; ConfigError names what is missing."""
    try:
        settings.check_worker()
        if not model_given:
            settings.check_model()
    except ConfigError as exc:
        raise ConfigError(f"{exc}; `receive` acts as the App, `receive --sandbox` needs no account") from exc


async def run(
    settings: Settings,
    job: Job,
    *,
    out: TextIO,
    llm: LLM | None = None,
    origin: str = "receive",
) -> int:
    """Run `job` as the worker would, in this process; print what happened; 0 when done or skipped."""
    # The worker's modules (arq, the AI SDK, gidgethub) load only when there is work: an ignored
    # event or a bad file is answered without them.
    import aiohttp
    from arq import Retry

    from bot.worker.job import record_for, run_job
    from bot.worker.settings import GITHUB_TIMEOUT_S, anthropic_client, build_deps, build_llm
    from bot.worker.state import JOB_TIMEOUT_S, one_run

    check_credentials(settings, model_given=llm is not None)
    redis = await _connect(settings.REDIS_URL)
    journal: list[Write] = []
    client = None
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=GITHUB_TIMEOUT_S)) as session:
            if llm is None:
                client = anthropic_client(settings)
                llm = build_llm(settings, client)
            # One delivery, here and now: a new issue is answered alone, not left waiting for a batch.
            single = settings.model_copy(update={"TRIAGE_BATCH_MAX": 1})
            deps = build_deps(single, session, redis, llm, lock_ttl_s=JOB_TIMEOUT_S + 5, journal=journal)
            record = record_for(job, 1, accepted_at=time.time(), origin=origin)
            with bound(delivery=job.delivery_id, installation=job.installation_id, repo=job.repository):
                try:
                    await run_job(one_run(single, deps, redis), job, record)
                except Retry:
                    pass  # a transient failure: the record says `retrying`; here it is the end of the run
    finally:
        if client is not None:
            await client.close()
        await redis.aclose()
    for line in format_report(job, record, journal, dry_run=settings.DRY_RUN):
        print(line, file=out)
    out.flush()
    return 0 if record.outcome in (OutcomeKind.DONE, OutcomeKind.SKIPPED) else 1


def _quoted(body: str) -> list[str]:
    return [QUOTE + line for line in body.splitlines()] or [QUOTE]


def _write_lines(write: Write) -> list[str]:
    where = f"{write.repository}#{write.number}" if write.number is not None else write.repository
    would = write.dry_run
    if write.kind == "comment":
        made = "" if would else f" (comment {write.comment_id})"
        head = f"{'would post' if would else 'posted'} a comment on {where}{made}:"
        return [head, *_quoted(write.body)]
    if write.kind == "edit":
        head = f"{'would edit' if would else 'edited'} comment {write.comment_id} on {write.repository} to:"
        return [head, *_quoted(write.body)]
    if write.kind == "labels":
        return [f"{'would add' if would else 'added'} labels {', '.join(write.labels)} to {where}"]
    if write.kind == "reaction":
        verb = "would react" if would else "reacted"
        return [f"{verb} {write.reaction} to comment {write.comment_id} on {write.repository}"]
    return [f"{write.kind} on {where}"]


def _where(record: JobRecord) -> str:
    """` on bedrock` (or vertex, compatible): where the model ran, unless it is the Claude API."""
    return f" on {record.provider}" if record.provider and record.provider != Provider.ANTHROPIC.value else ""


def _cost(record: JobRecord) -> str:
    if not record.model:
        return ""
    if record.provider:  # priced at its provider when the call was made
        dollars = record.cost_usd
        price_note = provider_price(record.provider, record.model, pricing.DEFAULT_PRICES).note
    else:
        resolved = pricing.resolve_price(record.model)
        dollars = pricing.cost_usd(record.model, pricing.Usage.of(record))
        price_note = resolved.note
    note = f" ({price_note})" if price_note else ""
    return f", estimated cost ${dollars:.6f}{note}"


def format_report(job: Job, record: JobRecord, writes: list[Write], *, dry_run: bool) -> list[str]:
    """What `receive` prints: the delivery, the outcome, the model's cost, then every write."""
    lines = [
        f"{job.event}.{job.action} {job.repository}#{job.number} "
        f"(delivery {job.delivery_id}, installation {job.installation_id})",
        f"outcome: {record.outcome}" + (f" — {record.detail}" if record.detail else ""),
    ]
    if record.error:
        lines.append(f"error: {record.error}")
    if record.outcome == OutcomeKind.RETRYING:
        lines.append("(a transient failure: the worker would try again later; run receive again to retry)")
    if record.model:
        tokens = record.input_tokens + record.output_tokens + record.cache_write_tokens + record.cache_read_tokens
        lines.append(
            f"model: {record.model}{_where(record)}, "
            f"tokens {record.input_tokens} in / {record.output_tokens} out"
            f" ({tokens} in all){_cost(record)}"
        )
    if dry_run:
        lines.append(
            "dry-run: nothing was written to GitHub"
            + ("; it would have written:" if writes else "; there was nothing to write")
        )
    elif not writes:
        lines.append("nothing was written to GitHub")
    for write in writes:
        lines.extend(_write_lines(write))
    return lines

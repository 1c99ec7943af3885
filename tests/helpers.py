"""Small shared helpers for tests: fixture files, signed deliveries, bounded waits, a worker run."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from arq.worker import Worker

from bot.config import Settings
from bot.core import signature
from bot.worker.job import worker_settings

FIXTURES = Path(__file__).parent / "fixtures"
APP_ID = 4242
SECRET = "test-secret"
HOOK = "/api/github/webhooks"


def fixture_bytes(relpath: str) -> bytes:
    """A real GitHub delivery body from tests/fixtures/github-webhooks/, byte for byte."""
    return (FIXTURES / "github-webhooks" / relpath).read_bytes()


def fixture_json(relpath: str) -> Any:
    return json.loads((FIXTURES / relpath).read_text())


def with_installation(body: bytes, installation_id: int = 461842) -> bytes:
    """GitHub's documentation examples lack the `installation` an App's delivery carries."""
    payload = json.loads(body)
    payload["installation"] = {"id": installation_id}
    return json.dumps(payload).encode()


def delivery_headers(
    event: str, body: bytes, delivery: str | None = None, secret: str = SECRET, content_type: str = "application/json"
) -> dict[str, str]:
    return {
        "Content-Type": content_type,
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-Hub-Signature-256": signature.sign(body, secret.encode()),
        "User-Agent": "GitHub-Hookshot/test",
    }


async def wait_until(
    condition: Callable[[], Awaitable[bool]] | Callable[[], bool], what: str, limit_s: float = 30
) -> None:
    """Wait on a condition with a bound (never a bare sleep as synchronisation)."""
    deadline = time.monotonic() + limit_s
    while True:
        result = condition()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def run_worker(settings: Settings, *, job_timeout_s: float = 60, **ctx: Any) -> None:
    """Run a real arq worker in this process until the queue (deferred retries included) is empty.

    `ctx` adds to the worker's context (e.g. `retry_base_s` for short backoffs)."""
    options = worker_settings(
        settings,
        job_timeout_s=job_timeout_s,
        burst=True,
        handle_signals=False,
        poll_delay=0.02,
        ctx={"settings": settings, "job_timeout_s": job_timeout_s, **ctx},
    )
    worker = Worker(**options)
    try:
        await worker.main()
    finally:
        await worker.close()

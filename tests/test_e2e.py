"""End to end: `python -m bot web` and `python -m bot worker` as real processes, real GitHub
deliveries signed and sent over HTTP, effects checked on the sandbox GitHub."""

from __future__ import annotations

import json
import signal
from typing import Any

import aiohttp

from bot.core.views.comments import SUMMARY_MARKER
from bot.sandbox.anthropic import AnthropicSandbox
from bot.sandbox.github import GitHubSandbox
from bot.sandbox.world import DEFAULT_LABELS
from tests.helpers import (
    HOOK,
    Processes,
    api_json,
    delivery_headers,
    guid,
    healthy,
    triage_answer,
    wait_until,
    webhook_bytes,
    with_installation,
)


async def test_web_and_worker_processes_act_on_real_deliveries(
    processes: Processes, github: GitHubSandbox, model: AnthropicSandbox, redis: Any
) -> None:
    merged = webhook_bytes("pull_request/closed.merged.app.json")
    issue = with_installation(webhook_bytes("issues/opened.json"))
    github.seed_from_payload(json.loads(merged))
    pull = json.loads(merged)["pull_request"]
    github.add_pull("C-Saunders/flynn_env_test", pull, files=api_json("pulls/list-files.github3py-235.json"))
    github.seed_from_payload(json.loads(issue))
    github.add_repo("Codertocat/Hello-World", installation_id=461842, labels=DEFAULT_LABELS)
    model.responder = triage_answer("documentation", "spelling", reason="A typo in the README.")

    web = processes.start("web", "web")
    worker = processes.start("worker", "worker")
    base = f"http://127.0.0.1:{processes.env['PORT']}"
    async with aiohttp.ClientSession() as session:
        await wait_until(lambda: healthy(session, f"{base}/healthz"), "the web process", limit_s=30)
        answers = []
        for event, body, delivery in [
            ("pull_request", merged, "e2e-pr"),
            ("issues", issue, "e2e-issue"),
            ("pull_request", merged, "e2e-pr"),  # GitHub's redelivery keeps the id
            ("ping", webhook_bytes("ping/app-hook.json"), "e2e-ping"),
        ]:
            async with session.post(f"{base}{HOOK}", data=body, headers=delivery_headers(event, body, delivery)) as r:
                answers.append((r.status, (await r.json())["status"]))
        assert answers == [(202, "queued"), (202, "queued"), (200, "duplicate"), (200, "pong")]

        await wait_until(
            lambda: (
                bool(github.comments("C-Saunders/flynn_env_test", 2))
                and "documentation" in github.issue_labels("Codertocat/Hello-World", 1)
            ),
            "the worker's effects",
            limit_s=60,
        )
        async with session.get(f"{base}/metrics") as response:
            metrics = await response.text()
    [comment] = github.comments("C-Saunders/flynn_env_test", 2)
    assert comment["body"].startswith(SUMMARY_MARKER)
    assert github.issue_labels("Codertocat/Hello-World", 1) == ["bug", "documentation"]
    assert "spelling" not in github.repo_labels("Codertocat/Hello-World")
    assert 'hookwise_deliveries_total{event="pull_request",outcome="duplicate"} 1.0' in metrics

    # SIGTERM: the web exits within the contract's 20 s, the worker within Heroku's 30 s (the
    # bound of the wait is the contract's deadline, not a speed measurement).
    for process, limit in ((web, 20), (worker, 30)):
        process.send_signal(signal.SIGTERM)
        await wait_until(lambda p=process: p.poll() is not None, "exit after SIGTERM", limit_s=limit)
    assert web.returncode == 0, processes.log("web")
    assert worker.returncode == 0, processes.log("worker")
    assert f"delivery={guid('e2e-pr')}" in processes.log("web")
    assert "outcome=done" in processes.log("worker")


async def test_processes_refuse_to_start_without_required_settings(processes: Processes) -> None:
    processes.env.pop("WEBHOOK_SECRET")
    processes.env.pop("APP_ID")
    web = processes.start("web", "web")
    worker = processes.start("worker", "worker")
    await wait_until(lambda: web.poll() is not None and worker.poll() is not None, "both to exit", limit_s=30)
    assert web.returncode == 2 and worker.returncode == 2
    assert processes.log("web").strip().splitlines()[-1] == (
        "hookwise: configuration error: WEBHOOK_SECRET: required for the web server"
    )
    assert processes.log("worker").strip().splitlines()[-1] == (
        "hookwise: configuration error: APP_ID: required for the worker"
    )


async def test_malformed_setting_is_named_in_one_line(processes: Processes) -> None:
    processes.env["PORT"] = "eighty"
    web = processes.start("web", "web")
    await wait_until(lambda: web.poll() is not None, "exit", limit_s=30)
    assert web.returncode == 2
    [line] = processes.log("web").strip().splitlines()
    assert line.startswith("hookwise: configuration error: PORT:")

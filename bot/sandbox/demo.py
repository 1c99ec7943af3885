"""`python -m bot demo`: the whole pipeline on this machine, with nothing running and no accounts.

Starts a throwaway Redis (`--redis URL` uses that one instead: `REDIS_URL` is not read, so the
demo never writes into the Redis of a deployment), the sandbox GitHub and (unless
`ANTHROPIC_API_KEY` is set) the sandbox Anthropic in this process, then `python -m bot web` and
`python -m bot worker` as real processes. It sends signed, real GitHub deliveries, prints what
the bot did on the sandbox and how long each step took, and stops everything it started.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from redis.asyncio import Redis

from bot.adapters.store.agreement import AgreementStore
from bot.adapters.store.records import Records
from bot.cli import format_record
from bot.core.ingress import signature
from bot.core.views import agreement as agreement_text
from bot.sandbox import anthropic as anthropic_sandbox
from bot.sandbox import github as github_sandbox
from bot.sandbox import providers as providers_sandbox
from bot.sandbox import redis_server, world
from bot.sandbox.processes import Children, bot_command, wait_http

APP_ID = 424242
MAINTAINER = "maintainer-mia"
SECRET = "demo-webhook-secret"
WAIT_S = 60.0
DEMO_PROVIDER_LINES = {
    "bedrock": "a sandbox Bedrock (the SDK's Bedrock client, requests signed with SigV4 and checked)",
    "vertex": "a sandbox Vertex AI (the SDK's Vertex client, a service account's token from a local endpoint)",
    "compatible": "a sandbox local-model server (no tool_choice, no cache_control, like Ollama)",
}
SOURCE_ROOT = Path(__file__).resolve().parents[2]


def new_private_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def demo_labeller(text: str, allowed: Sequence[str]) -> list[str]:
    """The sandbox model's choice of labels for one issue: a keyword match standing in for the
    real model's judgement."""
    lowered = text.lower()
    keywords = {"documentation": ("readme", "docs", "spell", "typo"), "bug": ("error", "crash", "broken")}
    return [name for name, words in keywords.items() if name in allowed and any(w in lowered for w in words)]


def demo_labels(request: dict[str, Any]) -> dict[str, Any]:
    """The sandbox model's single triage answer (`choose_labels`)."""
    tool: dict[str, Any] = next(iter(request.get("tools") or []), {})
    allowed = tool.get("input_schema", {}).get("properties", {}).get("labels", {}).get("items", {}).get("enum", [])
    text = " ".join(str(message.get("content")) for message in request.get("messages", []))
    return {"labels": demo_labeller(text, allowed), "reason": "The issue reports a spelling mistake in the README."}


def demo_answer(request: dict[str, Any]) -> dict[str, Any]:
    """The sandbox model: a summary, a single triage answer, or a batched one (per issue)."""
    tool: dict[str, Any] = next(iter(request.get("tools") or []), {})
    if tool.get("name") == anthropic_sandbox.BATCH_TOOL:
        return anthropic_sandbox.batch_answer(request, tool["input_schema"], demo_labeller)
    if tool.get("name") == "choose_labels":
        return demo_labels(request)
    return demo_summary(request)


def demo_summary(request: dict[str, Any]) -> dict[str, Any]:
    """The sandbox model's summary: built from the request's own data, standing in for the model."""
    text = str(request["messages"][0]["content"])
    title = re.search(r'<untrusted name="title">(.*?)</untrusted>', text, re.S)
    files = re.findall(r"^--- (\S+) \(", text, re.M)  # the diff's file headers: `--- path (modified, +2 −0)`
    return {
        "overview": f"Merges “{title.group(1).strip() if title else 'this change'}” ({len(files)} file(s) read).",
        "changes": [f"Changes `{path}`" for path in files[:5]] or ["No readable diff"],
        "why": "Not stated. (This is the sandbox model: set ANTHROPIC_API_KEY for real summaries.)",
        "risk": "low",
        "risk_notes": "",
        "notable_files": files[:2],
    }


@dataclass
class Step:
    name: str
    seconds: float
    result: str


@dataclass
class Demo:
    steps: list[Step] = field(default_factory=list)

    async def timed(self, name: str, action: Callable[[], Awaitable[str]]) -> str:
        started = time.perf_counter()
        result = await action()
        self.steps.append(Step(name, time.perf_counter() - started, result))
        print(f"  {name:<58} {result:<28} {1000 * (time.perf_counter() - started):8.1f} ms", flush=True)
        return result


async def _wait_for(condition: Callable[[], bool], what: str, limit_s: float = WAIT_S) -> str:
    deadline = time.monotonic() + limit_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)
    return "done"


async def _deliver(
    session: aiohttp.ClientSession, url: str, event: str, body: bytes, delivery: str, secret: str = SECRET
) -> str:
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": signature.sign(body, secret.encode()),
        "User-Agent": "GitHub-Hookshot/demo",
    }
    async with session.post(url, data=body, headers=headers) as response:
        answer = await response.json()
        return f"{response.status} {answer.get('status') or answer.get('error')}"


async def _run(log_dir: Path, explicit_redis: str | None, provider: str = "anthropic") -> int:
    redis_process = None
    if explicit_redis is not None:
        redis_url = explicit_redis
        print(f"Redis: {redis_url} (--redis); the demo's records stay there")
    else:
        redis_process = redis_server.start()
        redis_url = redis_process.url
        print(f"Redis: started a throwaway redis-server at {redis_url} (--redis URL to use another)")

    key = new_private_key()
    github = github_sandbox.GitHubSandbox(app_id=APP_ID, private_key_pem=key, app_slug="hookwise")
    pr_delivery, issue_delivery = world.merged_pr_delivery(), world.issue_opened_delivery()
    world.seed(github, pr_delivery, issue_delivery)
    github_runner, github_url = await github_sandbox.start_sandbox(github)
    real_model = provider == "anthropic" and bool(os.environ.get("ANTHROPIC_API_KEY"))
    model_runner = None
    provider_world: providers_sandbox.ProviderWorld | None = None
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(SOURCE_ROOT),
        "APP_ID": str(APP_ID),
        "PRIVATE_KEY": key,
        "WEBHOOK_SECRET": SECRET,
        "HOST": "127.0.0.1",
        "PORT": str(redis_server.free_port()),
        "REDIS_URL": redis_url,
        "GITHUB_API_URL": github_url,
        "LOG_LEVEL": "info",
    }
    if real_model:
        env["ANTHROPIC_API_KEY"] = os.environ["ANTHROPIC_API_KEY"]
        env["ANTHROPIC_MODEL"] = os.environ.get("ANTHROPIC_MODEL", "")
        env = {name: value for name, value in env.items() if value}
        print("Anthropic: the real API (ANTHROPIC_API_KEY is set); GitHub is the sandbox")
    else:
        model = anthropic_sandbox.AnthropicSandbox()
        model.responder = demo_answer
        model_runner, model_url = await anthropic_sandbox.start_sandbox(model)
        env.update(ANTHROPIC_API_KEY=model.api_key, ANTHROPIC_BASE_URL=model_url)
        if provider == "anthropic":
            print(f"Anthropic: the sandbox at {model_url} (set ANTHROPIC_API_KEY to use the real model)")
        else:
            provider_world = await providers_sandbox.start_provider(provider, model, log_dir)
            env.update(provider_world.env)
            print(f"Model: MODEL_PROVIDER={provider}, {DEMO_PROVIDER_LINES[provider]}")
            print(f"  model {provider_world.model_id}; the sandbox Anthropic at {model_url} answers behind it")
    print(f"GitHub: the sandbox at {github_url}\n")

    children = Children(log_dir, env)
    web = children.start("web", bot_command("web"))
    children.start("worker", bot_command("worker"))
    hook = f"http://127.0.0.1:{env['PORT']}/api/github/webhooks"
    pr_repo, issue_repo = "C-Saunders/flynn_env_test", "Codertocat/Hello-World"
    demo = Demo()

    async def web_ready() -> str:
        await wait_http(hook.replace("/api/github/webhooks", "/healthz"), web)
        return "200 ok"

    try:
        async with aiohttp.ClientSession() as session:
            await demo.timed("start the web process (until /healthz answers)", web_ready)
            pr_id, issue_id = str(uuid.uuid4()), str(uuid.uuid4())
            await demo.timed(
                "deliver pull_request closed (merged)",
                lambda: _deliver(session, hook, "pull_request", pr_delivery, pr_id),
            )
            await demo.timed(
                "deliver issues opened", lambda: _deliver(session, hook, "issues", issue_delivery, issue_id)
            )
            await demo.timed(
                "redeliver the same merged-PR delivery",
                lambda: _deliver(session, hook, "pull_request", pr_delivery, pr_id),
            )
            await demo.timed(
                "deliver the same merge again, new delivery id",
                lambda: _deliver(session, hook, "pull_request", pr_delivery, str(uuid.uuid4())),
            )
            await demo.timed(
                "deliver with a wrong signature",
                lambda: _deliver(session, hook, "pull_request", pr_delivery, str(uuid.uuid4()), secret="wrong"),
            )
            await demo.timed(
                "worker: summary comment on the merged PR",
                lambda: _wait_for(lambda: bool(github.comments(pr_repo, 2)), "the summary comment"),
            )
            redis = Redis.from_url(redis_url)
            await demo.timed("worker: triage of the new issue", lambda: _wait_for_job(redis, issue_id))
            github.set_permission(pr_repo, MAINTAINER, "maintain")
            command = world.command_delivery(
                github, pr_delivery, 2, "Can you redo this?\n\n@hookwise summarize", MAINTAINER
            )
            command_id = json.loads(command)["comment"]["id"]
            outsider = world.command_delivery(github, pr_delivery, 2, "@hookwise summarize", "passer-by")
            await demo.timed(
                f"deliver a maintainer's '@hookwise summarize' ({MAINTAINER})",
                lambda: _deliver(session, hook, "issue_comment", command, str(uuid.uuid4())),
            )
            await demo.timed(
                "deliver the same command from a passer-by (read access)",
                lambda: _deliver(session, hook, "issue_comment", outsider, str(uuid.uuid4())),
            )
            await demo.timed(
                "worker: eyes, summary edited in place, rocket",
                lambda: _wait_for(lambda: "rocket" in github.reactions(pr_repo, command_id), "the rocket reaction"),
            )
            # The maintainer corrects the triage: hookwise follows it (nothing is written to GitHub).
            removed = world.label_delivery(github, issue_delivery, "documentation", MAINTAINER, added=False)
            added = world.label_delivery(github, issue_delivery, "question", MAINTAINER, added=True)
            label_ids = [str(uuid.uuid4()), str(uuid.uuid4())]
            await demo.timed(
                f"deliver {MAINTAINER}'s correction: 'documentation' off",
                lambda: _deliver(session, hook, "issues", removed, label_ids[0]),
            )
            await demo.timed(
                f"deliver {MAINTAINER}'s correction: 'question' on",
                lambda: _deliver(session, hook, "issues", added, label_ids[1]),
            )
            await demo.timed(
                "worker: the triage's agreement record follows the correction",
                lambda: _wait_for_jobs(redis, label_ids),
            )
            await _wait_for_records(redis, 7)
            records = await Records(redis).recent(10)
            reports = await AgreementStore(redis).reports(issue_repo, now=time.time())
            await redis.aclose()
    except (TimeoutError, RuntimeError) as exc:
        print(f"\ndemo failed: {exc}; the web and worker logs are kept in {log_dir}", file=sys.stderr)
        for child in children.running.values():
            print(f"--- {child.name}.log (last lines)\n{child.log_tail(15)}", file=sys.stderr)
        return 1
    finally:
        children.stop_all()
        await github_runner.cleanup()
        if provider_world is not None:
            await provider_world.stop()
        if model_runner is not None:
            await model_runner.cleanup()
        if redis_process is not None:
            redis_process.stop()

    _report(github, pr_repo, issue_repo, records)
    print(f"\nTriage agreement (python -m bot accuracy {issue_repo}):")
    print(re.sub(r"(?m)^", "  ", agreement_text.format_report(reports)))
    return 0


async def _wait_for_job(redis: Redis, delivery_id: str) -> str:
    """Until the worker has finished the delivery's job (whatever the model chose to do)."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        record = await Records(redis).get(delivery_id)
        if record is not None and record.outcome in ("done", "skipped", "failed"):
            return record.outcome
        await asyncio.sleep(0.05)
    raise TimeoutError(f"timed out waiting for delivery {delivery_id}")


async def _wait_for_jobs(redis: Redis, delivery_ids: list[str]) -> str:
    return ", ".join([await _wait_for_job(redis, delivery_id) for delivery_id in delivery_ids])


async def _wait_for_records(redis: Redis, count: int) -> None:
    deadline = time.monotonic() + WAIT_S
    # Polling another process's writes: there is nothing in this process to wait on.
    while len(await Records(redis).recent(10)) < count and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)


def _report(github: github_sandbox.GitHubSandbox, pr_repo: str, issue_repo: str, records: list[Any]) -> None:
    comments = [c for c in github.comments(pr_repo, 2) if c["user"]["login"] == "hookwise[bot]"]
    print(f"\nOn the sandbox GitHub, {pr_repo}#2 has {len(comments)} hookwise comment(s):\n")
    for comment in comments:
        print(re.sub(r"(?m)^", "    │ ", comment["body"]))
    edits = [r for r in github.requests if r.method == "PATCH"]
    print(f"\nthe summary was posted once and edited {len(edits)} time(s) in place (by the command)")
    for comment in github.comments(pr_repo, 2):
        if comment["user"]["login"] != "hookwise[bot]":
            reactions = github.reactions(pr_repo, comment["id"]) or ["none"]
            print(f"reactions on {comment['user']['login']}'s command: {', '.join(reactions)}")
    created = [r for r in github.requests if r.method == "POST" and r.path.endswith("/labels")]
    print(f"\n{issue_repo}#1 labels: {github.issue_labels(issue_repo, 1)} ('bug' was there already; hookwise added")
    print(f"  'documentation', then {MAINTAINER} took it off and added 'question')")
    print(f"repository labels unchanged (none created silently): {github.repo_labels(issue_repo)}")
    print(f"label requests sent: {[r.json for r in created]}")
    print("\nProvenance (python -m bot history):")
    for record in records:
        print("  " + format_record(record))


def run_demo(provider: str = "anthropic", redis_url: str | None = None) -> int:
    """The demo, with the model behind a sandbox of `provider`'s wire format, on a throwaway Redis
    unless `redis_url` (`--redis URL`) is given. The web and worker logs are deleted after a run
    that worked and kept after one that failed (the failure names the folder)."""
    if redis_url is not None and not redis_server.reachable(redis_url):
        print(f"demo: Redis at {redis_url} does not answer (--redis)", file=sys.stderr)
        return 1
    log_dir = Path(tempfile.mkdtemp(prefix="hookwise-demo-"))
    try:
        code = asyncio.run(_run(log_dir, redis_url, provider))
    except BaseException:
        print(f"the web and worker logs are kept in {log_dir}", file=sys.stderr)
        raise
    if code == 0:
        shutil.rmtree(log_dir, ignore_errors=True)
    return code

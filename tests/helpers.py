"""Shared helpers for tests: the one fixture loader, signed deliveries, the sandbox world the
pipeline tests start from, bounded waits, a worker run, and real `python -m bot` processes."""

from __future__ import annotations

import asyncio
import html
import json
import os
import re
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient
from arq.worker import Worker
from redis.asyncio import Redis

from bot.adapters.github import Repo
from bot.config import Settings
from bot.core.ingress import signature
from bot.core.ingress.job import Author, CommandJob, Job, SummaryJob, TriageJob, TriageRound
from bot.core.outcome import OutcomeKind
from bot.core.summary.diff_budget import PullFile
from bot.sandbox.anthropic import BATCH_TOOL, batch_issues, fake_tool_input, user_text
from bot.sandbox.github import GitHubSandbox
from bot.sandbox.processes import Child, Children, answers, python_module
from bot.sandbox.world import DEFAULT_LABELS
from bot.worker.actions import triage
from bot.worker.actions.triage_batch import IssueResult, RoundResult, run_round
from bot.worker.deps import Deps
from bot.worker.settings import worker_settings
from bot.worker.state import Tuning

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
WEBHOOKS = FIXTURES / "github-webhooks"
API = FIXTURES / "github-api"
APP_ID = 4242
SECRET = "test-secret"
HOOK = "/api/github/webhooks"
_NAMES = uuid.UUID("6f1c2a4e-0d3b-4c8e-9a57-1b2c3d4e5f60")

# -- the one fixture loader ---------------------------------------------------------------------------


def webhook_bytes(relpath: str) -> bytes:
    """The exact bytes of `tests/fixtures/github-webhooks/<relpath>` (what GitHub signed)."""
    return (WEBHOOKS / relpath).read_bytes()


def webhook_payload(relpath: str) -> dict[str, Any]:
    """A webhook body from `tests/fixtures/github-webhooks/<relpath>`, parsed (a fresh copy each call)."""
    payload = json.loads(webhook_bytes(relpath))
    assert isinstance(payload, dict)
    return payload


def api_json(relpath: str) -> Any:
    """A recorded REST API body from `tests/fixtures/github-api/<relpath>`, parsed."""
    return json.loads((API / relpath).read_bytes())


def with_installation(body: bytes, installation_id: int = 461842) -> bytes:
    """GitHub's documentation examples lack the `installation` an App's delivery carries."""
    payload = json.loads(body)
    payload["installation"] = {"id": installation_id}
    return json.dumps(payload).encode()


# -- deliveries ------------------------------------------------------------------------------------------


def guid(name: str) -> str:
    """A GUID-shaped delivery id (GitHub's are UUIDs), the same for the same name in every test."""
    return str(uuid.uuid5(_NAMES, name))


def delivery_headers(
    event: str, body: bytes, delivery: str | None = None, secret: str = SECRET, content_type: str = "application/json"
) -> dict[str, str]:
    """What GitHub sends with `body`; a `delivery` that is a name rather than a GUID becomes `guid(name)`."""
    if delivery is None:
        delivery = str(uuid.uuid4())
    elif not _is_guid(delivery):
        delivery = guid(delivery)
    return {
        "Content-Type": content_type,
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": signature.sign(body, secret.encode()),
        "User-Agent": "GitHub-Hookshot/test",
    }


def _is_guid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


async def deliver(client: TestClient[Any, Any], event: str, body: bytes, delivery: str | None = None) -> int:
    response = await client.post(HOOK, data=body, headers=delivery_headers(event, body, delivery))
    return response.status


def summary_job(name: str, *, repository: str = "C-Saunders/flynn_env_test", number: int = 2) -> SummaryJob:
    return SummaryJob(
        delivery_id=guid(name), event="pull_request", action="closed", installation_id=461842,
        repository=repository, number=number,
    )  # fmt: skip


def triage_job(name: str, *, repository: str = "Codertocat/Hello-World", number: int = 1) -> TriageJob:
    return TriageJob(
        delivery_id=guid(name), event="issues", action="opened", installation_id=461842,
        repository=repository, number=number,
    )  # fmt: skip


def command_job(
    name: str, body: str, *, login: str = "maintainer", number: int = 2, is_pull_request: bool = True,
    comment_id: int = 1, repository: str = "C-Saunders/flynn_env_test", user_type: str = "User",
) -> CommandJob:  # fmt: skip
    return CommandJob(
        delivery_id=guid(name), event="issue_comment", action="created", installation_id=461842,
        repository=repository, number=number, is_pull_request=is_pull_request, comment_id=comment_id,
        body=body, author=Author(login=login, type=user_type),
    )  # fmt: skip


def any_job(delivery_id: str) -> Job:
    """A job whose delivery id is `delivery_id` exactly (for ledger and sweeper tests)."""
    return triage_job("any").model_copy(update={"delivery_id": delivery_id})


# -- model answers and requests ----------------------------------------------------------------------


def triage_answer(*labels: str, reason: str = "Because.") -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A sandbox responder giving every issue `labels` (and `reason` where the tool asks for one):
    as the single answer (`choose_labels`) or as each item of a batched one (`label_issues`); any
    other tool gets a schema-valid answer."""

    def respond(request: dict[str, Any]) -> dict[str, Any]:
        tool = request["tools"][0]
        schema = tool["input_schema"]
        if tool["name"] == BATCH_TOOL:
            numbers = [number for number, _ in batch_issues(user_text(request))]
            why = {"reason": reason} if "reason" in schema["properties"]["issues"]["items"]["properties"] else {}
            return {"issues": [{"number": n, "labels": list(labels), **why} for n in numbers]}
        if tool["name"] == "choose_labels":
            return {"labels": list(labels), **({"reason": reason} if "reason" in schema["properties"] else {})}
        return fake_tool_input(tool["input_schema"])

    return respond


def system_text(request: dict[str, Any]) -> str:
    """A request's system prompt as text, whether sent as a string or as blocks."""
    system = request.get("system") or ""
    return system if isinstance(system, str) else "\n".join(str(block.get("text", "")) for block in system)


def label_enum(request: dict[str, Any]) -> list[str]:
    """The label names a triage request's tool lets the model choose (single or batched tool)."""
    schema = request["tools"][0]["input_schema"]
    if "issues" in schema["properties"]:
        schema = schema["properties"]["issues"]["items"]
    return list(schema["properties"]["labels"]["items"]["enum"])


def label_posts(github: GitHubSandbox, number: int) -> list[Any]:
    """The bodies of every POST that added labels to issue `number` (each one a write)."""
    return [r.json for r in github.requests if r.method == "POST" and r.path.endswith(f"/issues/{number}/labels")]


# -- the sandbox world most pipeline tests start from ----------------------------------------------------

MERGED = webhook_bytes("pull_request/closed.merged.app.json")
PR_REPO, PR_NUMBER = "C-Saunders/flynn_env_test", 2
ISSUE = with_installation(webhook_bytes("issues/opened.json"))
ISSUE_REPO = "Codertocat/Hello-World"


def seed_merged_pr(github: GitHubSandbox, files: list[dict[str, Any]] | None = None) -> None:
    """The real merged-PR delivery's repository and PR, with recorded files and one commit."""
    github.seed_from_payload(json.loads(MERGED))
    pull = json.loads(MERGED)["pull_request"]
    recorded = api_json("pulls/list-files.github3py-235.json")
    commits = [{"sha": pull["merge_commit_sha"], "commit": {"message": "Add the flynn env test\n\nBecause."}}]
    github.add_pull(PR_REPO, pull, files=recorded if files is None else files, commits=commits)


def seed_issue(github: GitHubSandbox) -> None:
    """GitHub's `issues.opened` example's repository and issue, with GitHub's default labels."""
    github.seed_from_payload(json.loads(ISSUE))
    github.add_repo(ISSUE_REPO, installation_id=461842, labels=DEFAULT_LABELS)


def add_issues(github: GitHubSandbox, texts: dict[int, str], *, repository: str = ISSUE_REPO) -> None:
    """Open issues `number -> body` (each titled after its number) in the sandbox repository."""
    template = webhook_payload("issues/opened.json")["issue"]
    for number, body in texts.items():
        issue = {**template, "number": number, "title": f"Issue {number}", "body": body, "labels": []}
        issue["url"] = f"https://api.github.com/repos/{repository}/issues/{number}"
        github.add_issue(repository, issue)


def issue_delivery(number: int, *, repository: str = ISSUE_REPO, installation_id: int = 461842) -> bytes:
    """The real `issues.opened` delivery, for issue `number` of `repository`."""
    payload = json.loads(ISSUE)
    owner, name = repository.split("/")
    payload["repository"] = {**payload["repository"], "full_name": repository, "name": name}
    payload["repository"]["owner"] = {**payload["repository"]["owner"], "login": owner}
    payload["issue"] = {**payload["issue"], "number": number}
    payload["installation"] = {"id": installation_id}
    return json.dumps(payload).encode()


def label_event(
    action: str, label: str, *, login: str = "Codertocat", user_type: str = "User", at: str, number: int = 1
) -> bytes:
    """A real `issues` `labeled` / `unlabeled` delivery (GitHub's example) on issue `number` of
    ISSUE_REPO, by `login`, made at `at` (an ISO time: the issue's `updated_at`)."""
    payload = webhook_payload(f"issues/{action}.json")
    payload["installation"] = {"id": 461842}
    payload["issue"]["number"] = number
    payload["label"]["name"] = label
    payload["sender"]["login"], payload["sender"]["type"] = login, user_type
    payload["issue"]["updated_at"] = at
    return json.dumps(payload).encode()


def bot_label_events(github: GitHubSandbox, number: int, *, repository: str = ISSUE_REPO) -> list[str]:
    """Every label the App added to issue `number`, once per time it was added (GitHub's events)."""
    events = github._repo_by_name(repository).events.get(number, [])
    return [e["label"]["name"] for e in events if e["event"] == "labeled" and e["actor"]["type"] == "Bot"]


async def open_issues(
    deps: Deps, github: GitHubSandbox, texts: dict[int, str], *, config: str | None = None
) -> tuple[Repo, set[str]]:
    """Issues `number -> body` opened (in GitHub's example repository) and registered by their
    TriageJobs, as the worker does; the repo and the batch rounds queued for them."""
    seed_issue(github)
    add_issues(github, texts)
    if config is not None:
        github.set_file(ISSUE_REPO, ".github/hookwise.yml", config)
    repo = await deps.github.repo(461842, ISSUE_REPO)
    rounds = set()
    for number in texts:
        outcome = await triage.on_opened(triage_job(f"open-{number}", number=number), repo, deps, job_try=1)
        assert outcome.kind is OutcomeKind.WAITING, outcome
        rounds.add(outcome.detail.rsplit("(", 1)[1].rstrip(")"))
    return repo, rounds


async def run_pending_round(deps: Deps, repo: Repo, job_id: str, *, now_ms: int | None = None) -> RoundResult:
    """Run the batch round `job_id` (a `Registered.round_job`) as its arq job does, here; each
    issue judged ends its claim (the job also writes its delivery's record)."""
    queue, number = job_id.rsplit(":", 1)
    lane = queue.rsplit("!", 1)[1] if "!" in queue else ""
    job = TriageRound(repository=repo.full_name, installation_id=repo.installation_id, round=int(number), lane=lane)

    async def open_repo() -> Repo:
        return repo

    async def settle(result: IssueResult) -> None:
        if result.error is None:
            await deps.triage_queue.finish(repo.full_name, result.issue.number, job_id, lane)

    now = int(time.time() * 1000) if now_ms is None else now_ms
    return await run_round(job, job_id, open_repo, deps, now_ms=now, settle=settle)


def github_files(files: list[PullFile]) -> list[dict[str, Any]]:
    """`GET .../pulls/{n}/files` items for `files` (tests/fixtures/diffs' shape is GitHub's)."""
    return [{**f.model_dump(exclude_none=True), "changes": f.changed_lines} for f in files]


def merged_pull(number: int, title: str, merged_at: str, *, body: str = "", base: str | None = None) -> dict[str, Any]:
    """The real merged-PR delivery's pull request, as pull request `number` merged at `merged_at`
    (into the default branch, or into `base`)."""
    pull: dict[str, Any] = json.loads(MERGED)["pull_request"]
    html = f"https://github.com/{PR_REPO}/pull/{number}"
    pull.update(
        number=number, title=title, body=body, merged_at=merged_at, closed_at=merged_at, updated_at=merged_at,
        html_url=html, url=f"https://api.github.com/repos/{PR_REPO}/pulls/{number}", id=pull["id"] + number,
        merge_commit_sha=f"{number:040x}",
    )  # fmt: skip
    if base is not None:
        pull["base"] = {**pull["base"], "ref": base}
    return pull


def seed_merged_pulls(github: GitHubSandbox, pulls: list[dict[str, Any]]) -> None:
    """More pull requests in the merged-PR delivery's repository, each with one file and commit."""
    github.seed_from_payload(json.loads(MERGED))
    for pull in pulls:
        files = [{"filename": "README.md", "status": "modified", "additions": 1, "patch": "@@ -1 +1 @@\n-a\n+b"}]
        commits = [{"sha": pull["merge_commit_sha"], "commit": {"message": pull["title"]}}]
        github.add_pull(PR_REPO, pull, files=files, commits=commits)


async def delivery_state(redis: Redis, delivery_id: str) -> bytes | None:
    """The ledger's `state` of a delivery, as Redis holds it (b"queued", b"done", b"failed")."""
    raw: Any = await redis.hget(f"hookwise:delivery:{delivery_id}", "state")  # type: ignore[misc]
    return raw if isinstance(raw, bytes | None) else str(raw).encode()


# -- waiting and running ---------------------------------------------------------------------------------


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


async def run_worker(settings: Settings, **tuning: Any) -> None:
    """Run a real arq worker in this process until the queue (deferred retries included) is empty.

    `tuning` is what the test changes about it (bot/worker/state.py: Tuning, e.g. `retry_base_s`
    for short backoffs)."""
    options = worker_settings(settings, tuning=Tuning(**tuning), burst=True, handle_signals=False, poll_delay=0.02)
    worker = Worker(**options)
    try:
        await worker.main()
    finally:
        await worker.close()


# -- real processes --------------------------------------------------------------------------------------


class Processes(Children):
    """`python -m bot ...` child processes sharing one environment (bot/sandbox/processes.py); each
    logs to `<name>.log` in `cwd`, and is killed at the end of the test."""

    def start(self, name: str, command: str, *, module: str = "bot", **env: str) -> Child:  # type: ignore[override]
        """Start `python -m <module> [command]`; `env` adds to the shared environment."""
        return super().start(name, python_module(module, *([command] if command else [])), env=env)

    def stop_all(self, grace_s: float = 0) -> None:
        super().stop_all(grace_s)


async def run_cli(env: dict[str, str], cwd: Path, *args: str, stdin: bytes | None = None) -> tuple[int, str]:
    """Run `python -m bot ...` without blocking this loop (the sandboxes are served by it); the exit
    code and stdout, with stderr after it when the command failed."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args,
        env={**env, "PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT)},
        cwd=cwd,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    output, logs = await asyncio.wait_for(process.communicate(stdin), 60)
    return process.returncode or 0, output.decode() + ("" if process.returncode == 0 else logs.decode())


healthy = answers  # whether a URL answers 200 now (bot/sandbox/processes.py)


# -- the manifest flow without a browser ------------------------------------------------------------------


def form_of(page: str, form_id: str | None = None) -> tuple[str, dict[str, str]]:
    """The action and the named fields of the page's (first, or `form_id`) form."""
    start = page.index(f'<form id="{form_id}"' if form_id else "<form")
    chunk = page[start : page.index("</form>", start)]
    action = html.unescape(re.search(r'action="([^"]*)"', chunk).group(1))  # type: ignore[union-attr]
    fields = {
        html.unescape(m.group(1)): html.unescape(m.group(2))
        for m in re.finditer(r'name="([^"]+)" value="([^"]*)"', chunk)
    }
    return action, fields


async def register_over_http(session: aiohttp.ClientSession, setup_url: str, github_url: str) -> aiohttp.ClientResponse:
    """What the browser does in `setup`, without one: the local form, GitHub's form, the redirect back."""
    async with session.get(setup_url) as start:
        action, fields = form_of(await start.text(), "register")
    async with session.post(action, data=fields) as github_page:
        confirm_action, confirm_fields = form_of(await github_page.text())
    response = await session.post(github_url + confirm_action, data=confirm_fields)  # follows the redirect
    await response.read()
    return response

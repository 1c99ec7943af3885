"""Triage agreement, through the real web app and an arq worker on real Redis: a person's
`labeled` / `unlabeled` events on an issue hookwise triaged update its record (a bot's, and
hookwise's own, never reach the queue), and `python -m bot accuracy` reports exact figures."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from bot.adapters.store.agreement import AgreementStore
from bot.adapters.store.keys import QUEUE
from bot.adapters.store.records import Records
from bot.config import Settings
from bot.core.agreement import DEFAULT_POLICY, LabelChange, Mode, TriageRecord, TrustPolicy, judge
from bot.sandbox.github import GitHubSandbox
from tests.helpers import ISSUE_REPO, ROOT, deliver, guid, label_event, run_worker, seed_issue

DAY = 86_400.0


def triaged(number: int = 1, *, chosen: tuple[str, ...], at: float, mode: Mode = "live", **more: Any) -> TriageRecord:
    return TriageRecord(
        repository=ISSUE_REPO, number=number, mode=mode, triaged_at=at, chosen=chosen, title=f"Issue {number}",
        **more,
    )  # fmt: skip


async def test_a_persons_label_changes_update_the_record_and_judge_hookwise(
    client: TestClient[Any, Any], settings: Settings, github: GitHubSandbox, redis: Redis
) -> None:
    seed_issue(github)
    store = AgreementStore(redis)
    at = time.time() - 60
    await store.record(triaged(chosen=("documentation",), present=("bug",), at=at), DEFAULT_POLICY)
    first, then = (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at + seconds)) for seconds in (20, 40))
    assert await deliver(client, "issues", label_event("unlabeled", "documentation", at=then), "rm") == 202
    assert await deliver(client, "issues", label_event("labeled", "enhancement", at=first), "add") == 202
    await run_worker(settings)

    record = await store.get(ISSUE_REPO, 1)
    assert record is not None
    assert [(c.label, c.added, c.actor) for c in record.changes] == [
        ("enhancement", True, "Codertocat"),
        ("documentation", False, "Codertocat"),
    ]
    verdict = judge(record, now=time.time())
    assert verdict.false_positives == ("documentation",) and verdict.false_negatives == ("enhancement",)
    history = await Records(redis).get(guid("rm"))
    assert history is not None and history.detail == "agreement: Codertocat removed documentation"
    assert not [r for r in github.requests if r.path.startswith("/repos/")]  # nothing read or written for it


async def test_label_changes_by_bots_and_by_hookwise_itself_are_not_queued(
    client: TestClient[Any, Any], redis: Redis
) -> None:
    for login in ("hookwise[bot]", "dependabot[bot]"):
        body = label_event("labeled", "bug", login=login, user_type="Bot", at="2026-12-01T10:00:00Z")
        response = await client.post("/api/github/webhooks", data=body, headers=_headers(body))
        assert (response.status, (await response.json())["status"]) == (200, "ignored")
    assert await redis.zcard(QUEUE) == 0


async def test_a_change_on_an_issue_hookwise_never_triaged_is_skipped(
    client: TestClient[Any, Any], settings: Settings, github: GitHubSandbox, redis: Redis
) -> None:
    seed_issue(github)
    await deliver(client, "issues", label_event("labeled", "bug", at="2026-12-01T10:00:00Z"), "stranger")
    await run_worker(settings)
    record = await Records(redis).get(guid("stranger"))
    assert record is not None and (record.outcome, record.detail) == ("skipped", "issue not triaged by hookwise")
    assert await AgreementStore(redis).get(ISSUE_REPO, 1) is None


async def test_the_same_change_delivered_twice_counts_once(
    client: TestClient[Any, Any], settings: Settings, github: GitHubSandbox, redis: Redis
) -> None:
    seed_issue(github)
    store = AgreementStore(redis)
    await store.record(triaged(chosen=("bug",), at=time.time() - 600), DEFAULT_POLICY)
    body = label_event("unlabeled", "bug", at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60)))
    await deliver(client, "issues", body, "first")  # two deliveries of one change (GitHub sent it twice)
    await deliver(client, "issues", body, "second")
    await run_worker(settings)
    record = await store.get(ISSUE_REPO, 1)
    assert record is not None and len(record.changes) == 1


def _headers(body: bytes) -> dict[str, str]:
    from tests.helpers import delivery_headers

    return delivery_headers("issues", body)


@pytest.mark.e2e  # a `python -m bot accuracy` process
async def test_the_accuracy_report_gives_exact_figures_for_a_scripted_sequence(
    settings_env: dict[str, str], redis: Redis, tmp_path: Any
) -> None:
    """Ten live issues and two shadow ones, with people's corrections; the figures by hand:
    live untouched for 8 days: 4 issues chose `bug` -> accepted (bug TP 4);
    live, a person removed `bug` from 2 and added `question` to 1 of those -> bug FP 2, question FN 1;
    live, chose `documentation`, a person left it and added nothing -> untouched < 7 days: pending (2);
    live, chose nothing, a person added `bug` -> bug FN 1;
    shadow, chose `bug`, a person added `bug` -> bug TP 1; shadow, chose `question`, a person added `bug`
    -> question FP 1, bug FN 1.
    Judged 4 + 2 + 1 + 2 = 9, pending 2; exact: the 4 accepted and the shadow `bug` one -> 5/9.
    bug: TP 5, FP 2, FN 2 -> precision 5/7, recall 5/7; question: TP 0, FP 1, FN 1."""
    store = AgreementStore(redis)
    now = time.time()
    old, recent = now - 8 * DAY, now - 2 * DAY
    policy = TrustPolicy()
    numbers = iter(range(1, 100))

    async def issue(record: TriageRecord, *changes: tuple[str, bool]) -> None:
        await store.record(record, policy)
        for offset, (label, added) in enumerate(changes, 1):
            await store.add_change(record.repository, record.number, LabelChange(
                label=label, added=added, at=record.triaged_at + offset * 60, actor="maintainer-mia"
            ))  # fmt: skip

    for _ in range(4):
        await issue(triaged(next(numbers), chosen=("bug",), at=old))
    await issue(triaged(next(numbers), chosen=("bug",), at=old), ("bug", False), ("question", True))
    await issue(triaged(next(numbers), chosen=("bug",), at=old), ("bug", False))
    for _ in range(2):
        await issue(triaged(next(numbers), chosen=("documentation",), at=recent))
    await issue(triaged(next(numbers), chosen=(), at=old), ("bug", True))
    await issue(triaged(next(numbers), chosen=("bug",), at=recent, mode="shadow"), ("bug", True))
    await issue(triaged(next(numbers), chosen=("question",), at=recent, mode="shadow"), ("bug", True))

    result = subprocess.run(  # noqa: ASYNC221 - the CLI as an operator runs it, once
        [sys.executable, "-m", "bot", "accuracy", ISSUE_REPO.lower(), "--since", "30d"],
        env={**settings_env, "PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, cwd=tmp_path,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"{ISSUE_REPO}: 9 issues judged (2 pending), exact match 0.56 (5/9)"
    assert any(line.split() == ["bug", "precision", "0.71", "(5/7)", "recall", "0.71", "(5/7)"] for line in lines)
    assert any(line.split() == ["question", "precision", "0.00", "(0/1)", "recall", "0.00", "(0/1)"] for line in lines)
    assert any(line.strip().startswith("most corrected: bug 4 (2 removed, 2 added)") for line in lines), lines

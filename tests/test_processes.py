"""Breaking things across processes: several web and worker processes on one Redis, a worker
killed mid-call, SIGTERM with a job in flight, and Redis going away and coming back."""

from __future__ import annotations

import asyncio
import json
import signal
from typing import Any

import aiohttp
from redis.asyncio import Redis

from bot.core.views.comments import SUMMARY_MARKER
from bot.sandbox import redis_server
from bot.sandbox.anthropic import AnthropicSandbox, batch_issues, user_text
from bot.sandbox.github import GitHubSandbox
from tests.helpers import (
    HOOK,
    ISSUE_REPO,
    MERGED,
    PR_NUMBER,
    PR_REPO,
    Processes,
    add_issues,
    bot_label_events,
    delivery_headers,
    delivery_state,
    guid,
    healthy,
    issue_delivery,
    seed_issue,
    seed_merged_pr,
    wait_until,
)

SHORT_JOB_TIMEOUT = {"TEST_JOB_TIMEOUT_S": "3"}  # arq re-runs a crashed job after timeout + 10 s


def start_web(processes: Processes, name: str) -> str:
    port = str(redis_server.free_port())
    processes.start(name, "web", PORT=port)
    return f"http://127.0.0.1:{port}"


def start_worker(processes: Processes, name: str, *, short: bool = False) -> Any:
    if short:
        return processes.start(name, "", module="tests.worker_process", **SHORT_JOB_TIMEOUT)
    return processes.start(name, "worker")


async def post(session: aiohttp.ClientSession, base: str, delivery: str) -> tuple[int, str]:
    headers = delivery_headers("pull_request", MERGED, delivery)
    async with session.post(f"{base}{HOOK}", data=MERGED, headers=headers) as response:
        return response.status, (await response.json()).get("status", "")


def bot_comments(github: GitHubSandbox) -> list[dict[str, Any]]:
    return [c for c in github.comments(PR_REPO, PR_NUMBER) if c["user"]["login"] == "hookwise[bot]"]


async def test_two_web_and_two_worker_processes_behave_like_one(
    processes: Processes, github: GitHubSandbox, model: AnthropicSandbox, redis: Redis, session: aiohttp.ClientSession
) -> None:
    seed_merged_pr(github)
    webs = [start_web(processes, "web-a"), start_web(processes, "web-b")]
    start_worker(processes, "worker-a")
    start_worker(processes, "worker-b")
    for base in webs:
        await wait_until(lambda base=base: healthy(session, f"{base}/healthz"), "web up")

    # The same delivery 8 times at once, alternating between the two web processes.
    answers = await asyncio.gather(*(post(session, webs[i % 2], "same-delivery") for i in range(8)))
    assert sorted(answers) == [(200, "duplicate")] * 7 + [(202, "queued")]
    # And a second delivery of the same merge (GitHub sent the event twice).
    assert await post(session, webs[1], "other-delivery") == (202, "queued")

    await wait_until(lambda: _all_done(redis, ["other-delivery"], {b"done", b"failed", b"queued"}), "accepted")
    await wait_until(
        lambda: _all_done(redis, ["same-delivery", "other-delivery"]), "both deliveries processed", limit_s=60
    )
    [comment] = bot_comments(github)
    assert comment["body"].startswith(SUMMARY_MARKER)
    assert len(model.requests) == 1


async def _all_done(redis: Redis, deliveries: list[str], states: set[bytes] | None = None) -> bool:
    found = [await delivery_state(redis, guid(d)) for d in deliveries]
    return all(state in (states or {b"done"}) for state in found)


async def test_a_worker_killed_mid_model_call_is_finished_by_another(
    processes: Processes, github: GitHubSandbox, model: AnthropicSandbox, redis: Redis, session: aiohttp.ClientSession
) -> None:
    seed_merged_pr(github)
    model.hold = asyncio.Event()  # the model "thinks" until released
    base = start_web(processes, "web")
    doomed = start_worker(processes, "worker-doomed", short=True)
    await wait_until(lambda: healthy(session, f"{base}/healthz"), "web up")
    assert await post(session, base, "kill-me") == (202, "queued")

    await asyncio.wait_for(model.arrived.wait(), 30)  # the worker is inside the model call
    doomed.send_signal(signal.SIGKILL)
    await wait_until(lambda: doomed.poll() is not None, "the worker to die")
    model.hold.set()

    start_worker(processes, "worker-rescuer", short=True)
    await wait_until(lambda: _all_done(redis, ["kill-me"]), "the job re-run by the other worker", limit_s=60)
    assert len(bot_comments(github)) == 1
    record = json.loads(await redis.get(f"hookwise:record:{guid('kill-me')}"))
    assert record["outcome"] == "done" and record["job_try"] == 2


async def test_sigterm_lets_the_job_in_flight_finish(
    processes: Processes, github: GitHubSandbox, model: AnthropicSandbox, redis: Redis, session: aiohttp.ClientSession
) -> None:
    seed_merged_pr(github)
    model.hold = asyncio.Event()
    base = start_web(processes, "web")
    worker = start_worker(processes, "worker")
    await wait_until(lambda: healthy(session, f"{base}/healthz"), "web up")
    assert await post(session, base, "in-flight") == (202, "queued")
    await asyncio.wait_for(model.arrived.wait(), 30)

    worker.send_signal(signal.SIGTERM)
    model.hold.set()  # the model answers after the signal: the job still completes
    await wait_until(lambda: worker.poll() is not None, "the worker to exit", limit_s=30)
    assert worker.returncode == 0, processes.log("worker")
    assert len(bot_comments(github)) == 1
    assert await delivery_state(redis, guid("in-flight")) == b"done"


async def test_redis_outage_503_then_the_same_delivery_is_accepted_and_processed(
    processes: Processes, github: GitHubSandbox, model: AnthropicSandbox, session: aiohttp.ClientSession
) -> None:
    seed_merged_pr(github)
    server = redis_server.start()
    url = server.url
    processes.env["REDIS_URL"] = url
    try:
        base = start_web(processes, "web")
        worker = start_worker(processes, "worker")
        await wait_until(lambda: healthy(session, f"{base}/readyz"), "ready")
        await wait_until(lambda: "worker ready" in processes.log("worker"), "the worker polling Redis")

        server.stop()  # Redis goes away
        assert await post(session, base, "during-outage") == (503, "")
        async with session.get(f"{base}/readyz") as response:
            assert response.status == 503
        assert await healthy(session, f"{base}/healthz")  # alive, only not ready
        await wait_until(lambda: "Redis unavailable" in processes.log("worker"), "the worker to notice")
        assert worker.poll() is None

        server = redis_server.start(port=server.port)  # Redis comes back (empty: nothing was kept)
        await wait_until(lambda: healthy(session, f"{base}/readyz"), "ready again", limit_s=30)
        assert await post(session, base, "during-outage") == (202, "queued")  # the 503 was not remembered
        await wait_until(lambda: bool(bot_comments(github)), "the reconnected worker's summary", limit_s=60)
        assert worker.poll() is None  # it waited, reconnected and carried on by itself
    finally:
        server.stop()


def test_a_crashed_workers_job_is_picked_up_again_within_about_a_minute(settings_env: dict[str, str]) -> None:
    """arq re-runs a crashed job after the longest function timeout + 10 s (its in-progress TTL)."""
    from arq.worker import Worker

    from bot.config import load_settings
    from bot.worker.settings import worker_settings

    worker = Worker(**worker_settings(load_settings(**settings_env), handle_signals=False))
    assert worker.in_progress_timeout_s <= 75


async def test_sigterm_while_waiting_for_redis_stops_the_worker(processes: Processes) -> None:
    processes.env["REDIS_URL"] = f"redis://127.0.0.1:{redis_server.free_port()}"  # nothing listens
    worker = start_worker(processes, "worker")
    await wait_until(lambda: "Redis unavailable" in processes.log("worker"), "the worker to wait for Redis")
    worker.send_signal(signal.SIGTERM)
    await wait_until(lambda: worker.poll() is not None, "the worker to exit", limit_s=30)
    assert worker.returncode == 0, processes.log("worker")


async def test_sigterm_during_a_burst_answers_what_it_accepted(
    processes: Processes, redis: Redis, session: aiohttp.ClientSession
) -> None:
    base = start_web(processes, "web")
    await wait_until(lambda: healthy(session, f"{base}/healthz"), "web up")
    web = processes.running["web"]
    answers: dict[str, int | str] = {}

    async def one(delivery: str) -> None:
        try:
            answers[delivery] = (await post(session, base, delivery))[0]
        except aiohttp.ClientError as exc:
            answers[delivery] = type(exc).__name__

    burst = [asyncio.create_task(one(f"burst-{i}")) for i in range(400)]
    await wait_until(lambda: len(answers) >= 20, "the first answers")
    web.send_signal(signal.SIGTERM)
    await asyncio.gather(*burst)
    await wait_until(lambda: web.poll() is not None, "the web process to exit", limit_s=20)
    assert web.returncode == 0, processes.log("web")

    statuses = {answer for answer in answers.values() if isinstance(answer, int)}
    assert statuses <= {202, 503}, answers  # never a 500
    # Whatever the web process accepted, the sender was told: nothing is queued behind its back.
    for delivery, answer in answers.items():
        if await redis.exists(f"hookwise:delivery:{guid(delivery)}"):
            assert answer == 202, (delivery, answer)


async def test_sigterm_with_a_body_mid_upload_answers_it_before_exiting(
    processes: Processes, redis: Redis, session: aiohttp.ClientSession
) -> None:
    """The contract: on SIGTERM the web stops accepting and answers every request in flight."""
    base = start_web(processes, "web")
    await wait_until(lambda: healthy(session, f"{base}/healthz"), "web up")
    web = processes.running["web"]
    port = int(base.rsplit(":", 1)[1])
    headers = delivery_headers("pull_request", MERGED, "mid-upload")
    head = f"POST {HOOK} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(MERGED)}\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    half = len(MERGED) // 2
    writer.write(head.encode() + MERGED[:half])
    await writer.drain()

    async def uploading() -> bool:  # the handler has started: the headers are in, the body is not
        async with session.get(f"{base}/metrics", headers={"Connection": "close"}) as response:
            return "hookwise_requests_in_flight 2.0" in await response.text()  # the upload and this request

    await wait_until(uploading, "the upload to be in flight")
    web.send_signal(signal.SIGTERM)
    await wait_until(lambda: "stopping: no new connections" in processes.log("web"), "the web to start stopping")
    assert "answering 1 request(s) in flight" in processes.log("web")
    try:
        refused = False
        (await asyncio.open_connection("127.0.0.1", port))[1].close()
    except OSError:
        refused = True
    assert refused, "a new connection was accepted after SIGTERM"

    writer.write(MERGED[half:])  # the second half arrives after SIGTERM
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), 10)
    writer.close()
    assert status_line.split()[1] in (b"202", b"503"), status_line
    await wait_until(lambda: web.poll() is not None, "the web process to exit", limit_s=20)
    assert web.returncode == 0, processes.log("web")
    if status_line.split()[1] == b"202":
        assert await redis.exists(f"hookwise:delivery:{guid('mid-upload')}")


# -- micro-batched triage across processes ---------------------------------------------------------


async def post_issue(session: aiohttp.ClientSession, base: str, number: int) -> int:
    body = issue_delivery(number)
    headers = delivery_headers("issues", body, f"issue-{number}")
    async with session.post(f"{base}{HOOK}", data=body, headers=headers) as response:
        return response.status


def meant(number: int) -> list[str]:
    return ["bug"] if number % 2 else ["enhancement"]


def open_issues(github: GitHubSandbox, numbers: range) -> None:
    seed_issue(github)
    add_issues(github, {n: f"Issue {n} reports a {'bug' if n % 2 else 'wish for an enhancement'}." for n in numbers})


async def test_two_workers_share_a_burst_of_new_issues_and_each_is_labelled_exactly_once(
    processes: Processes, github: GitHubSandbox, model: AnthropicSandbox, redis: Redis, session: aiohttp.ClientSession
) -> None:
    numbers = range(101, 131)  # 30 issues: a full batch of 20 at once, the other 10 after the wait
    open_issues(github, numbers)
    processes.env["TRIAGE_BATCH_WAIT_S"] = "5"
    base = start_web(processes, "web")
    start_worker(processes, "worker-a")
    start_worker(processes, "worker-b")
    await wait_until(lambda: healthy(session, f"{base}/healthz"), "web up")
    statuses = await asyncio.gather(*(post_issue(session, base, n) for n in numbers))
    assert set(statuses) == {202}

    await wait_until(lambda: all(github.issue_labels(ISSUE_REPO, n) for n in numbers), "every issue labelled", 60)
    for number in numbers:
        assert bot_label_events(github, number) == meant(number), number  # its own labels, added once
    batched = [[n for n, _ in batch_issues(user_text(r))] for r in model.requests]
    assert sorted(len(b) for b in batched) == [10, 20]  # two calls, each issue in exactly one of them
    assert sorted(n for b in batched for n in b) == list(numbers)


async def test_a_worker_killed_mid_batch_leaves_every_issue_labelled_exactly_once(
    processes: Processes, github: GitHubSandbox, model: AnthropicSandbox, redis: Redis, session: aiohttp.ClientSession
) -> None:
    numbers = range(201, 206)
    open_issues(github, numbers)
    processes.env.update(TRIAGE_BATCH_MAX="5", TRIAGE_BATCH_WAIT_S="10")  # one round, due once all 5 wait
    # The round labels two issues, then is killed while adding a third's (GitHub never acts on it).
    held = github.pause_next("POST", r"/issues/\d+/labels$", after=2)
    base = start_web(processes, "web")
    doomed = start_worker(processes, "worker-doomed", short=True)
    await wait_until(lambda: healthy(session, f"{base}/healthz"), "web up")
    statuses = await asyncio.gather(*(post_issue(session, base, n) for n in numbers))
    assert set(statuses) == {202}

    await asyncio.wait_for(held.arrived.wait(), 30)  # mid-batch: two issues written, three not
    assert len([n for n in numbers if github.issue_labels(ISSUE_REPO, n)]) == 2
    doomed.send_signal(signal.SIGKILL)
    await wait_until(lambda: doomed.poll() is not None, "the worker to die")
    held.release.set()

    start_worker(processes, "worker-rescuer-a", short=True)
    start_worker(processes, "worker-rescuer-b", short=True)
    names = [f"issue-{n}" for n in numbers]
    await wait_until(lambda: _all_done(redis, names), "every delivery done after the crash", 90)
    for number in numbers:
        assert bot_label_events(github, number) == meant(number), number  # once each, never another's
    assert len([r for r in model.requests if r["tools"][0]["name"] == "label_issues"]) == 1  # its answer reused
    for number in numbers:
        record = json.loads(await redis.get(f"hookwise:record:{guid(f'issue-{number}')}"))
        assert record["outcome"] == "done" and "answered in a batch of 5" in record["detail"], record

"""The rough edges of a newcomer's first hour, each with what now happens instead (issue 20, point 6):
output cut short by `| head`, a bad `accuracy` argument, `PORT=0`, a worker without the model's
key, and the worker's own count of how its deliveries ended."""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import signal
import sys
from pathlib import Path

import aiohttp
import pytest
from redis.asyncio import Redis

from bot.adapters.store.ledger import Accepted, Ledger
from bot.adapters.store.records import JobRecord, Records
from bot.sandbox.github import GitHubSandbox
from bot.worker.tally import Tally
from tests.helpers import ROOT, Processes, guid, healthy, run_cli, seed_merged_pr, summary_job, wait_until


@pytest.mark.e2e  # a `python -m bot history | head` pipeline
async def test_history_cut_short_by_head_ends_quietly(redis: Redis, redis_url: str, tmp_path: Path) -> None:
    records = Records(redis)
    for n in range(1500):  # far more than a pipe holds (64 KiB): the writer meets the closed pipe
        record = JobRecord(guid(f"history-{n}"), "issues", "opened", "octo-org/octo-repo", n, 461842)
        record.outcome, record.detail = "done", "labels added: documentation"
        await records.save(record)
    # The very pipeline of the report, in a shell: `head -1` reads one line and exits.
    script = f"{shlex.quote(sys.executable)} -m bot history -n 1500 2>errors.txt | head -1; echo ${{PIPESTATUS[0]}}"
    process = await asyncio.create_subprocess_exec(
        "bash", "-c", script,
        env={"REDIS_URL": redis_url, "PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT)},
        cwd=tmp_path, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(process.communicate(), 60)
    first, status = output.decode().splitlines()
    assert "done" in first and "octo-org/octo-repo#" in first
    assert (tmp_path / "errors.txt").read_text() == ""  # no "Broken pipe", no traceback, no "Exception ignored"
    assert status == "141"  # ended by SIGPIPE, as `seq 100000 | head -1` ends; not 1


@pytest.mark.e2e  # `python -m bot` processes
async def test_accuracy_arguments_are_refused_in_one_line(redis_url: str, tmp_path: Path) -> None:
    env = {"REDIS_URL": redis_url}
    code, output = await run_cli(env, tmp_path, "accuracy", "--since", "banana")
    assert (code, output.strip()) == (
        2, "hookwise: accuracy --since: expected a duration such as 45s, 90m, 2h or 3d, got 'banana'"
    )  # fmt: skip
    code, output = await run_cli(env, tmp_path, "accuracy", "notarepo")
    assert (code, output.strip()) == (2, "hookwise: accuracy: 'notarepo' is not OWNER/REPO (e.g. octo-org/octo-repo)")
    code, output = await run_cli(env, tmp_path, "costs", "--since", "banana")  # the line it is made like
    assert (code, output.strip()) == (
        2, "hookwise: costs --since: expected a duration such as 45s, 90m, 2h or 3d, got 'banana'"
    )  # fmt: skip
    code, output = await run_cli(env, tmp_path, "accuracy", "octo-org/octo-repo", "--since", "7d")
    assert code == 0, output


async def test_port_0_logs_the_port_the_system_chose(processes: Processes) -> None:
    web = processes.start("web", "web", PORT="0")
    listening = re.compile(r"listening on 127\.0\.0\.1:(\d+)")
    await wait_until(lambda: listening.search(processes.log("web")) is not None or web.poll() is not None, "the line")
    found = listening.search(processes.log("web"))
    assert found is not None, processes.log("web")
    port = int(found.group(1))
    assert port != 0
    async with aiohttp.ClientSession() as session:
        assert await healthy(session, f"http://127.0.0.1:{port}/healthz")


async def test_worker_refuses_to_start_without_the_models_key(processes: Processes) -> None:
    processes.env.pop("ANTHROPIC_API_KEY")
    worker = processes.start("worker", "worker")
    await wait_until(lambda: worker.poll() is not None, "the worker to exit", limit_s=30)
    assert worker.returncode == 2
    assert processes.log("worker").strip().splitlines() == [
        "hookwise: configuration error: ANTHROPIC_API_KEY: required for the worker (the key of the Claude API)"
    ]


async def test_the_workers_shutdown_line_counts_a_failed_delivery_as_failed(
    processes: Processes, github: GitHubSandbox, redis: Redis
) -> None:
    seed_merged_pr(github)
    ledger = Ledger(redis)
    assert isinstance(await ledger.accept(summary_job("tally-done")), Accepted)
    assert isinstance(await ledger.accept(summary_job("tally-gone", number=99)), Accepted)  # GitHub: 404
    worker = processes.start("worker", "worker")

    async def both_ended() -> bool:
        ended = [await Records(redis).get(guid(name)) for name in ("tally-done", "tally-gone")]
        return all(record is not None and record.outcome in ("done", "failed") for record in ended)

    await wait_until(both_ended, "both deliveries to end", limit_s=60)
    worker.send_signal(signal.SIGTERM)
    await wait_until(lambda: worker.poll() is not None, "the worker to stop", limit_s=30)
    log = processes.log("worker")
    assert "2 jobs complete ◆ 0 failed" in log  # arq's own count: the failed delivery's job returned
    assert (
        "worker stopped: 2 deliveries ended here (1 done, 0 skipped, 1 failed); arq counts the failed ones as "
        "complete jobs (`python -m bot history --dead` lists them)"
    ) in log


def test_tally_line() -> None:
    tally = Tally()
    assert tally.line() == "worker stopped: 0 deliveries ended here (0 done, 0 skipped, 0 failed)"
    for outcome in ("done", "done", "skipped", "retrying", "waiting"):
        tally.count(outcome)
    assert tally.line() == (
        "worker stopped: 3 deliveries ended here (2 done, 1 skipped, 0 failed); "
        "1 try failed for a transient reason, to be retried"
    )

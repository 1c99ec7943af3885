"""The operator commands, run as a maintainer would: `python -m bot history | replay | redeliver`."""

from __future__ import annotations

from pathlib import Path

import pytest
from redis.asyncio import Redis

from bot.adapters.store.ledger import Ledger
from bot.adapters.store.records import JobRecord, Records
from bot.sandbox.github import GitHubSandbox
from tests.helpers import any_job, run_cli

pytestmark = pytest.mark.e2e  # `python -m bot` processes


async def test_history_prints_records_and_dead_letters(
    settings_env: dict[str, str], redis: Redis, tmp_path: Path
) -> None:
    records = Records(redis)
    done = JobRecord("d-ok", "pull_request", "closed", "o/r", 2, 1, outcome="done", detail="summary posted")
    done.comment_id, done.model, done.input_tokens, done.output_tokens = 77, "claude-x", 1200, 90
    failed = JobRecord("d-bad", "issues", "opened", "o/r", 5, 1, outcome="failed", error="GitHub 404: Not Found")
    await records.save(done)
    await records.save(failed)

    code, output = await run_cli(settings_env, tmp_path, "history")
    assert code == 0
    lines = output.strip().splitlines()
    assert len(lines) == 2
    assert "failed" in lines[0] and "issues.opened o/r#5 delivery=d-bad" in lines[0] and "GitHub 404" in lines[0]
    assert "done" in lines[1] and "comment 77" in lines[1] and "model=claude-x tokens=1200/90" in lines[1]

    code, output = await run_cli(settings_env, tmp_path, "history", "--dead")
    assert code == 0 and "d-bad" in output and "d-ok" not in output


async def test_replay_queues_a_remembered_delivery(settings_env: dict[str, str], redis: Redis, tmp_path: Path) -> None:
    await Ledger(redis).accept(any_job("d-r"))
    code, output = await run_cli(settings_env, tmp_path, "replay", "d-r")
    assert code == 0 and "job d-r:2" in output
    code, output = await run_cli(settings_env, tmp_path, "replay", "unknown")
    assert code == 1 and "no delivery unknown" in output


async def test_redeliver_asks_github_for_the_lost_deliveries(
    settings_env: dict[str, str], github: GitHubSandbox, redis: Redis, tmp_path: Path
) -> None:
    lost = github.add_delivery(guid="lost-1", event="issues", action="opened", status_code=503)
    github.add_delivery(guid="fine-1", event="issues", action="opened", status_code=202)
    code, output = await run_cli(settings_env, tmp_path, "redeliver", "--since", "2h")
    assert code == 0, output
    assert github.redelivery_requests == [lost]
    assert "lost-1" in output


async def test_operator_commands_say_in_one_line_when_redis_does_not_answer(
    settings_env: dict[str, str], tmp_path: Path
) -> None:
    from bot.sandbox import redis_server

    nowhere = {**settings_env, "REDIS_URL": f"redis://127.0.0.1:{redis_server.free_port()}"}
    for command in (["history"], ["accuracy"], ["replay", "72d3162e-cc78-11e3-81ab-4c9367dc0958"], ["costs"]):
        code, output = await run_cli(nowhere, tmp_path, *command)
        lines = [line for line in output.strip().splitlines() if "level=" not in line]
        assert code != 0 and len(lines) == 1 and "REDIS_URL" in lines[0], (command, output)
        assert "Traceback" not in output, (command, output)

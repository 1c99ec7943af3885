"""`python -m bot healthcheck`, the container image's HEALTHCHECK, against real processes: the web's
`/healthz`, and the worker's own heartbeat in Redis, which is there while its loop turns and gone
once it stops. (tests/test_container.py runs the command itself inside the image.)"""

from __future__ import annotations

import asyncio
import signal
import socket
from pathlib import Path
from typing import Any

import pytest

from bot.config import load_settings
from bot.healthcheck import Process, check, check_web, check_worker, find_processes, role_of, web_url
from bot.sandbox import redis_server
from tests.helpers import Processes, wait_until


@pytest.fixture(autouse=True)
def _no_stray_env_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # load_settings() reads a .env in the working directory


@pytest.mark.parametrize(
    ("argv", "role"),
    [
        (["python", "-m", "bot", "web"], "web"),
        (["/opt/hookwise/bin/python", "-u", "-m", "bot", "worker", ""], "worker"),
        (["python", "-m", "bot", "healthcheck"], None),
        (["python", "-m", "bot"], None),
        (["python", "-m", "tests.worker_process"], None),
        (["python", "bot", "web"], None),
        ([], None),
    ],
)
def test_the_role_is_read_from_the_command_line(argv: list[str], role: str | None) -> None:
    assert role_of(argv) == role


def test_the_web_is_asked_where_it_listens() -> None:
    assert web_url(load_settings(PORT=3000)) == "http://127.0.0.1:3000/healthz"  # HOST 0.0.0.0: any address
    assert web_url(load_settings(HOST="::", PORT=8080)) == "http://127.0.0.1:8080/healthz"
    assert web_url(load_settings(HOST="10.1.2.3", PORT=80)) == "http://10.1.2.3:80/healthz"
    assert web_url(load_settings(HOST="::1", PORT=80)) == "http://[::1]:80/healthz"


def test_nothing_running_is_unhealthy_and_says_so() -> None:
    [verdict] = check(load_settings(), [], socket.gethostname())
    assert not verdict.healthy and "no hookwise web or worker process runs here" in verdict.line


def test_port_0_cannot_be_checked_and_says_why() -> None:
    verdict = check_web(load_settings(PORT=0), Process("web", 1))
    assert not verdict.healthy and "PORT=0" in verdict.line


async def test_the_web_is_healthy_while_it_answers_healthz(processes: Processes, settings_env: dict[str, str]) -> None:
    settings = load_settings(**{**settings_env, "HOST": "127.0.0.1", "PORT": processes.env["PORT"]})
    web = processes.start("web", "web")
    process = Process("web", web.pid)

    async def healthy() -> bool:
        return (await asyncio.to_thread(check_web, settings, process)).healthy

    await wait_until(healthy, "the web's /healthz", limit_s=30)
    assert process in find_processes()
    verdict = await asyncio.to_thread(check_web, settings, process)
    assert verdict.line == f"web (pid {web.pid}): GET http://127.0.0.1:{settings.PORT}/healthz answered 200"

    web.send_signal(signal.SIGTERM)
    await asyncio.to_thread(web.wait, 30)
    verdict = await asyncio.to_thread(check_web, settings, process)
    assert not verdict.healthy and "did not answer" in verdict.line


async def test_the_worker_is_healthy_while_its_loop_writes_its_heartbeat(
    processes: Processes, settings_env: dict[str, str]
) -> None:
    settings = load_settings(**settings_env)
    host = socket.gethostname()
    worker = processes.start("worker", "worker")
    process = Process("worker", worker.pid)

    async def verdict() -> Any:
        return await asyncio.to_thread(check_worker, settings, process, host)

    async def healthy() -> bool:
        return bool((await verdict()).healthy)

    await wait_until(healthy, "the worker's heartbeat", limit_s=30)
    assert process in find_processes()
    line = (await verdict()).line
    assert line.startswith(f"worker (pid {worker.pid}): alive, ") and "j_complete=0" in line, line
    # Another worker's heartbeat is not this one's.
    other = await asyncio.to_thread(check_worker, settings, Process("worker", worker.pid + 100_000), host)
    assert not other.healthy and "no heartbeat" in other.line

    worker.send_signal(signal.SIGTERM)  # a clean stop takes its heartbeat with it
    await asyncio.to_thread(worker.wait, 40)
    stopped = await verdict()
    assert not stopped.healthy and "no heartbeat in Redis" in stopped.line, stopped.line


def test_a_worker_whose_redis_does_not_answer_is_unhealthy() -> None:
    settings = load_settings(REDIS_URL=f"redis://127.0.0.1:{redis_server.free_port()}")
    verdict = check_worker(settings, Process("worker", 1), socket.gethostname())
    assert not verdict.healthy and "Redis at REDIS_URL did not answer" in verdict.line

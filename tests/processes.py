"""Running `python -m bot web` / `worker` as real processes in tests, and stopping them."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from bot.sandbox import redis_server

ROOT = Path(__file__).resolve().parent.parent


class Processes:
    """Child processes sharing one environment; each logs to `<name>.log` in `cwd`."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.env, self.cwd = env, cwd
        self.running: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, command: str, *, module: str = "bot", **env: str) -> subprocess.Popen[bytes]:
        """Start `python -m <module> [command]`; `env` adds to the shared environment."""
        args = [sys.executable, "-m", module, *([command] if command else [])]
        with (self.cwd / f"{name}.log").open("wb") as log:
            process = subprocess.Popen(
                args, env={**self.env, **env}, cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT
            )
        self.running[name] = process
        return process

    def log(self, name: str) -> str:
        return (self.cwd / f"{name}.log").read_text(errors="replace")

    def stop_all(self) -> None:
        for process in self.running.values():
            if process.poll() is None:
                process.kill()
                process.wait()


async def healthy(session: aiohttp.ClientSession, url: str) -> bool:
    try:
        async with session.get(url) as response:
            return response.status == 200
    except aiohttp.ClientError:
        return False


@pytest.fixture
def processes(settings_env: dict[str, str], tmp_path: Path) -> Iterator[Processes]:
    env = {
        **settings_env,
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT),
        "HOST": "127.0.0.1",
        "PORT": str(redis_server.free_port()),
        "LOG_LEVEL": "info",
    }
    running = Processes(env, tmp_path)
    yield running
    running.stop_all()

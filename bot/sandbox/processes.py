"""Child processes for the tests, the demo and the benches: start `python -m bot web` (or any
command) with its output in a log file, wait until it is ready (a URL answering 200, or a line in
its log), and stop it (SIGTERM, then SIGKILL after a grace period).

The one place this is written: tests/helpers.py (`Processes`), bot/sandbox/demo.py, bench/burst.py
and bench/wrk.py use it. The product never imports it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import aiohttp

STOP_GRACE_S = 25.0  # the contract's 20 s for the web to stop, and a little more
READY_LIMIT_S = 30.0
POLL_S = 0.05


def python_module(module: str, *args: str) -> list[str]:
    """`python -m MODULE ARGS...` with this interpreter."""
    return [sys.executable, "-m", module, *args]


def bot_command(*args: str) -> list[str]:
    """`python -m bot ARGS...` with this interpreter: `bot_command("web")`, `bot_command("worker")`."""
    return python_module("bot", *args)


class Child(subprocess.Popen[bytes]):
    """A child process whose stdout and stderr go to `log_path`; stdin is /dev/null."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_path: Path,
        cwd: Path,
        env: Mapping[str, str] | None = None,
        append: bool = False,
        **popen: Any,
    ) -> None:
        self.name = name
        self.log_path = log_path
        popen.setdefault("stdin", subprocess.DEVNULL)
        with log_path.open("ab" if append else "wb") as log:
            super().__init__(
                list(argv),
                cwd=cwd,
                env=dict(env) if env is not None else None,
                stdout=log,
                stderr=subprocess.STDOUT,
                **popen,
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 15) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """SIGTERM, then SIGKILL if it is still there after `grace_s` (at once when `grace_s` is 0)."""
        if self.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            if grace_s <= 0:
                self.kill()
            else:
                self.send_signal(signal.SIGTERM)
        try:
            self.wait(timeout=grace_s if grace_s > 0 else None)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                self.kill()
            self.wait()


class Children:
    """Child processes started in `cwd` (where each logs to `<name>.log` unless told otherwise),
    with `env` as the environment of each (plus what `start` adds; by default this process's own).
    `stop_all` ends them, newest first, whatever happened."""

    def __init__(self, cwd: Path, env: Mapping[str, str] | None = None) -> None:
        self.cwd = cwd
        self.env: dict[str, str] = dict(os.environ if env is None else env)
        self.running: dict[str, Child] = {}
        self._started: list[Child] = []

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        log: Path | None = None,
        append: bool = False,
        **popen: Any,
    ) -> Child:
        """Start `argv` (e.g. `bot_command("web")`); `env` adds to the shared environment, `log`
        (appended to with `append`) replaces `<cwd>/<name>.log`, `popen` goes to subprocess.Popen."""
        environment = {**self.env, **(env or {})}
        child = Child(
            name, argv, log_path=log or self.cwd / f"{name}.log", cwd=self.cwd, env=environment, append=append, **popen
        )
        self.running[name] = child
        self._started.append(child)
        return child

    def log(self, name: str) -> str:
        return self.running[name].log()

    def stop_all(self, grace_s: float = STOP_GRACE_S) -> None:
        while self._started:
            self._started.pop().stop(grace_s)


class NotReady(RuntimeError):
    """A child exited, or did not answer, before it was ready; says which, with its last log lines."""


async def answers(session: aiohttp.ClientSession, url: str) -> bool:
    """Whether `GET url` answers 200 now."""
    try:
        async with session.get(url) as response:
            return response.status == 200
    except aiohttp.ClientError:
        return False


async def wait_http(url: str, child: Child | None = None, *, limit_s: float = READY_LIMIT_S) -> None:
    """Until `GET url` answers 200 (a web process's /healthz or /readyz); NotReady when `child`
    exits first or `limit_s` passes."""
    deadline = time.monotonic() + limit_s
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        while not await answers(session, url):
            _check(child, deadline, f"{url} did not answer 200 within {limit_s:.0f} s")
            await asyncio.sleep(POLL_S)


async def wait_log(child: Child, text: str, *, count: int = 1, limit_s: float = READY_LIMIT_S) -> None:
    """Until `text` is in `child`'s log `count` times (e.g. "worker ready" of each worker sharing a
    log): another process's log is all there is to wait on. NotReady when `child` exits first or
    `limit_s` passes."""
    deadline = time.monotonic() + limit_s
    while child.log().count(text) < count:
        _check(child, deadline, f"{text!r} was not logged {count} time(s) within {limit_s:.0f} s")
        await asyncio.sleep(POLL_S)


def _check(child: Child | None, deadline: float, late: str) -> None:
    if child is not None and child.poll() is not None:
        raise NotReady(f"{child.name} exited with status {child.returncode}:\n{child.log_tail()}")
    if time.monotonic() > deadline:
        raise NotReady(late + (f"\n{child.name}'s last lines:\n{child.log_tail()}" if child is not None else ""))

"""`python -m bot healthcheck`: is the hookwise process running here healthy? Exit 0 if so, 1 if
not, one line per process saying why.

It is the container image's HEALTHCHECK. One image runs either process, so the check looks for
which one runs beside it (a `python -m bot web|worker` with the same root filesystem, in /proc)
and asks it the way that process can answer:

- the web: `GET /healthz` on 127.0.0.1:`PORT` (or `HOST` when it names one address) answers 200;
- the worker: its heartbeat is in Redis. Its arq polling loop writes its own key every
  `keys.WORKER_HEALTH_EVERY_S` (bot/worker/settings.py), so the key is missing when the worker's
  loop has stopped turning, or while it cannot reach Redis (it is then waiting to reconnect and runs
  no job): both are "unhealthy", and both are true.

Settings come from the environment and `.env`, as the process being checked read them.
"""

from __future__ import annotations

import os
import socket
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import redis

from bot.adapters.store import keys
from bot.adapters.store.errors import REDIS_DOWN
from bot.config import Settings

ROLES = ("web", "worker")
TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Process:
    role: str
    pid: int


@dataclass(frozen=True)
class Verdict:
    healthy: bool
    line: str


def role_of(argv: Sequence[str]) -> str | None:
    """The role ("web" or "worker") of a command line that runs `... -m bot web|worker ...`, else None."""
    for index in range(len(argv) - 2):
        if argv[index] == "-m" and argv[index + 1] == "bot" and argv[index + 2] in ROLES:
            return argv[index + 2]
    return None


def find_processes(proc: Path = Path("/proc")) -> list[Process]:
    """The hookwise web and worker processes whose root filesystem is this one's: in a container,
    the container's (a chroot's processes are told apart from the host's by their root too)."""
    here = os.stat("/")
    found = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
            root = os.stat(entry / "root")
        except OSError:  # gone meanwhile, or not ours to look at
            continue
        role = role_of(argv)
        if role and (root.st_dev, root.st_ino) == (here.st_dev, here.st_ino):
            found.append(Process(role, int(entry.name)))
    return sorted(found, key=lambda process: process.pid)


def web_url(settings: Settings) -> str:
    host = settings.HOST if settings.HOST not in ("", "0.0.0.0", "::") else "127.0.0.1"
    return f"http://{f'[{host}]' if ':' in host else host}:{settings.PORT}/healthz"


def check_web(settings: Settings, process: Process) -> Verdict:
    if settings.PORT == 0:
        return Verdict(False, f"web (pid {process.pid}): PORT=0 picks a free port, which a check cannot know")
    url = web_url(settings)
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (OSError, ValueError) as exc:
        return Verdict(False, f"web (pid {process.pid}): GET {url} did not answer: {exc}")
    return Verdict(status == 200, f"web (pid {process.pid}): GET {url} answered {status}")


def check_worker(settings: Settings, process: Process, host: str) -> Verdict:
    key = keys.worker_health(host, process.pid)
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S)
    try:
        line: object = client.get(key)  # redis-py's sync client types its answers as "maybe awaitable"
    except REDIS_DOWN as exc:
        return Verdict(False, f"worker (pid {process.pid}): Redis at REDIS_URL did not answer: {exc}")
    finally:
        client.close()
    if not isinstance(line, bytes):
        return Verdict(
            False,
            f"worker (pid {process.pid}): no heartbeat in Redis for over {keys.WORKER_HEALTH_EVERY_S + 1} s "
            f"(it is starting, waiting for Redis, or stuck)",
        )
    return Verdict(True, f"worker (pid {process.pid}): alive, {line.decode(errors='replace')}")


def check(settings: Settings, processes: Sequence[Process], host: str) -> list[Verdict]:
    if not processes:
        return [Verdict(False, "no hookwise web or worker process runs here (python -m bot web|worker)")]
    return [
        check_web(settings, process) if process.role == "web" else check_worker(settings, process, host)
        for process in processes
    ]


def run_healthcheck(settings: Settings) -> int:
    verdicts = check(settings, find_processes(), socket.gethostname())
    for verdict in verdicts:
        print(verdict.line)
    return 0 if all(verdict.healthy for verdict in verdicts) else 1

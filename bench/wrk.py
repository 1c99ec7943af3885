"""Ingress bench with wrk: `python -m bot web` against a bare aiohttp server, each on a core of its own.

    python -m bench.wrk [--connections 64] [--duration 10s] [--warmup 3s] [--rounds 1]
                        [--event issues|pull_request] [--env KEY=VALUE ...] [--bare-loop uvloop|asyncio]
                        [--no-lua-count] [--redis-db 15] [--profile FILE] [--json FILE] [--keep-logs DIR]

The web process is started as an operator starts it (`python -m bot web`, configured by its
environment: WEBHOOK_SECRET, REDIS_URL, HOST, PORT, LOG_LEVEL=info, plus every `--env`), and so is
a bare aiohttp handler (`bench/bare_server.py`: read the body, answer 202 with a small JSON, on
uvloop by default). Both servers are pinned to core 0; wrk (at most 2 threads) is pinned to core 1,
and so is the throwaway redis-server when the bench starts one. Each server gets a warm-up run,
then a measured run of fixed duration; every request is a signed GitHub delivery with a unique,
UUID-shaped X-GitHub-Delivery (see bench/wrk_request.lua).

Afterwards every accepted delivery must be durably queued: hookwise's own count of 202s
(`hookwise_deliveries_total{outcome="queued"}` from /metrics) must equal the jobs queued (`ZCARD
arq:queue` plus the ids parked for fair share in `hookwise:fair:*`), the `arq:job:*` keys and the
`hookwise:delivery:*` records (no worker runs, so the jobs stay queued).

Exit status: 0 when every check holds, 1 when one fails (a job missing, an answer that was not
202), 2 when the bench could not be set up, 130 when interrupted. The goal figures (ratio >= 0.35,
hookwise p99 <= 12 ms at 64 connections) are reported, not enforced. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import hashlib
import hmac
import importlib
import importlib.metadata
import importlib.util
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlparse, urlunparse

from bot.sandbox.processes import Child, Children, NotReady, bot_command, python_module, wait_http

ROOT = Path(__file__).resolve().parent.parent
LUA_SCRIPT = Path(__file__).resolve().parent / "wrk_request.lua"
FIXTURES = ROOT / "tests" / "fixtures" / "github-webhooks"
SECRET = "hookwise-bench-secret"
INSTALLATION_ID = 461842
DEFAULT_WEBHOOK_PATH = "/api/github/webhooks"
SERVER_CORE = 0
LOAD_CORE = 1
STOP_S = 15.0  # how long a child of the bench has to stop on SIGTERM before SIGKILL
MAX_WRK_THREADS = 2  # wrk has one core: more threads than that only add switching
WRK_TIMEOUT = "10s"  # GitHub's own: an answer later than that is a failed delivery
GOAL_RATIO = 0.35
GOAL_P99_MS = 12.0
GOAL_CONNECTIONS = 64
SATURATED = 0.90
# Redis layout of the web process (arq's queue and job keys, hookwise's delivery records). Written
# out here rather than imported, so the bench does not depend on where bot/ keeps them.
QUEUE_KEY = "arq:queue"
JOB_PATTERN = "arq:job:*"
DELIVERY_PATTERN = "hookwise:delivery:*"
FAIR_PATTERN = "hookwise:fair:*"  # jobs parked for fair share (bot/adapters/store/fairness.py)
# Variables of hookwise's settings: not inherited from the shell running the bench (`--env` sets them).
HOOKWISE_VARIABLES = frozenset(
    {
        "APP_ID",
        "PRIVATE_KEY",
        "PRIVATE_KEY_PATH",
        "WEBHOOK_SECRET",
        "WEBHOOK_PATH",
        "HOST",
        "PORT",
        "REDIS_URL",
        "GITHUB_API_URL",
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_BASE_URL",
        "ANTHROPIC_MODEL",
        "LOG_LEVEL",
        "DRY_RUN",
    }
)
_METRIC_LINE = re.compile(r"^hookwise_deliveries_total\{(?P<labels>[^}]*)\}\s+(?P<value>[0-9.eE+-]+)\s*$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


class SetupError(Exception):
    """The bench cannot run (exit 2); the message is the one line the user sees."""


class Interrupted(Exception):
    """SIGTERM or SIGHUP: stop what the bench started, like Ctrl-C."""


# -- the delivery -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    event: str
    description: str
    body: bytes

    @property
    def signature(self) -> str:
        return "sha256=" + hmac.new(SECRET.encode(), self.body, hashlib.sha256).hexdigest()


def build_delivery(event: str) -> Delivery:
    if event == "issues":
        path = FIXTURES / "issues" / "opened.json"
        try:
            payload = json.loads(path.read_bytes())
        except (OSError, ValueError) as exc:
            raise SetupError(f"cannot read the fixture {path}: {exc}") from exc
        payload["installation"] = {"id": INSTALLATION_ID}
        body = json.dumps(payload, separators=(",", ":")).encode()  # serialised once, sent as is
        return Delivery("issues", "issues opened", body)
    path = FIXTURES / "pull_request" / "closed.merged.app.json"
    try:
        body = path.read_bytes()  # the file's bytes, as GitHub signed them
    except OSError as exc:
        raise SetupError(f"cannot read the fixture {path}: {exc}") from exc
    return Delivery("pull_request", "pull_request closed (merged)", body)


# -- processes ----------------------------------------------------------------------------------

_PR_SET_PDEATHSIG = 1
try:
    _LIBC: ctypes.CDLL | None = ctypes.CDLL(None, use_errno=True)
except OSError:
    _LIBC = None


def _in_child(core: int) -> Callable[[], None]:
    """Runs in the child between fork and exec: pin it (its threads inherit), and have the kernel
    send it SIGTERM should the bench die without cleaning up (SIGKILL, a crash)."""

    def setup() -> None:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, {core})
        if _LIBC is not None:
            _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)

    return setup


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all its threads (from /proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat", "rb") as stat:
        fields = stat.read().rsplit(b")", 1)[1].split()
    # After the command's closing parenthesis, field 3 (state) is index 0: utime is 14, stime 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def core_times() -> dict[int, tuple[float, float]]:
    """Per core: (busy, steal) seconds since boot, from /proc/stat (busy excludes idle, iowait, steal)."""
    tick = os.sysconf("SC_CLK_TCK")
    cores: dict[int, tuple[float, float]] = {}
    with open("/proc/stat") as stat:
        for line in stat:
            name, *values = line.split()
            if not name.startswith("cpu") or name == "cpu":
                continue
            # user nice system idle iowait irq softirq steal [guest guest_nice: already in user]
            ticks = [int(value) for value in values[:8]]
            busy = ticks[0] + ticks[1] + ticks[2] + ticks[5] + ticks[6]
            cores[int(name[3:])] = (busy / tick, ticks[7] / tick)
    return cores


def pinned(core: int) -> dict[str, Any]:
    """Popen options for a child of the bench: pinned to `core`, in a session of its own (Ctrl-C
    reaches the bench only; it stops the children itself)."""
    return {"preexec_fn": _in_child(core), "start_new_session": True}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return int(resp.status), bytes(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _wait_ready(child: Child, url: str) -> None:
    try:
        asyncio.run(wait_http(url, child))
    except NotReady as exc:
        raise SetupError(str(exc)) from exc


def _python_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in HOOKWISE_VARIABLES}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env.update(extra or {})
    return env


# -- wrk ----------------------------------------------------------------------------------------


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        raise SetupError("wrk is not installed: install it with `sudo apt-get install -y wrk` and run again")
    print("bench: wrk is not installed; installing it with apt-get install -y wrk", file=sys.stderr)
    install = ["apt-get", "install", "-y", "-q", "wrk"]
    quiet: dict[str, Any] = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run(install, env=env, check=False, **quiet).returncode != 0:
        # A machine whose package lists were never fetched finds nothing: fetch them once, retry.
        subprocess.run(["apt-get", "update", "-q"], env=env, check=False, **quiet)
        subprocess.run(install, env=env, check=False, **quiet)
    found = shutil.which("wrk")
    if not found:
        raise SetupError("wrk is not installed and `apt-get install -y wrk` did not install it")
    return found


@dataclass
class Run:
    """One wrk run against one server, with the CPU each process used in its steady middle part."""

    name: str
    requests: int
    duration_s: float
    errors: dict[str, int]
    latency_us: dict[str, float]
    accepted_lua: int | None  # 202s wrk's response() counted; None when --no-lua-count
    other_lua: int | None
    first_other: str
    server_cpu: float  # share of one core, 0..1
    wrk_cpu: float
    redis_cpu: float | None
    server_core_busy: float  # the whole server core, whoever used it (0..1)
    load_core_busy: float
    steal: float  # time the hypervisor gave both cores to someone else, in core shares
    wrk_output: str

    @property
    def rate(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def socket_errors(self) -> int:
        return sum(count for kind, count in self.errors.items() if kind != "status")

    def ms(self, key: str) -> float:
        return self.latency_us[key] / 1000

    @property
    def cpu_us_per_request(self) -> float:
        return 1e6 * self.server_cpu / self.rate if self.rate else float("nan")


def merge(name: str, parts: list[Run]) -> Run:
    """One figure for the rounds of a server: rates from the totals, CPU shares averaged over time,
    latency percentiles averaged weighted by requests (wrk reports no histogram to merge exactly)."""
    if len(parts) == 1:
        return replace(parts[0], name=name)
    requests = sum(part.requests for part in parts)
    duration = sum(part.duration_s for part in parts)

    def by_requests(key: str) -> float:
        return sum(part.latency_us[key] * part.requests for part in parts) / max(requests, 1)

    def by_time(share: Callable[[Run], float | None]) -> float | None:
        values = [share(part) for part in parts]
        if any(value is None for value in values):
            return None
        return sum((value or 0.0) * part.duration_s for value, part in zip(values, parts, strict=True)) / duration

    latency = {key: by_requests(key) for key in parts[0].latency_us}
    latency["max"] = max(part.latency_us["max"] for part in parts)
    lua = [part.accepted_lua for part in parts]
    other = [part.other_lua for part in parts]
    return Run(
        name=name,
        requests=requests,
        duration_s=duration,
        errors={kind: sum(part.errors[kind] for part in parts) for kind in parts[0].errors},
        latency_us=latency,
        accepted_lua=None if None in lua else sum(n or 0 for n in lua),
        other_lua=None if None in other else sum(n or 0 for n in other),
        first_other=next((part.first_other for part in parts if part.first_other), ""),
        server_cpu=by_time(lambda run: run.server_cpu) or 0.0,
        wrk_cpu=by_time(lambda run: run.wrk_cpu) or 0.0,
        redis_cpu=by_time(lambda run: run.redis_cpu),
        server_core_busy=by_time(lambda run: run.server_core_busy) or 0.0,
        load_core_busy=by_time(lambda run: run.load_core_busy) or 0.0,
        steal=by_time(lambda run: run.steal) or 0.0,
        wrk_output="\n".join(part.wrk_output for part in parts),
    )


class RedisCPU(Protocol):
    def __call__(self) -> float | None: ...


def run_wrk(
    wrk: str,
    children: Children,
    name: str,
    server: Child,
    url: str,
    body_file: Path,
    delivery: Delivery,
    args: argparse.Namespace,
    seconds: int,
    nonce: str,
    phase: int,
    redis_cpu: RedisCPU,
    profile: Path | None = None,
) -> Run:
    argv = [wrk, "-t", str(args.threads), "-c", str(args.connections), "-d", f"{seconds}s"]
    argv += ["--latency", "--timeout", WRK_TIMEOUT, "-s", str(LUA_SCRIPT), url, "--"]
    argv += [str(body_file), delivery.event, delivery.signature, nonce, str(phase), "1" if args.lua_count else "0"]
    started = time.monotonic()
    load = children.start(f"wrk-{phase}-{name.replace(' ', '-')}", argv, **pinned(LOAD_CORE))
    # CPU is sampled inside the run, away from its edges (connecting, the last answers), so the
    # share is that of the steady state.
    margin = min(0.5, seconds / 10)
    time.sleep(margin)
    spy: Child | None = None
    if profile is not None:
        spy = _start_profiler(children, server, profile, seconds - 2 * margin)
    try:
        cores1 = core_times()
        t1, server1, wrk1, redis1 = time.monotonic(), cpu_seconds(server.pid), cpu_seconds(load.pid), redis_cpu()
        time.sleep(max(0.0, started + seconds - margin - time.monotonic()))
        t2, server2, wrk2, redis2 = time.monotonic(), cpu_seconds(server.pid), cpu_seconds(load.pid), redis_cpu()
        cores2 = core_times()
    except OSError as exc:  # a process is gone: say which, with what it said
        for child in (load, server):
            if child.poll() is not None:
                raise SetupError(f"{child.name} exited during the run:\n{child.log_tail()}") from exc
        raise
    try:
        load.wait(timeout=seconds + 30)
    except subprocess.TimeoutExpired as exc:
        raise SetupError(f"wrk did not finish a {seconds} s run within {seconds + 30} s") from exc
    if spy is not None:
        spy.wait(timeout=60)
    output = load.log_path.read_text(errors="replace")
    line = next((text for text in output.splitlines() if text.startswith("BENCH_RESULT ")), None)
    if load.returncode != 0 or line is None:
        raise SetupError(f"wrk failed (status {load.returncode}):\n{output[-2000:]}")
    result = json.loads(line.removeprefix("BENCH_RESULT "))
    threads = result["threads"]
    elapsed = t2 - t1
    return Run(
        name=name,
        requests=int(result["requests"]),
        duration_s=result["duration_us"] / 1e6,
        errors={kind: int(count) for kind, count in result["errors"].items()},
        latency_us={key: float(value) for key, value in result["latency_us"].items()},
        accepted_lua=sum(int(t["accepted"]) for t in threads) if args.lua_count else None,
        other_lua=sum(int(t["other"]) for t in threads) if args.lua_count else None,
        first_other=next((t["first_other"] for t in threads if t["first_other"]), ""),
        server_cpu=(server2 - server1) / elapsed,
        wrk_cpu=(wrk2 - wrk1) / elapsed,
        redis_cpu=(redis2 - redis1) / elapsed if redis1 is not None and redis2 is not None else None,
        server_core_busy=(cores2[SERVER_CORE][0] - cores1[SERVER_CORE][0]) / elapsed,
        load_core_busy=(cores2[LOAD_CORE][0] - cores1[LOAD_CORE][0]) / elapsed,
        steal=sum(cores2[core][1] - cores1[core][1] for core in (SERVER_CORE, LOAD_CORE)) / elapsed,
        wrk_output=output,
    )


def py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(found).exists():
        raise SetupError("--profile needs py-spy: pip install py-spy")
    return found


def _start_profiler(children: Children, server: Child, output: Path, seconds: float) -> Child:
    argv = [py_spy(), "record", "--pid", str(server.pid), "--duration", str(max(1, int(seconds))), "--rate", "250"]
    # Blocking (py-spy pauses the process per sample): consistent stacks, at some cost to throughput.
    argv += ["--format", "raw", "--output", str(output)]
    return children.start("py-spy", argv, **pinned(LOAD_CORE))


# -- Redis: a db of its own on REDIS_URL, or a throwaway server -------------------------------------


class _Throwaway(Protocol):
    @property
    def url(self) -> str: ...

    def stop(self) -> None: ...


def _redis_server_module() -> Any:
    """`bot.redis_server`, wherever bot/ keeps it now."""
    for name in ("bot.sandbox.redis_server", "bot.redis_server"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise SetupError("REDIS_URL does not answer and bot's redis_server module (to start one) is not found")


def _with_db(url: str, db: int) -> str:
    parsed = urlparse(url)
    if parsed.scheme == "unix":
        query = dict(parse_qsl(parsed.query))
        query["db"] = str(db)
        return urlunparse(parsed._replace(query=urlencode(query)))
    return urlunparse(parsed._replace(path=f"/{db}"))


def _answers(url: str) -> bool:
    import redis

    try:
        with redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1) as client:
            return bool(client.ping())
    except (redis.RedisError, OSError, ValueError):
        return False


@dataclass
class BenchRedis:
    url: str
    where: str
    client: Any  # redis.Redis, typed loosely: redis-py's sync return types are a union with Awaitable
    on_load_core: bool

    def cpu(self) -> float | None:
        with contextlib.suppress(Exception):
            info = self.client.info("cpu")
            return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])
        return None

    def count(self, pattern: str) -> int:
        return sum(1 for _ in self.client.scan_iter(match=pattern, count=2000))

    def queued(self) -> int:
        """Jobs in arq's queue and parked in the installations' fair-share backlogs."""
        parked = sum(
            int(self.client.llen(key))
            for key in self.client.scan_iter(match=FAIR_PATTERN, count=2000)
            if key.startswith((b"hookwise:fair:commands:", b"hookwise:fair:bulk:"))
        )
        return int(self.client.zcard(QUEUE_KEY)) + parked


@contextlib.contextmanager
def redis_for_bench(db: int) -> Iterator[BenchRedis]:
    """An empty db for the bench; afterwards deletes only the keys the bench makes, never FLUSHDB."""
    import redis

    env_url = os.environ.get("REDIS_URL")
    started: _Throwaway | None = None
    if env_url and _answers(env_url):
        url, where, how = _with_db(env_url, db), f"REDIS_URL db {db}", "not pinned by the bench"
    else:
        module = _redis_server_module()
        try:
            started = module.start()  # inherits this process's affinity: the load core
        except (RuntimeError, OSError) as exc:
            raise SetupError(f"cannot start a throwaway redis-server: {exc}") from exc
        assert started is not None
        reason = "REDIS_URL does not answer" if env_url else "REDIS_URL not set"
        url, where, how = _with_db(started.url, db), f"throwaway redis-server db {db}", f"on core {LOAD_CORE}, {reason}"
    client = redis.Redis.from_url(url)
    try:
        try:
            size = client.dbsize()
            server_info: Any = client.info("server")
            version = server_info.get("redis_version", "?")
        except (redis.RedisError, OSError) as exc:
            raise SetupError(f"{where}: {exc}") from exc
        if size:
            raise SetupError(f"{where} holds {size} keys; the bench needs an empty db: pass --redis-db N")
        yield BenchRedis(url, f"{where} (Redis {version}, {how})", client, started is not None)
    finally:
        with contextlib.suppress(redis.RedisError, OSError):
            for pattern in (DELIVERY_PATTERN, JOB_PATTERN, QUEUE_KEY, FAIR_PATTERN):
                batch: list[bytes] = []
                for key in client.scan_iter(match=pattern, count=2000):
                    batch.append(key)
                    if len(batch) >= 2000:
                        client.unlink(*batch)
                        batch.clear()
                if batch:
                    client.unlink(*batch)
        client.close()
        if started is not None:
            started.stop()


# -- hookwise's own count --------------------------------------------------------------------------


def deliveries_counter(base: str) -> Counter[tuple[str, str]]:
    """hookwise_deliveries_total by (event, outcome), from GET /metrics."""
    status, body = _get(base + "/metrics", timeout=5.0)
    if status != 200:
        raise SetupError(f"GET {base}/metrics answered {status}")
    counts: Counter[tuple[str, str]] = Counter()
    found = False
    for line in body.decode(errors="replace").splitlines():
        match = _METRIC_LINE.match(line)
        if match:
            found = True
            labels = dict(_LABEL.findall(match["labels"]))
            counts[(labels.get("event", ""), labels.get("outcome", ""))] += int(float(match["value"]))
    if not found and b"hookwise_deliveries" not in body:
        raise SetupError(f"GET {base}/metrics has no hookwise_deliveries_total counter")
    return counts


# -- the run ------------------------------------------------------------------------------------


def _versions(bare_loop: str) -> str:
    import aiohttp
    import redis

    try:
        from aiohttp import http_parser

        c_parser = http_parser.HttpRequestParser is not http_parser.HttpRequestParserPy
    except (ImportError, AttributeError):
        c_parser = False
    try:
        from redis.utils import HIREDIS_AVAILABLE as hiredis
    except ImportError:
        hiredis = False
    try:
        uv = f"uvloop {importlib.metadata.version('uvloop')} installed"
    except importlib.metadata.PackageNotFoundError:
        uv = "uvloop not installed"
    return (
        f"Python {sys.version.split()[0]}, aiohttp {aiohttp.__version__} (C parser: {'yes' if c_parser else 'NO'}),"
        f" redis-py {redis.__version__} (hiredis: {'yes' if hiredis else 'no'}), {uv}; bare loop: {bare_loop}"
    )


def _source() -> str:
    """Which hookwise the bench runs: the checkout's commit, and whether bot/ differs from it."""
    git = shutil.which("git")
    if git is None:
        return str(ROOT)
    quiet: dict[str, Any] = {"capture_output": True, "text": True, "check": False, "cwd": ROOT}
    rev = subprocess.run([git, "rev-parse", "--short", "HEAD"], **quiet).stdout.strip()
    if not rev:
        return str(ROOT)
    # --no-optional-locks: a read, never a refresh of the index.
    status = [git, "--no-optional-locks", "status", "--porcelain", "--untracked-files=no", "--", "bot"]
    changed = bool(subprocess.run(status, **quiet).stdout.strip())
    return f"{ROOT} at {rev}{' with uncommitted changes in bot/' if changed else ''}"


def _parse_seconds(text: str) -> int:
    match = re.fullmatch(r"(\d+)\s*(s|m)?", text.strip())
    if not match or int(match[1]) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give whole seconds, e.g. 10s or 1m")
    return int(match[1]) * (60 if match[2] == "m" else 1)


def _parse_env(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
        raise argparse.ArgumentTypeError(f"{text!r}: give KEY=VALUE")
    return key, value


@dataclass
class Report:
    bare: Run  # the measured runs, merged
    hookwise: Run
    bare_runs: list[Run]  # every wrk run, warm-up included
    hook_runs: list[Run]
    counted: Counter[tuple[str, str]]
    redis_found: dict[str, int]
    redis_on_load_core: bool
    hook_log_tail: str
    busy_before: dict[int, float]


def measure(args: argparse.Namespace, wrk: str, delivery: Delivery, log_dir: Path) -> Report:
    # Their cwd: not the repository, whose `.env` must not configure the servers; nor hookwise's
    # variables from the bench's own shell.
    children = Children(log_dir, _python_env())
    try:
        with redis_for_bench(args.redis_db) as store:
            extra = dict(args.env)
            webhook_path = extra.get("WEBHOOK_PATH", DEFAULT_WEBHOOK_PATH)
            print(f"redis: {store.where}")
            print(_versions(args.bare_loop))
            print(f"hookwise: python -m bot web, LOG_LEVEL={extra.get('LOG_LEVEL', 'info')}, from {_source()}")
            if extra:
                print("hookwise extra environment: " + " ".join(f"{k}={v}" for k, v in extra.items()))
            print()
            body_file = log_dir / "body.json"
            body_file.write_bytes(delivery.body)
            nonce = secrets.token_hex(4)

            bare_port = _free_port()
            bare_argv = python_module("bench.bare_server", "--port", str(bare_port))
            bare_argv += ["--loop", args.bare_loop, "--path", webhook_path]
            bare = children.start("bare", bare_argv, **pinned(SERVER_CORE))
            bare_base = f"http://127.0.0.1:{bare_port}"

            hook_port = _free_port()
            hook_env = {
                "WEBHOOK_SECRET": SECRET,
                "REDIS_URL": store.url,
                "HOST": "127.0.0.1",
                "PORT": str(hook_port),
                "LOG_LEVEL": "info",
                **extra,
            }
            hook = children.start("hookwise", bot_command("web"), env=hook_env, **pinned(SERVER_CORE))
            hook_base = f"http://127.0.0.1:{hook_port}"
            _wait_ready(bare, bare_base + "/healthz")
            _wait_ready(hook, hook_base + "/readyz")
            # How busy the machine is with work of others, with both servers up and idle.
            before, started = core_times(), time.monotonic()
            time.sleep(1.0)
            after, elapsed = core_times(), time.monotonic() - started
            quiet = {core: (after[core][0] - before[core][0]) / elapsed for core in (SERVER_CORE, LOAD_CORE)}
            print(
                "before the runs, servers idle: "
                + ", ".join(f"core {core} {_fmt_pct(share)} busy" for core, share in quiet.items())
            )

            bare_runs: list[Run] = []
            hook_runs: list[Run] = []
            measured: dict[str, list[Run]] = {"bare": [], "hookwise": []}
            plan = [("bare warm-up", bare, bare_base, args.warmup), ("hookwise warm-up", hook, hook_base, args.warmup)]
            slice_s = args.duration // args.rounds
            for index in range(args.rounds):
                # bare, hookwise; then hookwise, bare: a drift of the machine's speed hits both alike.
                pair = [("bare", bare, bare_base, slice_s), ("hookwise", hook, hook_base, slice_s)]
                plan += pair if index % 2 == 0 else pair[::-1]
            for phase, (name, server, base, seconds) in enumerate(plan, start=1):
                is_measured = not name.endswith("warm-up")
                profile = args.profile if is_measured and server is hook and args.profile else None
                label = (
                    name if args.rounds == 1 or not is_measured else f"{name} ({len(measured[name]) + 1}/{args.rounds})"
                )
                print(f"  {label}: {seconds} s ...", flush=True)
                cpu: RedisCPU = store.cpu
                run = run_wrk(
                    wrk,
                    children,
                    name,
                    server,
                    base + webhook_path,
                    body_file,
                    delivery,
                    args,
                    seconds,
                    nonce,
                    phase,
                    cpu,
                    profile,
                )
                (hook_runs if server is hook else bare_runs).append(run)
                if is_measured:
                    measured[name].append(run)
                if server.poll() is not None:
                    raise SetupError(f"{server.name} exited during the run:\n{server.log_tail()}")
            # No worker runs: what was queued stays queued. Give the web process a moment to finish
            # what it was answering when wrk stopped, then count.
            time.sleep(0.5)
            counted = deliveries_counter(hook_base)
            found = {
                f"ZCARD {QUEUE_KEY} + parked": store.queued(),
                f"{JOB_PATTERN} keys": store.count(JOB_PATTERN),
                f"{DELIVERY_PATTERN} records": store.count(DELIVERY_PATTERN),
            }
            children.stop_all(STOP_S)
            if args.keep_logs:
                for child_log in log_dir.glob("*.log"):
                    shutil.copy(child_log, args.keep_logs / child_log.name)
            return Report(
                merge("bare", measured["bare"]),
                merge("hookwise", measured["hookwise"]),
                bare_runs,
                hook_runs,
                counted,
                found,
                store.on_load_core,
                hook.log_tail(8),
                quiet,
            )
    finally:
        children.stop_all(STOP_S)


def _fmt_pct(share: float | None) -> str:
    return "-" if share is None else f"{100 * min(share, 1.0):.0f}%"  # clock ticks round: 101% is 100%


def report(args: argparse.Namespace, result: Report, delivery: Delivery) -> int:
    bare, hook = result.bare, result.hookwise
    head = ("server", "req/s", "p50 ms", "p90 ms", "p99 ms", "non-2xx", "sock err", "srv cpu", "us/req", "wrk cpu")
    row = "{:<18} {:>8} {:>7} {:>7} {:>7} {:>8} {:>8} {:>8} {:>7} {:>8}"
    print()
    print(row.format(*head) + "  redis cpu")
    for label, run in ((f"bare ({args.bare_loop})", bare), ("hookwise", hook)):
        non_2xx = run.errors["status"] if run.other_lua is None else run.other_lua
        print(
            row.format(
                label,
                f"{run.rate:,.0f}",
                f"{run.ms('p50'):.2f}",
                f"{run.ms('p90'):.2f}",
                f"{run.ms('p99'):.2f}",
                non_2xx,
                run.socket_errors,
                _fmt_pct(run.server_cpu),
                f"{run.cpu_us_per_request:.0f}",
                _fmt_pct(run.wrk_cpu),
            )
            + f"  {_fmt_pct(run.redis_cpu)}"
        )
    print()
    for run in (bare, hook):
        redis_part = f", redis {_fmt_pct(run.redis_cpu)}" if result.redis_on_load_core else ""
        print(
            f"cores during {run.name + ':':<9} server core {_fmt_pct(run.server_core_busy)} busy"
            f" (server {_fmt_pct(run.server_cpu)}, others {_fmt_pct(max(0.0, run.server_core_busy - run.server_cpu))});"
            f" load core {_fmt_pct(run.load_core_busy)} busy (wrk {_fmt_pct(run.wrk_cpu)}{redis_part});"
            f" steal {_fmt_pct(run.steal)}"
        )
    if args.rounds > 1:
        print(f"({args.rounds} rounds: req/s from the totals, percentiles averaged over rounds weighted by requests)")
    ratio = hook.rate / bare.rate if bare.rate else float("nan")
    cpu_ratio = bare.cpu_us_per_request / hook.cpu_us_per_request if hook.cpu_us_per_request else float("nan")
    print()
    print(f"ratio = hookwise req/s ÷ bare {args.bare_loop} req/s = {hook.rate:,.0f} ÷ {bare.rate:,.0f} = {ratio:.3f}")
    print(f"cpu ratio = bare cpu/request ÷ hookwise cpu/request = {cpu_ratio:.3f}")

    notes: list[str] = []
    if bare.server_cpu < SATURATED:
        others_share = max(0.0, bare.server_core_busy - bare.server_cpu)
        why = (
            f"other processes took {100 * others_share:.0f}% of its core"
            if others_share > 0.05
            else f"the load generator could not keep it busy (load core {100 * bare.load_core_busy:.0f}% busy)"
        )
        notes.append(
            f"the bare server kept its core only {100 * bare.server_cpu:.0f}% busy (< {100 * SATURATED:.0f}%): {why};"
            " its req/s is not the server's ceiling, so the ratio OVERSTATES hookwise; prefer the cpu ratio"
        )
    if hook.server_cpu < SATURATED:
        notes.append(
            f"hookwise kept its core only {100 * hook.server_cpu:.0f}% busy: it waited on something else"
            " (Redis, the load core, another tenant of the machine)"
        )
    busy = {core: share for core, share in result.busy_before.items() if share > 0.10}
    if busy:
        cores = ", ".join(f"core {core} {100 * share:.0f}%" for core, share in busy.items())
        notes.append(f"other work kept the machine busy before the runs ({cores}): figures will be low and noisy")
    for run in (bare, hook):
        intruders = run.server_core_busy - run.server_cpu
        if intruders > 0.05:
            notes.append(
                f"other processes used {100 * intruders:.0f}% of the server core during the {run.name} run:"
                " its figures are low (run again on a quiet machine)"
            )
        if run.load_core_busy > SATURATED:
            notes.append(
                f"the load core was {100 * run.load_core_busy:.0f}% busy during the {run.name} run:"
                " wrk may have been short of CPU"
            )
        if run.steal > 0.05:
            notes.append(f"the hypervisor stole {100 * run.steal:.0f}% of a core during the {run.name} run")
    if args.connections != GOAL_CONNECTIONS:
        notes.append(f"the goals are stated at {GOAL_CONNECTIONS} connections; this run used {args.connections}")
    if args.profile:
        notes.append(f"py-spy sampled hookwise during its measured run, so its figures are perturbed ({args.profile})")
    if args.bare_loop != "uvloop":
        notes.append("the goal ratio is against the bare server on uvloop; this run used asyncio")

    ratio_ok = ratio >= GOAL_RATIO
    p99_ok = hook.ms("p99") <= GOAL_P99_MS
    counted_ratio = "" if bare.server_cpu >= SATURATED else " (does not count: the bare server was not saturated)"
    print(f"goal ratio >= {GOAL_RATIO}: {'met' if ratio_ok else 'NOT met'} ({ratio:.3f}){counted_ratio}")
    print(
        f"goal hookwise p99 <= {GOAL_P99_MS:g} ms at {GOAL_CONNECTIONS} connections:"
        f" {'met' if p99_ok else 'NOT met'} ({hook.ms('p99'):.2f} ms)"
    )
    for note in notes:
        print(f"note: {note}")

    # -- the checks (exit 1 when one fails) --
    print()
    failures: list[str] = []
    oks: list[str] = []
    counted = result.counted
    queued = sum(n for (event, outcome), n in counted.items() if outcome == "queued")
    queued_event = counted[(delivery.event, "queued")]
    others = {f"{event}/{outcome}": n for (event, outcome), n in counted.items() if outcome != "queued" and n}
    if others or queued != queued_event:
        failures.append(f"hookwise answered deliveries other than 202 queued: {others}")
    else:
        oks.append(
            f"hookwise counted {queued:,} x 202"
            f' (hookwise_deliveries_total{{event="{delivery.event}",outcome="queued"}}) and no other outcome'
        )
    for run in (*result.bare_runs, *result.hook_runs):
        if run.errors["status"] or run.other_lua or run.socket_errors:
            sample = f"; first: {run.first_other}" if run.first_other else ""
            failures.append(
                f"{run.name}: wrk saw {run.other_lua if run.other_lua is not None else run.errors['status']} non-202"
                f" answers and {run.socket_errors} socket errors {run.errors}{sample}"
            )
    in_flight = args.connections * len(result.hook_runs)
    if args.lua_count:
        seen = sum(run.accepted_lua or 0 for run in result.hook_runs)
        what = "202s counted by wrk's response()"
    else:
        seen = sum(run.requests for run in result.hook_runs)
        what = "answers wrk completed"
    # wrk stops with up to one request per connection in flight: the server still answers (and
    # queues) those, wrk no longer counts them.
    if not seen <= queued <= seen + in_flight:
        failures.append(f"{what} ({seen:,}) do not match hookwise's queued count ({queued:,}) ± {in_flight}")
    else:
        oks.append(f"{what}: {seen:,} (hookwise's count is {queued - seen} more: requests in flight when wrk stopped)")
    missing = {what: n for what, n in result.redis_found.items() if n != queued}
    found_text = ", ".join(f"{what} {n:,}" for what, n in result.redis_found.items())
    if missing:
        failures.append(f"not every accepted delivery is queued: {found_text}; hookwise answered {queued:,} x 202")
    else:
        oks.append(f"durably queued: {found_text}, each equal to the {queued:,} x 202")
    for line in oks:
        print(f"ok   {line}")
    for line in failures:
        print(f"FAIL {line}")
    if failures and result.hook_log_tail:
        print("hookwise log tail:\n  " + result.hook_log_tail.replace("\n", "\n  "))
    print("result: " + ("every check holds" if not failures else f"{len(failures)} check(s) failed"))

    if args.json:
        summary = {
            "event": delivery.event,
            "body_bytes": len(delivery.body),
            "connections": args.connections,
            "duration_s": args.duration,
            "lua_count": args.lua_count,
            "env": dict(args.env),
            "bare_loop": args.bare_loop,
            "ratio": ratio,
            "cpu_ratio": cpu_ratio,
            "goals": {"ratio": ratio_ok, "p99": p99_ok},
            "rounds": args.rounds,
            "runs": {"bare": _as_json(bare), "hookwise": _as_json(hook)},
            "every_wrk_run": [_as_json(run) for run in (*result.bare_runs, *result.hook_runs)],
            "busy_before": {str(core): share for core, share in result.busy_before.items()},
            "queued": queued,
            "redis": result.redis_found,
            "failures": failures,
            "notes": notes,
        }
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    return 1 if failures else 0


def _as_json(run: Run) -> dict[str, Any]:
    return {
        "name": run.name,
        "req_s": run.rate,
        "requests": run.requests,
        "duration_s": run.duration_s,
        "latency_ms": {key: value / 1000 for key, value in run.latency_us.items()},
        "server_cpu": run.server_cpu,
        "wrk_cpu": run.wrk_cpu,
        "redis_cpu": run.redis_cpu,
        "server_core_busy": run.server_core_busy,
        "load_core_busy": run.load_core_busy,
        "steal": run.steal,
        "cpu_us_per_request": run.cpu_us_per_request,
        "errors": run.errors,
        "accepted_lua": run.accepted_lua,
    }


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signal.Signals(signum).name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.wrk", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=64, help="wrk connections (default 64)")
    parser.add_argument("--duration", type=_parse_seconds, default=10, help="measured run per server (default 10s)")
    parser.add_argument("--warmup", type=_parse_seconds, default=3, help="warm-up run per server (default 3s)")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="split each server's measured run into this many slices, alternated between the servers (default 1)",
    )
    parser.add_argument("--threads", type=int, default=MAX_WRK_THREADS, help="wrk threads, 1 or 2 (default 2)")
    parser.add_argument(
        "--event",
        choices=["issues", "pull_request"],
        default="issues",
        help="issues: issues opened, ~11.6 kB (default); pull_request: closed merged, 26.6 kB",
    )
    parser.add_argument(
        "--env",
        type=_parse_env,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the hookwise process (repeatable)",
    )
    parser.add_argument(
        "--bare-loop",
        choices=["uvloop", "asyncio"],
        default="uvloop",
        help="event loop of the bare server (default uvloop)",
    )
    parser.add_argument(
        "--lua-count",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="count answers per status in wrk's response() (default: on)",
    )
    parser.add_argument("--redis-db", type=int, default=15, help="db index on REDIS_URL, must be empty (default 15)")
    parser.add_argument("--profile", type=Path, help="py-spy record hookwise's measured run into FILE (raw stacks)")
    parser.add_argument("--json", type=Path, help="also write the figures to FILE as JSON")
    parser.add_argument("--keep-logs", type=Path, help="copy the servers' and wrk's logs into this directory")
    args = parser.parse_args(argv)
    if args.connections < 1 or not 1 <= args.threads <= MAX_WRK_THREADS:
        parser.error(f"--connections must be positive and --threads 1..{MAX_WRK_THREADS}")
    args.threads = min(args.threads, args.connections)
    if args.rounds < 1 or args.duration % args.rounds or args.duration // args.rounds < 2:
        parser.error("--rounds must divide --duration into slices of 2 s or more")
    if args.profile and args.rounds != 1:
        parser.error("--profile records one measured run: use it with --rounds 1")
    if args.keep_logs:
        args.keep_logs.mkdir(parents=True, exist_ok=True)

    from redis import RedisError

    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    try:
        if os.cpu_count() is None or len(os.sched_getaffinity(0)) < 2:
            raise SetupError("the bench needs 2 cores (one for the server, one for wrk)")
        wrk = ensure_wrk()
        if args.bare_loop == "uvloop" and importlib.util.find_spec("uvloop") is None:
            raise SetupError("the bare server needs uvloop: pip install uvloop (or pass --bare-loop asyncio)")
        delivery = build_delivery(args.event)
        if args.profile:
            py_spy()
        os.sched_setaffinity(0, {LOAD_CORE})  # the bench itself, and a throwaway redis-server it starts
        print(
            f"hookwise wrk bench: {delivery.description} delivery, {len(delivery.body):,} B signed, unique"
            f" UUID delivery ids; {args.connections} connections, {args.threads} wrk threads;"
            f" warm-up {args.warmup} s, measured {args.duration} s per server"
            + (f" in {args.rounds} alternated slices of {args.duration // args.rounds} s" if args.rounds > 1 else "")
        )
        print(
            f"servers pinned to core {SERVER_CORE}, wrk to core {LOAD_CORE};"
            f" wrk's response() counting {'on' if args.lua_count else 'off'}"
        )
        with tempfile.TemporaryDirectory(prefix="hookwise-wrk-") as log_dir:
            result = measure(args, wrk, delivery, Path(log_dir))
        return report(args, result, delivery)
    except SetupError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    except (OSError, RedisError) as exc:
        print(f"bench: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, Interrupted):
        print("bench: interrupted; stopped every process it started", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

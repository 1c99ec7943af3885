"""Ingress benchmark: hookwise's webhook endpoint against a bare aiohttp handler, on one core.

    python -m bench.ingress [--requests 5000] [--concurrency 64] [--warmup 500]

Each server runs in its own subprocess pinned to core 0; this process (the load generator, and a
throwaway redis-server when it starts one) is pinned to core 1. Every hookwise request is a real
delivery: a signed `pull_request` `closed` (merged) payload with a unique `X-GitHub-Delivery`, which
must be answered 202 and leave one arq job in Redis (checked at the end). The bare server only
reads the body and answers 202. See bench/README.md for how to read the figures.

Exit status: 0 when every request was answered 202 and every accepted delivery left its job,
1 otherwise, 2 when the bench could not be set up.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlparse, urlunparse

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "github-webhooks" / "pull_request" / "closed.merged.app.json"
SECRET = "hookwise-bench-secret"
WEBHOOK_PATH = "/api/github/webhooks"
STATS_PATH = "/_bench/stats"  # added to both servers by the bench only: round trips and CPU time
SERVER_CORE = 0
CLIENT_CORE = 1
PHASE_LIMIT_S = 60.0
REQUEST_TIMEOUT_S = 10.0
BENCH_KEY_PATTERNS = ("hookwise:delivery:*", "arq:job:*", "arq:queue")


# -- the server side (runs in the pinned subprocess) ----------------------------------------------

_round_trips = 0


def _pin(core: int) -> bool:
    try:
        os.sched_setaffinity(0, {core})
    except (AttributeError, OSError) as exc:
        print(f"bench: cannot pin to core {core}: {exc}", file=sys.stderr)
        return False
    return True


def _count_redis_round_trips() -> None:
    """Count the requests hookwise's redis-py writes to Redis (a pipeline is one write, one round trip)."""
    from redis.asyncio import connection

    original = connection.AbstractConnection.send_packed_command

    async def counted(self: Any, *args: Any, **kwargs: Any) -> None:
        global _round_trips
        _round_trips += 1
        await original(self, *args, **kwargs)

    connection.AbstractConnection.send_packed_command = counted  # type: ignore[method-assign]


async def _stats(request: web.Request) -> web.Response:
    times = os.times()
    return web.json_response({"round_trips": _round_trips, "cpu_s": times.user + times.system})


async def _bare_webhook(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(status=202)


def serve(kind: str, port: int, redis_url: str, log_level: str) -> None:
    _pin(SERVER_CORE)
    if kind == "bare":
        app = web.Application()
        app.router.add_post(WEBHOOK_PATH, _bare_webhook)
        app.router.add_get(STATS_PATH, _stats)
        web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None, shutdown_timeout=5)
        return
    from bot.config import load_settings
    from bot.logs import configure
    from bot.web.app import create_app

    # As `python -m bot web` does: production log set-up (stderr goes to a file the bench keeps).
    configure(log_level)
    _count_redis_round_trips()
    settings = load_settings(WEBHOOK_SECRET=SECRET, REDIS_URL=redis_url, WEBHOOK_PATH=WEBHOOK_PATH, LOG_LEVEL=log_level)
    app = create_app(settings)
    app.router.add_get(STATS_PATH, _stats)
    web.run_app(app, host="127.0.0.1", port=port, shutdown_timeout=5, print=None)


# -- the load generator ---------------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    requests: int = 0
    statuses: Counter[int | str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    elapsed_s: float = 0.0
    client_cpu_s: float = 0.0
    server_cpu_s: float = 0.0
    round_trips: int = 0
    samples: list[str] = field(default_factory=list)
    timed_out: bool = False

    @property
    def accepted(self) -> int:
        return self.statuses.get(202, 0)

    @property
    def rate(self) -> float:
        return self.accepted / self.elapsed_s if self.elapsed_s else 0.0

    def percentile_ms(self, fraction: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        rank = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
        return ordered[rank] * 1000


async def _load(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    headers: dict[str, str],
    count: int,
    concurrency: int,
    delivery_ids: list[str],
    phase: Phase,
) -> None:
    issued = 0
    stop_at = time.monotonic() + PHASE_LIMIT_S

    async def worker() -> None:
        nonlocal issued
        while issued < count:
            if time.monotonic() > stop_at:
                phase.timed_out = True
                return
            issued += 1
            delivery = str(uuid.uuid4())
            delivery_ids.append(delivery)
            started = time.perf_counter()
            status: int | str
            try:
                async with session.post(url, data=body, headers={**headers, "X-GitHub-Delivery": delivery}) as resp:
                    answer = await resp.read()
                    status = resp.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                answer, status = str(exc).encode(), type(exc).__name__
            phase.latencies.append(time.perf_counter() - started)
            phase.statuses[status] += 1
            if status != 202 and len(phase.samples) < 3:
                phase.samples.append(f"{status}: {answer[:200].decode('utf-8', 'replace')}")

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    phase.elapsed_s = time.perf_counter() - started
    phase.client_cpu_s = time.process_time() - cpu
    phase.requests = len(phase.latencies)


async def _server_stats(session: aiohttp.ClientSession, base: str) -> dict[str, Any]:
    async with session.get(base + STATS_PATH) as resp:
        stats: dict[str, Any] = await resp.json()
        return stats


@dataclass
class Server:
    kind: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _start_server(kind: str, redis_url: str, log_level: str, log_dir: Path) -> Server:
    from bot.sandbox.redis_server import free_port

    port = free_port()
    log_path = log_dir / f"{kind}.log"
    command = [sys.executable, "-m", "bench.ingress", "--serve", kind, "--port", str(port)]
    command += ["--redis-url", redis_url, "--log-level", log_level]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    return Server(kind, port, process, log_path)


async def _wait_ready(session: aiohttp.ClientSession, server: Server) -> None:
    timeout = 20.0
    deadline = time.monotonic() + timeout
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.kind} server exited with {server.process.returncode}:\n{server.log_tail()}")
        with contextlib.suppress(aiohttp.ClientError, OSError):
            await _server_stats(session, server.base)
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{server.kind} server did not answer within {timeout:.0f} s:\n{server.log_tail()}")
        await asyncio.sleep(0.05)


async def bench_server(
    kind: str, args: argparse.Namespace, redis_url: str, body: bytes, log_dir: Path, delivery_ids: list[str]
) -> tuple[Phase, Phase, dict[str, int]]:
    """Warm-up phase and measured phase against one server, started here and stopped after."""
    from bot.core.signature import sign

    headers = {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/bench",
        "X-GitHub-Event": "pull_request",
        "X-Hub-Signature-256": sign(body, SECRET.encode()),
    }
    server = _start_server(kind, redis_url, args.log_level, log_dir)
    connector = aiohttp.TCPConnector(limit=args.concurrency)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    try:
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            await _wait_ready(session, server)
            url = server.base + WEBHOOK_PATH
            warmup, measured = Phase(f"{kind} warm-up"), Phase(kind)
            await _load(session, url, body, headers, args.warmup, args.concurrency, delivery_ids, warmup)
            before, commands_before = await _server_stats(session, server.base), _commandstats(redis_url)
            await _load(session, url, body, headers, args.requests, args.concurrency, delivery_ids, measured)
            after, commands_after = await _server_stats(session, server.base), _commandstats(redis_url)
            measured.round_trips = after["round_trips"] - before["round_trips"]
            measured.server_cpu_s = after["cpu_s"] - before["cpu_s"]
            commands = {
                name: calls - commands_before.get(name, 0)
                for name, calls in commands_after.items()
                if name != "info" and calls != commands_before.get(name, 0)
            }
            return warmup, measured, commands
    finally:
        server.stop()


# -- Redis: a throwaway server, or a dedicated empty db index on REDIS_URL -------------------------


def _with_db(url: str, db: int) -> str:
    parsed = urlparse(url)
    if parsed.scheme == "unix":
        query = dict(parse_qsl(parsed.query))
        query["db"] = str(db)
        return urlunparse(parsed._replace(query=urlencode(query)))
    return urlunparse(parsed._replace(path=f"/{db}"))


@contextlib.contextmanager
def redis_for_bench(db: int) -> Iterator[tuple[str, str]]:
    """(URL of an empty db, description). Deletes only the keys the bench creates; never FLUSHALL."""
    import redis

    from bot.sandbox import redis_server

    env_url = os.environ.get("REDIS_URL")
    started = None
    if env_url and redis_server.reachable(env_url):
        url, where = _with_db(env_url, db), f"REDIS_URL db {db}"
    else:
        started = redis_server.start()  # inherits this process's affinity (core 1)
        url, where = _with_db(started.url, db), f"throwaway redis-server db {db}"
    client = redis.Redis.from_url(url)
    try:
        if client.dbsize():
            raise RuntimeError(f"{where} is not empty; pass --redis-db with the index of an empty db")
        info: Any = client.info("server")
        version = info.get("redis_version", "?")
        yield url, f"{where} (Redis {version}{', pinned to core 1' if started else ''})"
    finally:
        for pattern in BENCH_KEY_PATTERNS:
            batch: list[bytes] = []
            for key in client.scan_iter(match=pattern, count=1000):
                batch.append(key)
                if len(batch) >= 1000:
                    client.unlink(*batch)
                    batch.clear()
            if batch:
                client.unlink(*batch)
        client.close()
        if started is not None:
            started.stop()


def _commandstats(url: str) -> dict[str, int]:
    import redis

    with redis.Redis.from_url(url) as client:
        stats: dict[str, dict[str, int]] = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): entry["calls"] for name, entry in stats.items()}


def _verify_jobs(url: str, delivery_ids: list[str]) -> list[str]:
    """Problems found: each accepted delivery must have its record, its arq job and a queue entry."""
    import redis

    from bot.adapters.store.keys import DELIVERY as DELIVERY_KEY_PREFIX
    from bot.adapters.store.keys import JOB as JOB_KEY_PREFIX
    from bot.adapters.store.keys import QUEUE as QUEUE_NAME

    problems = []
    with redis.Redis.from_url(url) as client:
        queued = client.zcard(QUEUE_NAME)
        jobs = records = 0
        for start in range(0, len(delivery_ids), 1000):
            chunk = delivery_ids[start : start + 1000]
            jobs += client.exists(*(f"{JOB_KEY_PREFIX}{delivery}:1" for delivery in chunk))
            records += client.exists(*(f"{DELIVERY_KEY_PREFIX}{delivery}" for delivery in chunk))
    for what, found in (("ZCARD arq:queue", queued), ("arq:job keys", jobs), ("delivery records", records)):
        if found != len(delivery_ids):
            problems.append(f"{what}: {found}, expected {len(delivery_ids)}")
    return problems


# -- the report -----------------------------------------------------------------------------------


def _row(phase: Phase) -> str:
    return (
        f"{phase.name:<10} {phase.requests:>8} {phase.rate:>11.0f} {phase.percentile_ms(0.5):>8.2f}"
        f" {phase.percentile_ms(0.99):>8.2f} {100 * phase.server_cpu_s / phase.elapsed_s:>10.0f}%"
        f" {100 * phase.client_cpu_s / phase.elapsed_s:>10.0f}%"
        f" {1e6 * phase.server_cpu_s / max(phase.requests, 1):>12.0f}"
    )


async def run(args: argparse.Namespace) -> int:
    pinned = _pin(CLIENT_CORE)
    body = FIXTURE.read_bytes()
    with (
        tempfile.TemporaryDirectory(prefix="hookwise-bench-") as log_dir,
        redis_for_bench(args.redis_db) as (url, where),
    ):
        print(
            f"hookwise ingress bench: {args.requests} requests per server after {args.warmup} warm-up,"
            f" {args.concurrency} in flight, keep-alive, {len(body)} B signed pull_request payload"
        )
        print(
            f"servers pinned to core {SERVER_CORE}, load generator {'pinned to core 1' if pinned else 'NOT pinned'};"
            f" {where}; Python {sys.version.split()[0]}, aiohttp {aiohttp.__version__}, LOG_LEVEL={args.log_level}"
        )
        bare_ids: list[str] = []
        _, bare, _ = await bench_server("bare", args, url, body, Path(log_dir), bare_ids)
        hook_ids: list[str] = []
        hook_warmup, hook, commands = await bench_server("hookwise", args, url, body, Path(log_dir), hook_ids)
        problems = _verify_jobs(url, hook_ids)
        hook_log = (Path(log_dir) / "hookwise.log").read_text(errors="replace")

    print()
    heading = ("server", "requests", "accepted/s", "p50 ms", "p99 ms", "server cpu", "client cpu", "cpu us/req")
    print("{:<10} {:>8} {:>11} {:>8} {:>8} {:>11} {:>11} {:>12}".format(*heading))
    for phase in (bare, hook):
        print(_row(phase))
    ratio = hook.rate / bare.rate if bare.rate else float("nan")
    print(f"ratio: {ratio:.2f} (hookwise / bare)")
    if bare.server_cpu_s and hook.server_cpu_s:
        cpu_ratio = (bare.server_cpu_s / bare.requests) / (hook.server_cpu_s / hook.requests)
        print(
            f"cpu ratio: {cpu_ratio:.2f} (bare cpu per request / hookwise cpu per request; steadier on a noisy machine)"
        )

    accepted = max(hook.accepted, 1)
    per_delivery = ", ".join(f"{name} {count / accepted:.2f}" for name, count in sorted(commands.items()))
    trips = hook.round_trips / hook.accepted if hook.accepted else float("nan")
    print(f"redis round trips per accepted delivery: {trips:.2f} (requests written by hookwise's redis-py)")
    print(f"redis commands executed per accepted delivery (INFO commandstats, incl. inside Lua): {per_delivery}")

    failed = False
    for phase in (bare, hook):
        if phase.server_cpu_s / phase.elapsed_s < 0.9:
            print(
                f"note: the {phase.name} server kept its core only {100 * phase.server_cpu_s / phase.elapsed_s:.0f}%"
                f" busy (load generator {100 * phase.client_cpu_s / phase.elapsed_s:.0f}% of core {CLIENT_CORE}):"
                " its figure is a lower bound of what the server can take"
            )
    for phase in (bare, hook_warmup, hook):
        if phase.accepted != phase.requests:
            failed = True
            others = {status: n for status, n in phase.statuses.items() if status != 202}
            print(f"FAIL {phase.name}: {phase.requests - phase.accepted} not answered 202: {others}; {phase.samples}")
        if phase.timed_out:
            failed = True
            print(f"FAIL {phase.name}: stopped at the {PHASE_LIMIT_S:.0f} s limit after {phase.requests} requests")
    for problem in problems:
        failed = True
        print(f"FAIL jobs in Redis: {problem}")
    if not problems:
        print(f"verified: {len(hook_ids)} hookwise deliveries -> {len(hook_ids)} arq jobs in arq:queue")
    if failed:
        print("hookwise log tail:\n" + "\n".join(hook_log.splitlines()[-10:]))
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ingress", description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=5000, help="measured requests per server (default 5000)")
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight (default 64)")
    parser.add_argument("--warmup", type=int, default=500, help="warm-up requests per server (default 500)")
    parser.add_argument("--redis-db", type=int, default=15, help="db index the bench uses, must be empty (default 15)")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    parser.add_argument("--serve", choices=["bare", "hookwise"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--redis-url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.port, args.redis_url, args.log_level)
        return 0
    if args.requests < 1 or args.concurrency < 1 or args.warmup < 0:
        parser.error("--requests and --concurrency must be positive, --warmup not negative")
    from redis.exceptions import RedisError

    try:
        return asyncio.run(run(args))
    except (RuntimeError, OSError, RedisError) as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

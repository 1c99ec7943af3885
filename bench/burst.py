"""Burst benchmark: 100 new issues at once through the real web and worker processes, batched and
with batching off, in one run.

    python -m bench.burst [--issues 100] [--workers 2] [--latency 2.0]

Everything runs on this machine: a throwaway redis-server, the sandbox GitHub and a sandbox
Anthropic in this process (every answer takes `--latency` seconds, and it answers per issue: each
issue's labels come from that issue's own text), and `python -m bot web` plus `--workers`
`python -m bot worker` processes pointed at them. Each phase starts from an empty Redis and a fresh
sandbox, sends the deliveries concurrently from this process, and waits until every issue has its
labels. Then one issue is opened in a quiet repository, alone, to time a lone issue's wait.

The 100 issues are of three kinds (a crash report, a feature request, a docs problem) and each
names one of 34 areas; kind and area together are different for every issue, so an issue given
another issue's labels is always caught. Exit status: 0 when every goal is met, 1 when one is
missed (or an issue got wrong labels), 2 when the bench could not be set up.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bot.core import signature
from bot.core.pricing import Usage, input_equivalents
from bot.sandbox import anthropic as anthropic_sandbox
from bot.sandbox import github as github_sandbox
from bot.sandbox import redis_server, world
from bot.sandbox.demo import new_private_key, stop_process

ROOT = Path(__file__).resolve().parent.parent
SECRET = "hookwise-burst-secret"
APP_ID = 4242
INSTALLATION = 461842
REPO = "burst-org/busy-project"
QUIET_REPO = "burst-org/quiet-project"
HOOK = "/api/github/webhooks"
KINDS = ("bug", "enhancement", "documentation")
AREAS = 34  # with 3 kinds, 34 areas give each of 100 issues its own pair of labels
PHASE_LIMIT_S = 120.0

# Goals (issue 8)
MAX_CALLS = 10
MAX_COST_RATIO = 0.35
MAX_ALL_LABELLED_S = 30.0
MAX_LONE_S = 8.0

_AREA = re.compile(r"\barea/\d\d\b")
_KIND_WORDS = {
    "bug": ("traceback", "crashes", "exception"),
    "enhancement": ("would be great", "feature request", "it would help"),
    "documentation": ("the docs", "readme", "documentation page"),
}


def area(i: int) -> str:
    return f"area/{i // len(KINDS) % AREAS + 1:02d}"


def kind(i: int) -> str:
    return KINDS[i % len(KINDS)]


def expected(i: int) -> set[str]:
    return {kind(i), area(i)}


def issue_text(i: int) -> tuple[str, str]:
    """A title and body of a realistic length (a few hundred characters) for issue `i`."""
    where = area(i)
    if kind(i) == "bug":
        title = f"Worker crashes on start when the cache directory is missing (#{i})"
        body = (
            f"After upgrading, the worker crashes with a traceback as soon as it starts. This is in {where}.\n\n"
            "Steps to reproduce:\n1. Remove the cache directory\n2. Start the worker\n3. See the exception\n\n"
            "```\nTraceback (most recent call last):\n  File \"worker.py\", line 42, in start\n"
            "    cache.open()\nFileNotFoundError: [Errno 2] No such file or directory: '.cache'\n```\n\n"
            "Expected: the directory is created. Version 2.3.1, Python 3.12, Linux."
        )
    elif kind(i) == "enhancement":
        title = f"Allow configuring the retry delay per endpoint (#{i})"
        body = (
            f"Feature request for {where}: it would be great to set the retry delay per endpoint instead "
            "of one global value. Some of our endpoints are rate limited far more strictly than others, "
            "and today we either retry the slow ones too often or wait too long on the fast ones.\n\n"
            "A `retry_delay` key next to each endpoint in the config file would cover it; the global value "
            "would stay the default. Happy to send a pull request if this sounds reasonable."
        )
    else:
        title = f"Installation steps in the docs are out of date (#{i})"
        body = (
            f"The documentation page for {where} still tells people to run `setup.py install`, which no "
            "longer works with the current packaging. The README has the right command (`pip install .`) "
            "but the docs were never updated, and the screenshot shows the old configuration screen.\n\n"
            "Could the docs be updated to match the README? I can help with the wording."
        )
    return title, body


def bench_labeller(text: str, allowed: Sequence[str]) -> list[str]:
    """The sandbox model's per-issue judgement: the kind from the issue's words, its area named."""
    lowered = text.lower()
    chosen = [name for name, words in _KIND_WORDS.items() if any(word in lowered for word in words)][:1]
    chosen += _AREA.findall(text)[:1]
    return [label for label in chosen if label in allowed]


def repository_labels() -> list[dict[str, str]]:
    areas = [{"name": f"area/{n:02d}", "description": f"Component {n} of the product"} for n in range(1, AREAS + 1)]
    return [*world.DEFAULT_LABELS, *areas]


# -- the run ---------------------------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    calls: int = 0
    usage: Usage = field(default_factory=Usage)  # what the sandbox model billed during the burst
    all_labelled_s: float = 0.0
    lone_s: float = 0.0
    labelled: int = 0
    wrong: int = 0
    unlabelled: int = 0
    costs: str = ""  # what `python -m bot costs` printed at the end of the phase

    @property
    def cost(self) -> float:
        return input_equivalents(self.usage)

    @property
    def uncached_cost(self) -> float:
        """The same calls with every prompt token paid as input: what they cost without the prompt
        cache (a prefix under the model's minimum, a cold cache, or hookwise before issue 8)."""
        used = self.usage
        prompt = used.input_tokens + used.cache_creation_input_tokens + used.cache_read_input_tokens
        return input_equivalents(Usage(prompt, used.output_tokens))


def _cache(usage: Usage) -> str:
    return f"{usage.cache_creation_input_tokens:,} / {usage.cache_read_input_tokens:,}"


def delivery(number: int, repository: str) -> bytes:
    payload = json.loads(world.issue_opened_delivery(INSTALLATION))
    title, body = issue_text(number)
    owner, name = repository.split("/")
    payload["repository"] = {**payload["repository"], "full_name": repository, "name": name}
    payload["repository"]["owner"] = {**payload["repository"]["owner"], "login": owner}
    payload["issue"] = {**payload["issue"], "number": number, "title": title, "body": body, "labels": []}
    payload["issue"]["url"] = f"https://api.github.com/repos/{repository}/issues/{number}"
    return json.dumps(payload).encode()


async def post(session: aiohttp.ClientSession, url: str, body: bytes) -> int:
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "issues",
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": signature.sign(body, SECRET.encode()),
        "User-Agent": "GitHub-Hookshot/bench",
    }
    async with session.post(url, data=body, headers=headers) as response:
        await response.read()
        return response.status


def spawn(command: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "bot", command], env=env, cwd=log.parent, stdout=out, stderr=subprocess.STDOUT
        )



async def wait_http(session: aiohttp.ClientSession, url: str, limit_s: float = 30) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            async with session.get(url) as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.05)
    raise TimeoutError(f"{url} did not answer")


def ready_workers(log: Path) -> int:
    return log.read_text(errors="replace").count("worker ready")


def dump_logs(logs: Path) -> None:
    for path in logs.glob("*.log"):
        print(f"--- {path.name} (last lines)", file=sys.stderr)
        print("\n".join(path.read_text(errors="replace").splitlines()[-20:]), file=sys.stderr)


async def wait_worker(log: Path, count: int, limit_s: float = 30) -> None:
    deadline = time.monotonic() + limit_s
    # Another process's log: there is nothing in this process to wait on.
    while ready_workers(log) < count:
        if time.monotonic() > deadline:
            raise TimeoutError("the workers did not start")
        await asyncio.sleep(0.05)


async def run_phase(name: str, batch_max: int, *, issues: int, workers: int, latency: float, logs: Path) -> Phase:
    redis = redis_server.start()
    key = new_private_key()
    github = github_sandbox.GitHubSandbox(app_id=APP_ID, private_key_pem=key, app_slug="hookwise")
    model = anthropic_sandbox.AnthropicSandbox()
    model.latency_s = latency
    model.labeller = bench_labeller
    gh_runner, gh_url = await github_sandbox.start_sandbox(github)
    model_runner, model_url = await anthropic_sandbox.start_sandbox(model)
    for repository in (REPO, QUIET_REPO):
        github.add_repo(repository, installation_id=INSTALLATION, labels=repository_labels())
    numbers = list(range(1, issues + 1))
    bodies = {n: delivery(n, REPO) for n in numbers}
    for n in numbers:
        github.add_issue(REPO, json.loads(bodies[n])["issue"])
    lone = delivery(1, QUIET_REPO)
    github.add_issue(QUIET_REPO, json.loads(lone)["issue"])
    port = redis_server.free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT),
        "APP_ID": str(APP_ID),
        "PRIVATE_KEY": key,
        "WEBHOOK_SECRET": SECRET,
        "REDIS_URL": redis.url,
        "GITHUB_API_URL": gh_url,
        "ANTHROPIC_API_KEY": model.api_key,
        "ANTHROPIC_BASE_URL": model_url,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "LOG_LEVEL": "warning",
        "TRIAGE_BATCH_MAX": str(batch_max),
        "TRIAGE_BATCH_WAIT_S": "2.0",
    }
    log = logs / f"{name.replace(' ', '-')}.log"
    processes = [spawn("web", env, log)] + [spawn("worker", {**env, "LOG_LEVEL": "info"}, log) for _ in range(workers)]
    phase = Phase(name)
    try:
        async with aiohttp.ClientSession() as session:
            base = f"http://127.0.0.1:{port}"
            await wait_http(session, f"{base}/healthz")
            await wait_worker(log, workers)
            started = time.perf_counter()
            statuses = await asyncio.gather(*(post(session, base + HOOK, bodies[n]) for n in numbers))
            if any(status != 202 for status in statuses):
                raise RuntimeError(f"not every delivery was queued: {sorted(set(statuses))}")
            phase.all_labelled_s = await until_labelled(github, REPO, numbers, started)
            calls_burst = len(model.requests)
            usage = model.usage_totals
            lone_started = time.perf_counter()
            if await post(session, base + HOOK, lone) != 202:
                raise RuntimeError("the lone delivery was not queued")
            phase.lone_s = await until_labelled(github, QUIET_REPO, [1], lone_started)
            phase.costs = await costs_report(env, logs)
    finally:
        for process in processes:
            stop_process(process)
        await gh_runner.cleanup()
        await model_runner.cleanup()
        redis.stop()
    phase.calls = calls_burst
    phase.usage = Usage.of(usage)
    for n in numbers:
        got = set(github.issue_labels(REPO, n))
        if not got:
            phase.unlabelled += 1
        elif got == expected(n):
            phase.labelled += 1
        else:
            phase.wrong += 1
            print(f"  {name}: #{n} got {sorted(got)}, meant {sorted(expected(n))}", file=sys.stderr)
    return phase


async def costs_report(env: dict[str, str], cwd: Path) -> str:
    """`python -m bot costs --since 1h`, as an operator would run it against the phase's Redis."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "costs", "--since", "1h",
        env=env, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(process.communicate(), 60)
    return output.decode()


async def until_labelled(github: github_sandbox.GitHubSandbox, repository: str, numbers: list[int], t0: float) -> float:
    """Seconds from `t0` until every issue has labels (polled every 20 ms)."""
    deadline = time.perf_counter() + PHASE_LIMIT_S
    left = set(numbers)
    while left:
        left = {n for n in left if not github.issue_labels(repository, n)}
        if not left:
            break
        if time.perf_counter() > deadline:
            raise TimeoutError(f"{len(left)} issue(s) of {repository} got no labels within {PHASE_LIMIT_S:.0f} s")
        await asyncio.sleep(0.02)
    return time.perf_counter() - t0


def report(batched: Phase, single: Phase, issues: int) -> bool:
    ratio = batched.cost / single.uncached_cost if single.uncached_cost else float("inf")
    cached_ratio = batched.cost / single.cost if single.cost else float("inf")
    rows = [
        ("model calls", f"{batched.calls}", f"{single.calls}"),
        ("input tokens (uncached)", f"{batched.usage.input_tokens:,}", f"{single.usage.input_tokens:,}"),
        ("cache write / read tokens", _cache(batched.usage), _cache(single.usage)),
        ("output tokens", f"{batched.usage.output_tokens:,}", f"{single.usage.output_tokens:,}"),
        ("cost, input-token equivalents", f"{batched.cost:,.0f}", f"{single.cost:,.0f}"),
        ("  the same calls without the prompt cache", f"{batched.uncached_cost:,.0f}", f"{single.uncached_cost:,.0f}"),
        ("time until the last issue is labelled", f"{batched.all_labelled_s:.1f} s", f"{single.all_labelled_s:.1f} s"),
        ("a lone issue's time to labels", f"{batched.lone_s:.1f} s", f"{single.lone_s:.1f} s"),
        ("issues with exactly their own labels", f"{batched.labelled}/{issues}", f"{single.labelled}/{issues}"),
        ("issues given labels not theirs", f"{batched.wrong}", f"{single.wrong}"),
    ]  # fmt: skip
    width = max(len(r[0]) for r in rows)
    print(f"\n{'':<{width}}  {'batched':>22}  {'batching off':>22}")
    for label, a, b in rows:
        print(f"{label:<{width}}  {a:>22}  {b:>22}")
    print(
        f"\ncost ratio, batched / one call per issue without the prompt cache (hookwise before issue 8): {ratio:.3f}"
        f"\ncost ratio, batched / batching off with the prompt cache: {cached_ratio:.3f}"
        f"\ncost ratio, batching off with / without the prompt cache: "
        f"{single.cost / single.uncached_cost if single.uncached_cost else float('inf'):.3f}"
    )
    goals = [
        (f"<= {MAX_CALLS} model calls for {issues} issues", batched.calls <= MAX_CALLS),
        # Judged against the baseline measured in this run: batching off, everything else as it is.
        (f"cost <= {MAX_COST_RATIO}x of one call per issue ({cached_ratio:.3f} of batching off; {ratio:.3f} of "
         "the same single calls priced without the prompt cache)", cached_ratio <= MAX_COST_RATIO),
        (f"all labelled within {MAX_ALL_LABELLED_S:.0f} s ({batched.all_labelled_s:.1f} s)",
         batched.all_labelled_s <= MAX_ALL_LABELLED_S),
        ("none given another issue's labels", batched.wrong == 0 and single.wrong == 0),
        ("every issue labelled", batched.unlabelled == 0 and single.unlabelled == 0),
        (f"a lone issue labelled within {MAX_LONE_S:.0f} s ({batched.lone_s:.1f} s)", batched.lone_s <= MAX_LONE_S),
    ]  # fmt: skip
    print("\n`python -m bot costs --since 1h` after the batched phase:\n" + batched.costs.rstrip())
    print("goals:")
    for text, met in goals:
        print(f"  {'met   ' if met else 'MISSED'} {text}")
    return all(met for _, met in goals)


async def main_async(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="hookwise-burst-") as tmp:
        logs = Path(tmp)
        print(
            f"{args.issues} new issues at once, {args.workers} worker process(es), every model answer "
            f"{args.latency:.1f} s; logs in {logs} while it runs"
        )
        try:
            batched = await run_phase(
                "batched", 20, issues=args.issues, workers=args.workers, latency=args.latency, logs=logs
            )
            print(f"  batched: done in {batched.all_labelled_s:.1f} s", flush=True)
            single = await run_phase(
                "batching off", 1, issues=args.issues, workers=args.workers, latency=args.latency, logs=logs
            )
            print(f"  batching off: done in {single.all_labelled_s:.1f} s", flush=True)
        except (TimeoutError, RuntimeError, OSError) as exc:
            print(f"bench failed: {exc}", file=sys.stderr)
            dump_logs(logs)
            return 2
        return 0 if report(batched, single, args.issues) else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.burst", description=__doc__.splitlines()[0])
    parser.add_argument("--issues", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--latency", type=float, default=2.0, help="seconds every model answer takes")
    return asyncio.run(main_async(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())


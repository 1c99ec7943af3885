"""Forgetting repositories (bot/core/operations/forget.py, bot/adapters/store/forget.py): after `installation`
`deleted`, `installation_repositories` `removed` or `python -m bot forget`, a scan of Redis finds
no key or value naming those repositories, another installation's data is untouched, and the cost
ledger keeps its numbers under no name. The data is made the real way: deliveries through the web
app (or the web process) and the worker, against the sandboxes."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from bot.adapters.store import keys
from bot.adapters.store.fairness import Fairness
from bot.adapters.store.forget import Forgetter
from bot.config import Settings
from bot.core.operations import forget
from bot.sandbox import world as sandbox_world
from bot.sandbox.anthropic import AnthropicSandbox
from bot.sandbox.github import GitHubSandbox
from bot.sandbox.world import DEFAULT_LABELS
from bot.worker.heartbeat import Beating, WorkerStats
from tests.helpers import (
    HOOK,
    MERGED,
    ROOT,
    Processes,
    add_issues,
    api_json,
    delivery_headers,
    guid,
    healthy,
    issue_delivery,
    run_cli,
    run_worker,
    triage_answer,
    wait_until,
    webhook_bytes,
)
from tests.test_processes import start_web, start_worker

GONE, GONE_INSTALLATION = "octocat/Hello-World", 2  # the installation of GitHub's `installation.deleted` example
KEPT, KEPT_INSTALLATION = "C-Saunders/flynn_env_test", 461842
MAINTAINER = "maintainer-mia"
FAST = {"retry_base_s": 0.01, "job_timeout_s": 4.0}  # the second pass of a forget 5 s later, not 75


# -- the pure part ---------------------------------------------------------------------------------


def test_repository_names_are_found_however_they_are_written() -> None:
    text = (
        "hookwise:triage:octocat/hello-world#12 triage-batch:Octocat/Hello-World:3 "
        '{"repository":"octocat/Hello-World"} https://github.com/octocat/Hello-World/pull/2 in octocat/Hello-World.'
    )
    assert set(forget.candidates(text)) >= {"octocat/hello-world"}
    targets = frozenset({forget.digest("Octocat/Hello-World")})
    assert forget.names_any(text, targets)
    assert not forget.names_any("hookwise:triage:Codertocat/Hello-World#1 github.com/octocat", targets)
    assert not forget.names_any("no names here", frozenset())


def test_a_record_belongs_to_its_own_repository_not_to_one_it_mentions() -> None:
    targets = frozenset({forget.digest(GONE)})
    other = json.dumps({"repository": KEPT, "installation_id": 1, "detail": f"fixes {GONE}#3"})
    mine = json.dumps({"repository": GONE, "installation_id": 2, "detail": "labels added"})
    assert not forget.owned(other, other, targets)
    assert forget.owned(mine, mine, targets)
    envelope = json.dumps({"f": "triage_batch", "k": {"round": {"repository": GONE, "installation_id": 2}}})
    assert forget.owned(envelope, envelope, targets)


def test_the_cost_ledger_keeps_its_numbers_under_no_name() -> None:
    targets = frozenset({forget.digest(GONE)})
    assert forget.anonymised(f"2|{GONE}|summary|anthropic|claude-haiku-5-5|calls", targets) == (
        "2|(removed)|summary|anthropic|claude-haiku-5-5|calls"
    )
    assert forget.anonymised(f"2|{GONE}|summary|claude-haiku-5-5|calls", targets) == (  # filed before providers
        "2|(removed)|summary|claude-haiku-5-5|calls"
    )
    assert forget.anonymised(f"1|{KEPT}|summary|m|calls", targets) is None
    whole = forget.anonymised(f"1|{KEPT}|summary|m|calls", frozenset(), installation_id=1)
    assert whole == "1|(removed)|summary|m|calls"
    assert forget.cost_repositories([f"2|{GONE}|triage||skipped", f"1|{KEPT}|x|m|calls"], 2) == {GONE.lower()}


# -- the data, made the real way -------------------------------------------------------------------


def merged_delivery(github: GitHubSandbox, full_name: str, installation_id: int) -> bytes:
    """The real merged-PR delivery, moved to `full_name` of `installation_id`; seeded in the sandbox."""
    text = MERGED.decode().replace("C-Saunders/flynn_env_test", full_name)
    payload = json.loads(text)
    owner, name = full_name.split("/")
    payload["repository"].update(name=name, full_name=full_name)
    payload["repository"]["owner"]["login"] = owner
    payload["installation"] = {"id": installation_id}
    github.seed_from_payload(payload)
    pull = payload["pull_request"]
    commits = [{"sha": pull["merge_commit_sha"], "commit": {"message": f"Fix the docs of {full_name}"}}]
    github.add_pull(full_name, pull, files=api_json("pulls/list-files.github3py-235.json"), commits=commits)
    github.set_permission(full_name, MAINTAINER, "maintain")
    return json.dumps(payload).encode()


def world_of(github: GitHubSandbox, full_name: str, installation_id: int) -> list[tuple[str, bytes]]:
    """Every kind of data hookwise keeps about a repository: a merged PR (summary, its record, the
    effect, the draft, the cost), a new issue (batched triage, its agreement record), a maintainer's
    command (the permission cache, the cooldown, a reply) and a person's label change."""
    merged = merged_delivery(github, full_name, installation_id)
    github.add_repo(full_name, installation_id=installation_id, labels=DEFAULT_LABELS)
    add_issues(github, {7: f"A bug in {full_name}: the docs say otherwise."}, repository=full_name)
    issue = issue_delivery(7, repository=full_name, installation_id=installation_id)
    command = sandbox_world.command_delivery(github, merged, 2, "@hookwise summarize", MAINTAINER)
    return [("pull_request", merged), ("issues", issue), ("issue_comment", command)]


def label_change(github: GitHubSandbox, full_name: str, installation_id: int) -> bytes:
    return sandbox_world.label_delivery(
        github, issue_delivery(7, repository=full_name, installation_id=installation_id), "question", MAINTAINER,
        added=True,
    )  # fmt: skip


async def everything(redis: Redis) -> dict[str, Any]:
    """Every key and its value, as text: what a scan of Redis sees."""
    found: dict[str, Any] = {}
    async for raw in redis.scan_iter(count=1000):
        key = raw.decode()
        kind = (await redis.type(key)).decode()
        if kind == "string":
            value: Any = (await redis.get(key) or b"").decode("utf-8", "replace")
        elif kind == "hash":
            value = {k.decode(): v.decode("utf-8", "replace") for k, v in (await redis.hgetall(key)).items()}  # type: ignore[misc]
        elif kind == "list":
            value = [v.decode() for v in await redis.lrange(key, 0, -1)]  # type: ignore[misc]
        elif kind == "set":
            value = sorted(v.decode() for v in await redis.smembers(key))  # type: ignore[misc]
        elif kind == "zset":
            value = sorted(v.decode() for v in await redis.zrange(key, 0, -1))
        else:
            continue
        found[key] = value
    return found


def naming(data: dict[str, Any], names: Iterable[str]) -> list[str]:
    """The keys whose name or value names one of `names` (case-insensitive, as a whole `owner/name`)."""
    patterns = [re.compile(rf"(?<![A-Za-z0-9-]){re.escape(name)}(?![A-Za-z0-9._-])", re.I) for name in names]
    return [key for key, value in data.items() if any(p.search(f"{key} {json.dumps(value)}") for p in patterns)]


def kept_data(data: dict[str, Any]) -> dict[str, Any]:
    """The other installation's data: its own keys whole, and its fields and members of the keys
    it shares with others (the cost ledger's hours, the list of triaged repositories...)."""
    kept: dict[str, Any] = {}
    for key in naming(data, [KEPT]):
        if key.startswith((keys.ARQ_RESULT, keys.COOLDOWN)):  # they go after 60 s anyway, forget or not
            continue
        value = data[key]
        if KEPT.lower() in key.lower() or not isinstance(value, dict | list):
            kept[key] = value
        elif isinstance(value, dict) and key.startswith(keys.COST):
            kept[key] = {f: v for f, v in value.items() if KEPT.lower() in f.lower()}
        elif isinstance(value, list) and any(KEPT.lower() in v.lower() for v in value if isinstance(v, str)):
            kept[key] = [v for v in value if KEPT.lower() in v.lower()]
        else:
            kept[key] = value
    return kept


def cost_numbers(data: dict[str, Any], installation_id: int) -> dict[str, float]:
    """The cost ledger's totals per task, model and column for one installation, whatever the repository."""
    totals: dict[str, float] = {}
    for key, value in data.items():
        if key.startswith(keys.COST) and isinstance(value, dict):
            for name, number in value.items():
                parts = name.split("|")
                if parts[0] == str(installation_id):
                    slot = "|".join(parts[2:])
                    totals[slot] = totals.get(slot, 0.0) + float(number)
    return totals


async def assert_forgotten(redis: Redis, before: dict[str, Any]) -> None:
    after = await everything(redis)
    assert naming(after, [GONE]) == []
    assert kept_data(after) == kept_data(before)  # the other installation's data, untouched
    assert cost_numbers(after, GONE_INSTALLATION) == pytest.approx(cost_numbers(before, GONE_INSTALLATION))
    assert cost_numbers(after, GONE_INSTALLATION)  # ... the numbers stay, without the name


async def populate_in_process(
    client: TestClient[Any, Any], settings: Settings, github: GitHubSandbox, model: AnthropicSandbox, redis: Redis
) -> dict[str, Any]:
    model.responder = triage_answer("documentation", reason="The docs.")
    deliveries = world_of(github, GONE, GONE_INSTALLATION) + world_of(github, KEPT, KEPT_INSTALLATION)
    for event, body in deliveries:
        response = await client.post(HOOK, data=body, headers=delivery_headers(event, body))
        assert response.status == 202, await response.text()
    await run_worker(settings, **FAST)
    for full_name, installation in ((GONE, GONE_INSTALLATION), (KEPT, KEPT_INSTALLATION)):
        body = label_change(github, full_name, installation)
        assert (await client.post(HOOK, data=body, headers=delivery_headers("issues", body))).status == 202
    await run_worker(settings, **FAST)
    return await everything(redis)


def assert_every_kind_is_there(data: dict[str, Any]) -> None:
    """The test's data holds every kind of data about the repository hookwise keeps."""
    named = naming(data, [GONE])
    for prefix in (keys.DELIVERY, keys.RECORD, keys.EFFECT, keys.DRAFT, keys.SUMMARY_RECORD, keys.PERMISSION,
                   keys.COOLDOWN, keys.TRIAGE, keys.TRIAGE_CHANGES, keys.TRIAGED, keys.TRIAGE_POLICY, keys.COST,
                   keys.INSTALLATION_REPOS, keys.TRIAGED_REPOS):  # fmt: skip
        assert any(key.startswith(prefix) for key in named), prefix


# -- on demand -----------------------------------------------------------------------------------------


async def test_forget_a_repository_on_demand(
    client: TestClient[Any, Any], settings: Settings, github: GitHubSandbox, model: AnthropicSandbox,
    redis: Redis, settings_env: dict[str, str], tmp_path: Path,
) -> None:  # fmt: skip
    before = await populate_in_process(client, settings, github, model, redis)
    assert_every_kind_is_there(before)
    code, output = await run_cli(settings_env, tmp_path, "forget", GONE)
    assert code == 0, output
    assert output.startswith(f"{GONE}: forgot 1 repository: ") and "second pass" in output
    await assert_forgotten(redis, before)
    # The second pass, queued for a worker 75 s later (here: now), finds nothing more and names nothing.
    [again] = [m for m in await redis.zrange(keys.QUEUE, 0, -1) if m.endswith(b":forget-again")]
    await redis.zadd(keys.QUEUE, {again: int(time.time() * 1000)})
    await run_worker(settings, **FAST)
    await assert_forgotten(redis, before)


async def test_forget_a_whole_installation_on_demand(
    client: TestClient[Any, Any], settings: Settings, github: GitHubSandbox, model: AnthropicSandbox,
    redis: Redis, settings_env: dict[str, str], tmp_path: Path,
) -> None:  # fmt: skip
    before = await populate_in_process(client, settings, github, model, redis)
    code, output = await run_cli(settings_env, tmp_path, "forget", "--installation", str(GONE_INSTALLATION))
    assert code == 0, output
    assert output.startswith(f"installation {GONE_INSTALLATION} (1 repository): forgot 1 repository")
    await assert_forgotten(redis, before)


@pytest.mark.e2e  # `python -m bot forget` processes
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("forget", "not-a-repository"), "hookwise: forget: expected OWNER/REPO, got 'not-a-repository'"),
        (("forget",), "hookwise: forget: give OWNER/REPO or --installation ID (one of them)"),
        (("forget", GONE, "--installation", "2"), "hookwise: forget: give OWNER/REPO or --installation ID"),
    ],
)
async def test_forget_says_in_one_line_what_is_wrong(
    settings_env: dict[str, str], tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    code, output = await run_cli(settings_env, tmp_path, *args)
    assert code == 2
    assert output.strip().splitlines()[-1].startswith(message)


@pytest.mark.e2e  # a `python -m bot forget` process
async def test_forget_without_redis_exits_1_with_one_line(settings_env: dict[str, str], tmp_path: Path) -> None:
    from bot.sandbox import redis_server

    env = {**settings_env, "REDIS_URL": f"redis://127.0.0.1:{redis_server.free_port()}"}
    code, output = await run_cli(env, tmp_path, "forget", GONE)
    assert code == 1
    assert output.strip().splitlines()[-1].startswith("hookwise: forget: Redis at REDIS_URL did not answer")


async def test_repositories_removed_from_the_installation_are_forgotten(
    client: TestClient[Any, Any], settings: Settings, github: GitHubSandbox, model: AnthropicSandbox, redis: Redis
) -> None:
    before = await populate_in_process(client, settings, github, model, redis)
    removed = webhook_bytes("installation_repositories/removed.json")
    response = await client.post(HOOK, data=removed, headers=delivery_headers("installation_repositories", removed))
    assert (response.status, (await response.json())["status"]) == (202, "queued")
    await run_worker(settings, **FAST)
    await assert_forgotten(redis, before)


# -- the worker's in-memory caches -------------------------------------------------------------------


async def test_a_worker_empties_its_caches_once_per_forget_not_on_every_beat(redis: Redis) -> None:
    emptied: list[int] = []
    beating = Beating(redis, WorkerStats(), slots=10, fairness=Fairness(redis), forget_caches=lambda: emptied.append(1))
    for _ in range(3):  # no forget has ever run: the epoch key does not exist
        await beating.beat()
    assert emptied == []
    await Forgetter(redis, second_pass_s=0).forget([])  # a forget bumps the epoch
    for _ in range(3):
        await beating.beat()
    assert emptied == [1]


# -- through the real processes --------------------------------------------------------------------


async def test_after_the_app_is_uninstalled_nothing_names_its_repositories_within_a_minute(
    processes: Processes, github: GitHubSandbox, model: AnthropicSandbox, redis: Redis
) -> None:
    model.responder = triage_answer("documentation", reason="The docs.")
    base = start_web(processes, "web")
    start_worker(processes, "worker")
    deliveries = world_of(github, GONE, GONE_INSTALLATION) + world_of(github, KEPT, KEPT_INSTALLATION)
    async with aiohttp.ClientSession() as session:
        await wait_until(lambda: healthy(session, f"{base}/healthz"), "web up")
        names = []
        for n, (event, body) in enumerate(deliveries):
            names.append(f"world-{n}")
            async with session.post(f"{base}{HOOK}", data=body, headers=delivery_headers(event, body, names[-1])) as r:
                assert r.status == 202
        await wait_until(lambda: _done(redis, names), "every delivery handled", limit_s=90)
        for n, (full_name, installation) in enumerate(((GONE, GONE_INSTALLATION), (KEPT, KEPT_INSTALLATION))):
            body = label_change(github, full_name, installation)
            names.append(f"label-{n}")
            headers = delivery_headers("issues", body, names[-1])
            async with session.post(f"{base}{HOOK}", data=body, headers=headers) as r:
                assert r.status == 202
        await wait_until(lambda: _done(redis, names), "the label changes handled", limit_s=60)
        before = await everything(redis)
        assert_every_kind_is_there(before)

        uninstall = webhook_bytes("installation/deleted.json")
        headers = delivery_headers("installation", uninstall, "uninstalled")
        async with session.post(f"{base}{HOOK}", data=uninstall, headers=headers) as response:
            assert response.status == 202
        accepted = time.monotonic()

        async def forgotten() -> bool:
            return not naming(await everything(redis), [GONE]) and await _done(redis, ["uninstalled"])

        await wait_until(forgotten, "nothing naming the uninstalled installation's repository", limit_s=60)
        print(f"FIGURE forget: nothing names the repository {time.monotonic() - accepted:.1f} s after the uninstall")
    await assert_forgotten(redis, before)
    record = json.loads(await redis.get(keys.record(guid("uninstalled"))))
    assert record["outcome"] == "done" and record["detail"].startswith("forgot 1 repository")
    assert GONE.lower() not in json.dumps(record).lower()


async def _done(redis: Redis, names: list[str]) -> bool:
    states = [await redis.hget(keys.delivery(guid(name)), "state") for name in names]  # type: ignore[misc]
    return all(state == b"done" for state in states)


def test_docs_list_every_kind_of_data() -> None:
    """docs/data.md names every Redis key prefix bot/adapters/store/keys.py declares."""
    source = (ROOT / "bot/adapters/store/keys.py").read_text()
    declared = re.findall(r'^[A-Z_]+ = "((?:hookwise|arq):[^"]*)"', source, re.M)
    text = (ROOT / "docs" / "data.md").read_text()
    missing = [prefix for prefix in declared if f"`{prefix}" not in text]
    assert declared and missing == []

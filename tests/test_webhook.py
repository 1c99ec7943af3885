"""Every row of the contract's status table, through the real aiohttp app and a real Redis."""

from __future__ import annotations

import io
import json
import urllib.parse
import uuid
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from redis.asyncio import Redis

from bot.adapters.store.ledger import QUEUE_NAME, deserialize_job
from bot.config import ConfigError, Settings, load_settings
from bot.sandbox import redis_server
from bot.web.app import create_app
from bot.web.metrics import LATENCY_BUCKETS, WebMetrics
from tests.helpers import HOOK, SECRET, delivery_headers, delivery_state, guid, webhook_bytes, with_installation

MERGED = webhook_bytes("pull_request/closed.merged.app.json")


async def post(client: TestClient[Any, Any], body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    # Large bodies go as a stream, as aiohttp asks (a bytes body over 1 MiB warns).
    data: bytes | io.BytesIO = io.BytesIO(body) if len(body) > 1024 * 1024 else body
    response = await client.post(HOOK, data=data, headers=headers)
    text = await response.text()
    return response.status, (json.loads(text) if text and response.content_type == "application/json" else text)


async def test_merged_pr_is_queued_with_a_slim_json_job(client: TestClient[Any, Any], redis: Redis) -> None:
    headers = delivery_headers("pull_request", MERGED, delivery="d-1")
    status, body = await post(client, MERGED, headers)
    assert (status, body["status"], body["delivery"]) == (202, "queued", guid("d-1"))
    d1 = guid("d-1")
    job_ids = await redis.zrange(QUEUE_NAME, 0, -1)
    assert job_ids == [f"{d1}:1".encode()]
    job = deserialize_job(await redis.get(f"arq:job:{d1}:1"))
    assert job["f"] == "process_delivery"
    queued = job["k"]["job"]
    assert queued == {
        "v": 2,
        "kind": "summary",
        "delivery_id": d1,
        "event": "pull_request",
        "action": "closed",
        "installation_id": 461842,
        "repository": "C-Saunders/flynn_env_test",
        "number": 2,
    }
    assert len(json.dumps(job)) < len(MERGED) / 10  # only what the worker needs travels
    assert await delivery_state(redis, d1) == b"queued"
    assert 3 * 24 * 3600 < await redis.ttl(f"hookwise:delivery:{d1}") <= 4 * 24 * 3600


async def test_same_delivery_again_is_a_duplicate(client: TestClient[Any, Any], redis: Redis) -> None:
    headers = delivery_headers("pull_request", MERGED, delivery="d-dup")
    assert (await post(client, MERGED, headers))[0] == 202
    assert await post(client, MERGED, headers) == (200, {"status": "duplicate"})
    assert await redis.zcard(QUEUE_NAME) == 1


@pytest.mark.parametrize(
    ("event", "path", "status_word"),
    [
        ("ping", "ping/app-hook.json", "pong"),
        ("ping", "ping/repository-hook.json", "pong"),
        ("installation", "installation/created.json", "ignored"),
        ("installation_repositories", "installation_repositories/added.json", "ignored"),
        ("pull_request", "pull_request/closed.not-merged.app.json", "ignored"),
        ("pull_request", "pull_request/opened.json", "ignored"),
        ("push", "push/with-installation.json", "ignored"),
        ("label", "label/created.json", "ignored"),
        ("issues", "issues/closed.app.json", "ignored"),
        *[
            (path.split("/")[0], path, "ignored")
            for path in (
                "installation/created.with-requester.json",
                "installation/new_permissions_accepted.json",
                "installation/suspend.json",
                "installation/unsuspend.json",
                "issue_comment/deleted.json",
                "issues/deleted.json",
                "issues/reopened.json",
                "issues/transferred.json",
                "pull_request/closed.with-organization.json",
                "pull_request/converted_to_draft.json",
                "pull_request/edited.json",
                "pull_request/labeled.json",
                "pull_request/opened.with-null-body.json",
                "pull_request/ready_for_review.json",
                "pull_request/reopened.json",
                "pull_request/synchronize.json",
                "pull_request/unlabeled.json",
            )
        ],
    ],
)
async def test_events_the_bot_does_not_act_on_are_ignored(
    client: TestClient[Any, Any], redis: Redis, event: str, path: str, status_word: str
) -> None:
    body = webhook_bytes(path)
    status, answer = await post(client, body, delivery_headers(event, body))
    assert (status, answer["status"]) == (200, status_word)
    assert await redis.zcard(QUEUE_NAME) == 0


async def test_issue_opened_and_command_comment_are_queued(client: TestClient[Any, Any], redis: Redis) -> None:
    issue = with_installation(webhook_bytes("issues/opened.json"))
    assert (await post(client, issue, delivery_headers("issues", issue)))[0] == 202
    comment = json.loads(with_installation(webhook_bytes("issue_comment/created.on-pull-request.json")))
    comment["comment"]["body"] = "Thanks!\n@hookwise summarize\n"
    raw = json.dumps(comment).encode()
    assert (await post(client, raw, delivery_headers("issue_comment", raw)))[0] == 202
    assert await redis.zcard(QUEUE_NAME) == 2


@pytest.mark.parametrize(
    "signature_header",
    [None, "", "sha256=", "sha256=zz", "sha1=0123456789abcdef0123456789abcdef01234567", "sha256=" + "0" * 64],
)
async def test_bad_signatures_are_401(client: TestClient[Any, Any], redis: Redis, signature_header: str | None) -> None:
    headers = delivery_headers("pull_request", MERGED)
    del headers["X-Hub-Signature-256"]
    if signature_header is not None:
        headers["X-Hub-Signature-256"] = signature_header
    status, answer = await post(client, MERGED, headers)
    assert status == 401 and "error" in answer
    assert await redis.zcard(QUEUE_NAME) == 0


async def test_sha1_alone_is_not_enough(client: TestClient[Any, Any]) -> None:
    import hashlib
    import hmac

    headers = delivery_headers("pull_request", MERGED)
    del headers["X-Hub-Signature-256"]
    headers["X-Hub-Signature"] = "sha1=" + hmac.new(SECRET.encode(), MERGED, hashlib.sha1).hexdigest()
    assert (await post(client, MERGED, headers))[0] == 401


async def test_signature_over_other_bytes_is_401(client: TestClient[Any, Any]) -> None:
    headers = delivery_headers("pull_request", MERGED)
    reserialised = json.dumps(json.loads(MERGED)).encode()  # same JSON, other bytes
    assert (await post(client, reserialised, headers))[0] == 401


async def test_any_of_the_rotated_secrets_is_accepted(
    aiohttp_client: Any, settings_env: dict[str, str], redis: Redis, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    rotated = load_settings(**{**settings_env, "WEBHOOK_SECRET": f"new-secret, {SECRET}"})
    client = await aiohttp_client(create_app(rotated))
    for secret in ("new-secret", SECRET):
        status, _ = await post(client, MERGED, delivery_headers("pull_request", MERGED, secret=secret))
        assert status == 202
    assert (await post(client, MERGED, delivery_headers("pull_request", MERGED, secret="old")))[0] == 401


@pytest.mark.parametrize("missing", ["X-GitHub-Event", "X-GitHub-Delivery"])
async def test_missing_event_or_delivery_header_is_400(client: TestClient[Any, Any], missing: str) -> None:
    headers = delivery_headers("pull_request", MERGED)
    del headers[missing]
    status, answer = await post(client, MERGED, headers)
    assert status == 400 and missing in answer["error"]


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'"text"', b"\xff\xfe", b"", b"null"])
async def test_verified_body_that_is_not_a_json_object_is_400(client: TestClient[Any, Any], body: bytes) -> None:
    status, answer = await post(client, body, delivery_headers("pull_request", body))
    assert status == 400 and "error" in answer


async def test_payload_missing_what_its_event_carries_is_400(client: TestClient[Any, Any]) -> None:
    payload = json.loads(MERGED)
    payload["pull_request"]["number"] = "not a number"
    body = json.dumps(payload).encode()
    status, answer = await post(client, body, delivery_headers("pull_request", body))
    assert status == 400 and "pull_request" in answer["error"]


async def test_body_over_25_mib_is_413(client: TestClient[Any, Any], redis: Redis) -> None:
    body = b'{"pad": "' + b"x" * (25 * 1024 * 1024) + b'"}'
    status, _ = await post(client, body, delivery_headers("pull_request", body))
    assert status == 413


async def test_body_just_under_the_cap_is_read(client: TestClient[Any, Any]) -> None:
    payload = json.loads(MERGED)
    payload["pad"] = "x" * (24 * 1024 * 1024)  # far above aiohttp's 1 MiB default
    body = json.dumps(payload).encode()
    status, answer = await post(client, body, delivery_headers("pull_request", body))
    assert (status, answer["status"]) == (202, "queued")


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "multipart/form-data"])
async def test_other_content_types_are_415(client: TestClient[Any, Any], content_type: str) -> None:
    headers = delivery_headers("pull_request", MERGED, content_type=content_type)
    assert (await post(client, MERGED, headers))[0] == 415


async def test_form_encoded_delivery_is_accepted(client: TestClient[Any, Any], redis: Redis) -> None:
    # The real urlencoded delivery carries no signature (no secret was set): sign its exact bytes.
    ping = webhook_bytes("ping/urlencoded.body.txt").strip()
    form = "application/x-www-form-urlencoded"
    status, answer = await post(client, ping, delivery_headers("ping", ping, content_type=form))
    assert (status, answer["status"]) == (200, "pong")
    merged = b"payload=" + urllib.parse.quote_plus(MERGED.decode()).encode()
    status, answer = await post(client, merged, delivery_headers("pull_request", merged, content_type=form))
    assert (status, answer["status"]) == (202, "queued")


async def test_form_without_payload_field_is_400(client: TestClient[Any, Any]) -> None:
    body = b"other=1"
    headers = delivery_headers("ping", body, content_type="application/x-www-form-urlencoded")
    assert (await post(client, body, headers))[0] == 400


async def test_redis_down_is_503_and_nothing_is_remembered(
    aiohttp_client: Any, settings_env: dict[str, str], redis: Redis, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    nowhere = f"redis://127.0.0.1:{redis_server.free_port()}"
    down = await aiohttp_client(create_app(load_settings(**{**settings_env, "REDIS_URL": nowhere})))
    headers = delivery_headers("pull_request", MERGED, delivery="d-503")
    status, answer = await post(down, MERGED, headers)
    assert status == 503 and "error" in answer
    assert (await down.get("/readyz")).status == 503
    assert (await down.get("/healthz")).status == 200
    # The same delivery, once a Redis answers, is new: the 503 was not remembered.
    up = await aiohttp_client(create_app(load_settings(**settings_env)))
    assert (await post(up, MERGED, headers))[0] == 202


async def test_health_readiness_and_metrics(client: TestClient[Any, Any]) -> None:
    assert (await client.get("/healthz")).status == 200
    assert (await client.get("/readyz")).status == 200
    await post(client, MERGED, delivery_headers("pull_request", MERGED))
    await post(client, MERGED, delivery_headers("pull_request", MERGED, secret="wrong"))
    response = await client.get("/metrics")
    text = await response.text()
    assert response.status == 200 and response.content_type == "text/plain"
    assert 'hookwise_deliveries_total{event="pull_request",outcome="queued"} 1.0' in text
    assert 'hookwise_deliveries_total{event="-",outcome="bad_signature"} 1.0' in text
    assert "hookwise_webhook_seconds_count 2.0" in text and "hookwise_requests_in_flight" in text


def test_the_lock_free_counts_expose_what_prometheus_clients_own_counter_and_histogram_would() -> None:
    reference = CollectorRegistry()
    counter = Counter(
        "hookwise_deliveries", "Webhook deliveries by event and outcome", ["event", "outcome"], registry=reference
    )
    histogram = Histogram(
        "hookwise_webhook_seconds", "Time to answer a webhook delivery", registry=reference, buckets=LATENCY_BUCKETS
    )
    Gauge("hookwise_requests_in_flight", "Requests being read or answered right now", registry=reference)
    ours = WebMetrics()
    # Bounds themselves (a bucket is "<= le"), between them, past the last, and a new pair late.
    answered = [("issues", "queued", 0.0025), ("issues", "queued", 0.003), ("-", "bad_signature", 0.001)]
    answered += [("issues", "duplicate", 7.0), ("issues", "queued", 0.0), ("ping", "ignored", 5.0)]
    for event, outcome, seconds in answered:
        counter.labels(event=event, outcome=outcome).inc()
        histogram.observe(seconds)
        ours.delivered(event, outcome, seconds)

    def without_times(text: bytes) -> list[str]:
        return [line for line in text.decode().splitlines() if "_created" not in line or line.startswith("#")]

    assert without_times(ours.render()) == without_times(generate_latest(reference))


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (b"\x00" * 100, {"Content-Type": "application/json"}),
        (b"{}", {"Content-Type": "application/json", "X-Hub-Signature-256": "sha256=" + "g" * 64}),
        (b"payload=%ZZ", {"Content-Type": "application/x-www-form-urlencoded"}),
        (b"{}", {"Content-Type": "application/json; charset=latin-1"}),
        (b"{}", {}),
    ],
)
async def test_garbage_never_produces_a_500(client: TestClient[Any, Any], body: bytes, headers: dict[str, str]) -> None:
    response = await client.post(HOOK, data=body, headers={"X-GitHub-Event": "x", "X-GitHub-Delivery": "y", **headers})
    assert 400 <= response.status < 500


async def test_signed_garbage_never_produces_a_500(client: TestClient[Any, Any]) -> None:
    for event in ("pull_request", "issues", "issue_comment", "ping", "installation"):
        for body in (b"{}", b'{"action": 5}', b'{"installation": "x", "repository": []}', b'{"issue": {}}'):
            status, _ = await post(client, body, delivery_headers(event, body, delivery=str(uuid.uuid4())))
            assert status in (200, 400), (event, body, status)


def test_web_refuses_to_start_without_a_secret(settings_env: dict[str, str], tmp_path: Any, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    without = {key: value for key, value in settings_env.items() if key != "WEBHOOK_SECRET"}
    with pytest.raises(ConfigError, match="WEBHOOK_SECRET"):
        create_app(load_settings(**without))


# -- hostile input: every failure has its status, and 503 means only "Redis could not take the job" --


async def test_a_body_whose_content_encoding_does_not_decode_is_400(client: TestClient[Any, Any], redis: Redis) -> None:
    body = b"\x00\x01 this is not deflate data" * 10
    headers = {**delivery_headers("pull_request", body), "Content-Encoding": "deflate"}
    status, answer = await post(client, body, headers)
    assert status == 400 and "unreadable body" in answer["error"]
    assert await redis.zcard(QUEUE_NAME) == 0


@pytest.mark.parametrize(
    "delivery",
    ["abc def*", "not-a-guid", "../../etc/passwd", "72d3162e-cc78-11e3-81ab-4c9367dc095", "é" * 36, "x" * 500],
)
async def test_a_delivery_id_that_is_not_guid_like_is_400(
    client: TestClient[Any, Any], redis: Redis, delivery: str
) -> None:
    headers = delivery_headers("pull_request", MERGED)
    headers["X-GitHub-Delivery"] = delivery
    status, answer = await post(client, MERGED, headers)
    assert status == 400 and "GUID" in answer["error"]
    assert await redis.zcard(QUEUE_NAME) == 0 and not [key async for key in redis.scan_iter("hookwise:*")]


@pytest.mark.parametrize("delivery", ["72d3162e-cc78-11e3-81ab-4c9367dc0958", "72D3162ECC7811E381AB4C9367DC0958"])
async def test_guids_with_and_without_dashes_are_accepted(client: TestClient[Any, Any], delivery: str) -> None:
    headers = delivery_headers("pull_request", MERGED)
    headers["X-GitHub-Delivery"] = delivery
    assert (await post(client, MERGED, headers))[0] == 202


@pytest.mark.parametrize(
    ("event", "change"),
    [
        ("pull_request", {"comment": {"id": 1, "body": None, "user": {"login": "x"}}}),
        ("pull_request", {"comment": {"body": None}}),
        ("pull_request", {"sender": {"login": "octocat", "id": 123456789012, "type": "User"}}),
        ("pull_request", {"sender": None}),
        ("pull_request", {"installation": {"id": 2**70}}),
        ("issues", {"issue": {"number": 10**15, "title": None, "pull_request": None}, "action": "opened"}),
        ("issues", {"action": "labeled", "label": None, "issue": {"number": 1}}),
        ("issue_comment", {"action": "created", "comment": {"id": 5, "body": None, "user": {"login": "a"}}}),
    ],
)
async def test_odd_but_signed_payloads_are_answered_never_with_a_5xx(
    client: TestClient[Any, Any], event: str, change: dict[str, Any]
) -> None:
    body = json.dumps({**json.loads(MERGED), **change}).encode()
    status, _ = await post(client, body, delivery_headers(event, body))
    assert status in (200, 202, 400), status


async def test_two_thousand_hostile_signed_requests_get_no_5xx_while_redis_is_up(client: TestClient[Any, Any]) -> None:
    import random

    rng = random.Random(2000)
    sources = [MERGED, with_installation(webhook_bytes("issues/opened.json"))]
    sources.append(with_installation(webhook_bytes("issue_comment/created.on-pull-request.json")))
    oddities: list[Any] = [None, "", "x" * 3000, 10**12, -1, 2**64, 1.5, True, [], {}, {"a": [None]}, "@hookwise help"]
    statuses: dict[int, int] = {}
    for _ in range(2000):
        payload = json.loads(rng.choice(sources))
        node, key = payload, rng.choice(list(payload))
        for _depth in range(rng.randint(0, 2)):  # reach into nested objects too
            if isinstance(node[key], dict) and node[key]:
                node, key = node[key], rng.choice(list(node[key]))
        node[key] = rng.choice(oddities)
        body = json.dumps(payload).encode()
        event = rng.choice(["pull_request", "issues", "issue_comment", "push", "ping"])
        status, _ = await post(client, body, delivery_headers(event, body))
        statuses[status] = statuses.get(status, 0) + 1
    assert set(statuses) <= {200, 202, 400}, statuses


async def test_a_bug_is_logged_with_its_delivery_and_answered_400_not_5xx(
    aiohttp_client: Any, settings: Settings, redis: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    from bot.adapters.store.ledger import Ledger
    from bot.core.ingress.job import Job
    from bot.web.keys import LEDGER

    class BrokenLedger(Ledger):
        async def accept(self, job: Job, *, replay: bool = False) -> Any:
            raise RuntimeError("a bug in hookwise")

    async def break_the_ledger(app: Any) -> None:
        app[LEDGER] = BrokenLedger(app[LEDGER]._redis)

    app = create_app(settings)
    app.on_startup.append(break_the_ledger)
    client = await aiohttp_client(app)
    headers = delivery_headers("pull_request", MERGED, "the-bug")
    status, answer = await post(client, MERGED, headers)
    assert status == 400 and answer == {"error": "could not process this delivery; it was not accepted"}
    [logged] = [r for r in caplog.records if "unexpected error" in r.getMessage()]
    assert guid("the-bug") in logged.getMessage() and logged.exc_info is not None
    assert await redis.zcard(QUEUE_NAME) == 0

"""Log lines: `LOG_FORMAT=json` gives one JSON object per line with the delivery's fields bound as
values; the default text format prints the same fields as key=value."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import signal
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from bot.config import LogFormat
from bot.logs import ContextFilter, GatheredLines, GatheredRecord, JsonFormatter, bound, configure
from bot.sandbox.anthropic import AnthropicSandbox
from bot.sandbox.github import GitHubSandbox
from tests.helpers import (
    HOOK,
    MERGED,
    PR_NUMBER,
    PR_REPO,
    Processes,
    delivery_headers,
    guid,
    healthy,
    seed_merged_pr,
    wait_until,
)


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line of `text` as a JSON object (fails on any line that is not one)."""
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert lines and all(isinstance(line, dict) for line in lines)
    return lines


async def test_json_lines_of_real_processes_parse_and_carry_the_delivery_fields(
    processes: Processes, github: GitHubSandbox, model: AnthropicSandbox
) -> None:
    seed_merged_pr(github)
    processes.env["LOG_FORMAT"] = "json"
    web = processes.start("web", "web")
    worker = processes.start("worker", "worker")
    base = f"http://127.0.0.1:{processes.env['PORT']}"
    async with aiohttp.ClientSession() as session:
        await wait_until(lambda: healthy(session, f"{base}/healthz"), "the web process", limit_s=30)
        headers = delivery_headers("pull_request", MERGED, "json-logs")
        async with session.post(f"{base}{HOOK}", data=MERGED, headers=headers) as response:
            assert response.status == 202
    await wait_until(lambda: bool(github.comments(PR_REPO, PR_NUMBER)), "the summary", limit_s=60)
    await wait_until(lambda: "outcome=done" in processes.log("worker"), "the job's last line", limit_s=30)
    for process in (web, worker):
        process.send_signal(signal.SIGTERM)
        await wait_until(lambda p=process: p.poll() is not None, "exit after SIGTERM", limit_s=30)

    delivery = {"delivery": guid("json-logs"), "installation": 461842, "repo": PR_REPO}
    for name in ("web", "worker"):
        lines = json_lines(processes.log(name))
        for line in lines:
            assert {"time", "level", "logger", "msg"} <= line.keys(), line
            assert line["time"].endswith("Z") and line["level"] in ("debug", "info", "warning", "error")
        about = [line for line in lines if line.get("delivery") == delivery["delivery"]]
        assert about, f"no {name} line names the delivery"
        assert all(line.items() >= delivery.items() for line in about), about
    [done] = [line for line in json_lines(processes.log("worker")) if "outcome=done" in line["msg"]]
    assert done["logger"] == "hookwise.worker" and done["level"] == "info"
    assert any("queued job=" in line["msg"] for line in json_lines(processes.log("web")) if line.get("delivery"))


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """The root logger configured as a process would be, writing to a buffer instead of stderr."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    stream = io.StringIO()
    yield stream
    root.handlers[:] = handlers
    root.setLevel(level)


def _written(stream: io.StringIO) -> str:
    """What the log writer thread has written, once it wrote everything logged so far."""
    for handler in logging.getLogger().handlers:
        handler.flush()
    return stream.getvalue()


def _to(stream: io.StringIO, log_format: LogFormat) -> None:
    configure("info", log_format, stream=stream)


def test_json_format_has_the_fields_nested_bindings_and_tracebacks(captured: io.StringIO) -> None:
    _to(captured, LogFormat.JSON)
    log = logging.getLogger("hookwise.test")
    with bound(delivery="d-1", installation=7):
        with bound(repo="o/r"):
            log.info("inner %s", "line")
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("failed")
    log.warning("outside")
    inner, failed, outside = json_lines(_written(captured))
    assert inner["msg"] == "inner line" and inner["logger"] == "hookwise.test" and inner["level"] == "info"
    assert (inner["delivery"], inner["installation"], inner["repo"]) == ("d-1", 7, "o/r")
    assert "repo" not in failed and failed["level"] == "error" and "ValueError: boom" in failed["exc"]
    assert outside.keys() == {"time", "level", "logger", "msg"}


def test_text_format_stays_key_value_with_the_bound_fields(captured: io.StringIO) -> None:
    _to(captured, LogFormat.TEXT)
    with bound(delivery="d-2", installation=8, repo="o/r"):
        logging.getLogger("hookwise.test").info("hello")
    [line] = _written(captured).splitlines()
    assert line.endswith(" level=INFO logger=hookwise.test hello delivery=d-2 installation=8 repo=o/r")


def test_a_bound_field_cannot_replace_a_base_key() -> None:
    record = logging.LogRecord("hookwise.test", logging.INFO, __file__, 1, "the message", None, None)
    with bound(msg="forged", level="debug", delivery="d-3"):
        ContextFilter().filter(record)
    line = json.loads(JsonFormatter().format(record))
    assert (line["msg"], line["level"], line["delivery"]) == ("the message", "info", "d-3")


async def test_lines_gathered_in_one_loop_turn_are_written_as_the_lines_they_are(captured: io.StringIO) -> None:
    _to(captured, LogFormat.JSON)
    logger = logging.getLogger("hookwise.test")
    seen: list[logging.LogRecord] = []

    class Spy(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    spy = Spy()
    logger.addHandler(spy)
    try:
        lines = GatheredLines(logger)
        with bound(delivery="d-1", repo="o/a"):
            lines.log("queued %s", "one")
        await asyncio.sleep(0.01)  # lines taken in different turns, so with different times
        assert len(seen) == 1  # the first turn's line, handed over when that turn ended
        with bound(delivery="d-2"):
            lines.log("queued %s", "two")
            lines.log("duplicate (state %s)", "done")
        assert len(seen) == 1  # nothing of this turn's before it ends
        await asyncio.sleep(0)
    finally:
        logger.removeHandler(spy)
    # One record per turn, not one per line; another handler reads its lines as one message.
    assert [type(record) for record in seen] == [GatheredRecord, GatheredRecord]
    assert seen[1].getMessage() == "queued two delivery=d-2\nduplicate (state done) delivery=d-2"
    one, two, three = json_lines(_written(captured))
    assert (one["msg"], one["delivery"], one["repo"], one["level"]) == ("queued one", "d-1", "o/a", "info")
    assert (two["msg"], two["delivery"], "repo" in two) == ("queued two", "d-2", False)
    assert three["msg"] == "duplicate (state done)" and three["delivery"] == "d-2"
    assert one["time"] < two["time"], "each line keeps the time it was taken"


def test_gathered_lines_below_the_level_cost_nothing_and_off_the_loop_go_at_once(captured: io.StringIO) -> None:
    _to(captured, LogFormat.TEXT)
    lines = GatheredLines(logging.getLogger("hookwise.test"), logging.DEBUG)
    lines.log("not written %s", "ever")  # the process logs from info up
    info = GatheredLines(logging.getLogger("hookwise.test"))
    with bound(delivery="d-4"):
        info.log("no loop %d", 1)
    [line] = _written(captured).splitlines()
    assert line.endswith("logger=hookwise.test no loop 1 delivery=d-4")


def test_a_loop_closed_before_its_turn_ended_does_not_hold_later_lines(captured: io.StringIO) -> None:
    _to(captured, LogFormat.TEXT)
    lines = GatheredLines(logging.getLogger("hookwise.test"))

    first = asyncio.new_event_loop()

    def take_and_stop() -> None:
        lines.log("line %s", "from a loop that closed")
        first.stop()  # the loop ends with this turn: the hand-over it scheduled never runs

    first.call_soon(take_and_stop)
    first.run_forever()
    first.close()
    assert "closed" not in _written(captured)

    async def take(text: str) -> None:
        lines.log("line %s", text)

    asyncio.run(take("from the next loop"))
    written = [line.split("logger=hookwise.test ")[1] for line in _written(captured).splitlines()]
    assert written == ["line from a loop that closed", "line from the next loop"]

"""The two tiers of the suite, and a guard that keeps the unit tier honest.

- `unit`: starts no server and no process. The sandbox GitHub and Anthropic answer in this process
  (bot/sandbox/inprocess.py: gidgethub and the anthropic SDK still run, only their transport is
  replaced); Redis is the session's one real server (tests/conftest.py).
- `e2e`: serves the sandboxes over HTTP, puts the web app on a test server, runs arq's worker against
  the served sandboxes, or starts `python -m bot` (or any other) processes.

A test is `e2e` when a fixture it uses starts a server or a process (`SERVING_FIXTURES`) or when it
is marked so (`pytestmark = pytest.mark.e2e` in its module); every other test is `unit`. A unit test
that binds a listening socket or starts a process all the same fails, saying what it started (an
audit hook watches), so a test cannot sit in the wrong tier unnoticed.

One tier alone: `.venv/bin/python -m pytest -m unit -n 0 -q -p no:cacheprovider` (or `-m e2e`).
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from bot.sandbox.redis_server import free_port

# Fixtures that start a server or a process: a test using any of them (however indirectly) is e2e.
SERVING_FIXTURES = frozenset(
    {
        "client",  # the web app on aiohttp's test server
        "aiohttp_client",
        "aiohttp_server",
        "aiohttp_raw_server",
        "processes",  # `python -m bot ...` child processes
        "browser",  # a headless Chromium
    }
)

# Audit events (https://docs.python.org/3/library/audit_events.html) that start a server or a process.
_STARTS = {
    "socket.bind": "a listening socket",
    "subprocess.Popen": "a process",
    "os.posix_spawn": "a process",
    "os.fork": "a process",
    "os.forkpty": "a process",
    "os.exec": "a process",
    "os.spawn": "a process",
    "os.system": "a process",
}


class _Guard:
    """Notes what a unit test starts while `watching`; an audit hook cannot be removed, so it stays
    installed for the session and looks only while a unit test runs."""

    def __init__(self) -> None:
        self.watching = False
        self.started: list[str] = []

    def __call__(self, event: str, args: tuple[Any, ...]) -> None:
        if self.watching and event in _STARTS and not _finding_a_free_port(event):
            self.started.append(f"{_STARTS[event]} ({event} {args[1] if len(args) > 1 else args!r})")


def _finding_a_free_port(event: str) -> bool:
    """`free_port()` binds port 0 and closes the socket at once, to name a port nothing listens on."""
    if event != "socket.bind":
        return False
    frame = sys._getframe(2)  # over this function and the hook: the code that called bind()
    return frame.f_code is free_port.__code__


_GUARD = _Guard()
sys.addaudithook(_GUARD)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "unit: starts no server and no process (given to every test that is not e2e)")
    config.addinivalue_line(
        "markers", "e2e: starts a server or a process (the sandboxes over HTTP, the web app, processes)"
    )
    config.addinivalue_line("markers", "minutes: lasts minutes (an outage scenario); collected first")


def _lasts_minutes(item: pytest.Item) -> bool:
    return item.get_closest_marker("minutes") is not None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The tests that last minutes first, then the modules with the most tests: pytest-xdist hands
    # modules out in collection order (`--no-loadscope-reorder` in pyproject.toml; its own reorder
    # puts the largest modules first, and so the one-test outage modules last, where one of them
    # alone sets the whole run's length). A stable sort keeps each module's tests together and in
    # their order, the same on every worker, as xdist requires.
    per_module = Counter(item.nodeid.split("::", 1)[0] for item in items)
    items.sort(key=lambda item: (not _lasts_minutes(item), -per_module[item.nodeid.split("::", 1)[0]]))
    for item in items:
        serving = SERVING_FIXTURES.intersection(getattr(item, "fixturenames", ()))
        if serving and item.get_closest_marker("e2e") is None:
            item.add_marker(pytest.mark.e2e)
        if item.get_closest_marker("e2e") is None:
            item.add_marker(pytest.mark.unit)


@pytest.fixture(autouse=True)
def _unit_tests_start_nothing(request: pytest.FixtureRequest) -> Iterator[None]:
    if request.node.get_closest_marker("unit") is None:
        yield
        return
    _GUARD.started.clear()
    _GUARD.watching = True
    try:
        yield
    finally:
        _GUARD.watching = False
    if _GUARD.started:
        started = "; ".join(dict.fromkeys(_GUARD.started))
        pytest.fail(f"a unit test started {started}: use the in-process fakes, or mark the test e2e", pytrace=False)

"""`python -m bot setup` as an operator runs it: a real process against the sandbox GitHub (which
serves GitHub's side of the manifest flow), driven in headless Chromium, and its options and exit
codes. The flow itself (state check, `.env` merging) is tested in test_setup_flow.py."""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp
import pytest
import pytest_asyncio
from dotenv import dotenv_values

from bot.sandbox.github import GitHubSandbox
from tests.helpers import ROOT, register_over_http, run_cli

pytestmark = pytest.mark.e2e  # `python -m bot setup` processes

if TYPE_CHECKING:
    from tests.browser import Browser

APP_YML = ROOT / "app.yml"
WEBHOOK_URL = "https://bot.example.org/api/github/webhooks"
BOUND_S = 30.0


@dataclass
class SetupProcess:
    process: asyncio.subprocess.Process
    url: str
    lines: list[str]

    async def finish(self) -> tuple[int, str, str]:
        """Wait for the exit; the exit code, all of stdout and stderr."""
        assert self.process.stdout is not None and self.process.stderr is not None
        rest, err = await asyncio.wait_for(
            asyncio.gather(self.process.stdout.read(), self.process.stderr.read()), BOUND_S
        )
        code = await asyncio.wait_for(self.process.wait(), BOUND_S)
        return code, "".join(self.lines) + rest.decode(), err.decode()


Starter = Callable[..., Awaitable[SetupProcess]]


@pytest_asyncio.fixture
async def start_setup(github: GitHubSandbox, tmp_path: Path) -> AsyncIterator[Starter]:
    """Start `python -m bot setup --port 0 ...` in tmp_path against the sandbox GitHub; returns once
    it prints the address of its page."""
    started: list[asyncio.subprocess.Process] = []
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT),
        "GITHUB_URL": github.base_url,
        "GITHUB_API_URL": github.base_url,
    }

    async def start(*args: str) -> SetupProcess:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "setup", "--manifest", str(APP_YML), "--port", "0", *args,
            env=env,
            cwd=tmp_path,
            stdin=asyncio.subprocess.DEVNULL,  # not a terminal: questions are answered no
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        started.append(process)
        assert process.stdout is not None
        lines: list[str] = []
        while True:
            line = (await asyncio.wait_for(process.stdout.readline(), BOUND_S)).decode()
            assert line, f"setup exited before listening: {lines}"
            lines.append(line)
            if line.startswith("Open http://"):
                return SetupProcess(process, line.split()[1], lines)

    yield start
    for process in started:
        if process.returncode is None:
            process.kill()
            await process.wait()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_setup_registers_the_app_in_a_browser_and_keeps_what_it_may_not_replace(
    browser: Browser, github: GitHubSandbox, start_setup: Starter, tmp_path: Path
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("APP_ID=1\nREDIS_URL=redis://cache:6379\n")
    run = await start_setup("--webhook-url", WEBHOOK_URL)
    assert run.url.startswith("http://127.0.0.1:")

    assert await browser.open(run.url) == 200
    await browser.wait_for_text("Register hookwise as a GitHub App", "h1")
    assert WEBHOOK_URL in await browser.text()
    await browser.click_button("Register on GitHub")
    await browser.wait_for_text("Create GitHub App for your personal account (octocat)", "h1")
    assert browser.url.startswith(f"{github.base_url}/settings/apps/new?state=")  # the sandbox GitHub's own page
    await browser.click_button("Create GitHub App")
    await browser.wait_for_text("hookwise is registered", "h1")
    await browser.wait_for_text("Kept the existing APP_ID")

    code, out, err = await run.finish()
    assert code == 0, err
    [app] = github.manifest.apps
    assert app.converted and app.manifest["hook_attributes"]["url"] == WEBHOOK_URL
    assert "APP_ID is already set" in out and "no (stdin is not a terminal; pass --yes to replace)" in out
    assert f"{app.html_url}/installations/new" in out and "python -m bot worker" in out
    values = dotenv_values(env_file)
    assert values["APP_ID"] == "1" and values["REDIS_URL"] == "redis://cache:6379"  # kept, as answered
    assert values["PRIVATE_KEY"] == app.pem and values["WEBHOOK_SECRET"] == app.webhook_secret
    assert values["APP_SLUG"] == "hookwise" and values["APP_URL"] == app.html_url
    assert mode(env_file) == 0o600
    assert browser.errors == []


async def test_setup_yes_replaces_and_org_registers_on_the_organization(
    github: GitHubSandbox, start_setup: Starter, tmp_path: Path
) -> None:
    env_file = tmp_path / "hookwise.env"
    env_file.write_text("APP_ID=1\n")
    run = await start_setup("--yes", "--org", "hookwise-org", "--env-file", str(env_file))
    async with aiohttp.ClientSession() as session:
        response = await register_over_http(session, run.url, github.base_url)
        assert response.status == 200
    code, out, err = await run.finish()
    assert code == 0, err
    [app] = github.manifest.apps
    assert app.organization == "hookwise-org"
    assert "yes (--yes)" in out
    values = dotenv_values(env_file)
    assert values["APP_ID"] == str(app.id) and mode(env_file) == 0o600
    assert not (tmp_path / ".env").exists()


async def test_setup_options_and_exit_codes(tmp_path: Path) -> None:
    env = {"GITHUB_URL": "http://127.0.0.1:9", "GITHUB_API_URL": "http://127.0.0.1:9"}
    code, output = await run_cli(env, tmp_path, "setup", "--manifest", str(APP_YML), "--org", "not an org!")
    assert code == 1
    assert output.strip().splitlines() == ["setup: organization: 'not an org!' is not a GitHub organization name"]
    code, output = await run_cli(env, tmp_path, "setup", "--manifest", "missing.yml")
    assert code == 1 and output.strip().splitlines() == [
        "setup: missing.yml: cannot read the App manifest: No such file or directory"
    ]
    code, output = await run_cli(env, tmp_path, "setup", "--port", "70000")
    assert code == 2 and "not a port number" in output
    code, output = await run_cli({**env, "GITHUB_URL": "github.com"}, tmp_path, "setup")
    assert code == 2
    assert output.strip() == (
        "hookwise: configuration error: GITHUB_URL: Value error, must be an http:// or https:// URL"
    )
    assert not (tmp_path / ".env").exists()


async def test_setup_interrupted_exits_130_with_one_line(start_setup: Starter) -> None:
    run = await start_setup()
    run.process.send_signal(signal.SIGINT)
    code, _out, err = await run.finish()
    assert code == 130
    assert err.strip().splitlines() == ["setup: interrupted; nothing more was done"]

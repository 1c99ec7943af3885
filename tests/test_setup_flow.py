"""`python -m bot setup` end to end against the stand-in GitHub, in headless Chromium and over plain HTTP,
and the pure parts (manifest, `.env` lines and merging) on their own.

The browser tests skip when no Chromium is installed; the plain-HTTP flow tests cover the same
server without one.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import re
import socket
import stat
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
import pytest_asyncio
import yaml
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from dotenv import dotenv_values

from bot.config import load_settings
from bot.sandbox.manifest import ManifestSandbox, new_rsa_pem, serve_manifest_sandbox
from bot.setup_flow import (
    REFUSED_STATE,
    AppCredentials,
    SetupError,
    build_manifest,
    env_line,
    env_updates,
    merge_env,
    read_app_yml,
    registration_url,
    run_setup,
    write_private_file,
)
from tests.helpers import form_of, register_over_http

pytestmark = pytest.mark.e2e  # the manifest flow's local server and the stand-in GitHub over HTTP

if TYPE_CHECKING:
    from tests.browser import Browser

ROOT = Path(__file__).resolve().parents[1]
APP_YML = ROOT / "app.yml"
FIXTURES = ROOT / "tests" / "fixtures" / "github-api" / "apps"
WEBHOOK_URL = "https://hooks.example.net/api/github/webhooks"
BOUND = 20.0  # seconds any one wait in these tests may take
SETTINGS_VARS = ("APP_ID", "PRIVATE_KEY", "PRIVATE_KEY_PATH", "WEBHOOK_SECRET", "APP_SLUG", "APP_URL")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def public_numbers(pem: str) -> rsa.RSAPublicNumbers:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key.public_key().public_numbers()


# -- fixtures -----------------------------------------------------------------------------------------


@pytest_asyncio.fixture
async def github() -> AsyncIterator[tuple[ManifestSandbox, str]]:
    """The stand-in GitHub, one server for GITHUB_URL and GITHUB_API_URL."""
    sandbox = ManifestSandbox(user="octocat")
    runner, base_url = await serve_manifest_sandbox(sandbox)
    try:
        yield sandbox, base_url
    finally:
        await runner.cleanup()


@dataclass
class SetupRun:
    task: asyncio.Task[int]
    url: str
    out: io.StringIO
    err: io.StringIO
    questions: list[str] = field(default_factory=list)

    @property
    def callback(self) -> str:
        return self.url + "callback"

    async def exit_code(self) -> int:
        return await asyncio.wait_for(asyncio.shield(self.task), BOUND)


Starter = Callable[..., Any]


@pytest_asyncio.fixture
async def start_setup(github: tuple[ManifestSandbox, str], tmp_path: Path) -> AsyncIterator[Starter]:
    """Start `run_setup` in this loop against the stand-in GitHub; returns once it listens."""
    _, base_url = github
    tasks: list[asyncio.Task[int]] = []

    async def start(
        *,
        answer: Callable[[str], bool] = lambda _q: False,
        org: str | None = None,
        webhook_url: str | None = WEBHOOK_URL,
    ) -> SetupRun:
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[str] = loop.create_future()
        out, err = io.StringIO(), io.StringIO()
        questions: list[str] = []

        def confirm(question: str) -> bool:
            questions.append(question)
            return answer(question)

        task = asyncio.create_task(
            run_setup(
                manifest_path=APP_YML,
                env_path=tmp_path / ".env",
                github_url=base_url,
                api_url=base_url,
                host="127.0.0.1",
                port=0,
                webhook_url=webhook_url,
                org=org,
                confirm=confirm,
                out=out,
                err=err,
                ready=ready.set_result,
            )
        )
        tasks.append(task)
        waiting: set[asyncio.Future[Any]] = {ready, task}
        done, _ = await asyncio.wait(waiting, timeout=BOUND, return_when=asyncio.FIRST_COMPLETED)
        assert ready in done, f"setup did not start listening: {err.getvalue()}{out.getvalue()}"
        return SetupRun(task=task, url=ready.result(), out=out, err=err, questions=questions)

    yield start
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


@pytest.fixture
def in_tmp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Run in tmp_path with none of the App's variables in the environment, as a fresh shell would."""
    for name in SETTINGS_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    yield tmp_path


def assert_env_matches(env_file: Path, app: Any, *, app_id: str | None = None) -> dict[str, str | None]:
    values = dotenv_values(env_file)
    assert values["APP_ID"] == (app_id or str(app.id))
    assert values["PRIVATE_KEY"] == app.pem
    assert values["WEBHOOK_SECRET"] == app.webhook_secret
    assert values["APP_SLUG"] == app.slug
    assert values["APP_URL"] == app.html_url
    assert mode(env_file) == 0o600
    return values


# -- the whole flow in headless Chromium ------------------------------------------------------------------


async def test_user_account_registration_in_a_browser(
    browser: Browser, github: tuple[ManifestSandbox, str], start_setup: Starter, in_tmp_dir: Path
) -> None:
    sandbox, base_url = github
    run: SetupRun = await start_setup()

    assert await browser.open(run.url) == 200
    await browser.wait_for_text("Register hookwise as a GitHub App", "h1")
    page = await browser.text()
    assert "pull_requests" in page and "issue_comment" in page and WEBHOOK_URL in page
    await browser.click_button("Register on GitHub")

    # The stand-in GitHub page shows what the manifest asks for.
    await browser.wait_for_text("Create GitHub App for your personal account (octocat)", "h1")
    assert browser.url.startswith(f"{base_url}/settings/apps/new?state=")
    assert "issues: write" in await browser.text("#permissions")
    assert "pull_request" in await browser.text("#events")
    assert await browser.text("#webhook-url") == WEBHOOK_URL
    await browser.click_button("Create GitHub App")

    await browser.wait_for_text("hookwise is registered", "h1")
    assert await run.exit_code() == 0, run.err.getvalue()
    app = sandbox.app("hookwise")
    assert app.converted and app.owner == {"login": "octocat", "type": "User"}
    assert browser.url.startswith(f"{run.callback}?code=") and f"state={app.state}" in browser.url
    assert app.manifest["redirect_url"] == run.callback
    assert app.manifest["hook_attributes"]["url"] == WEBHOOK_URL
    assert app.manifest["default_permissions"] == yaml.safe_load(APP_YML.read_text())["default_permissions"]
    assert app.manifest["public"] is False

    env_file = in_tmp_dir / ".env"
    assert_env_matches(env_file, app)
    lines = env_file.read_text().splitlines()
    assert len(lines) == 5  # PRIVATE_KEY is one line, with literal \n
    assert any(line.startswith('PRIVATE_KEY="-----BEGIN RSA PRIVATE KEY-----\\n') for line in lines)
    settings = load_settings()
    assert settings.APP_ID == app.id
    assert public_numbers(settings.private_key()) == public_numbers(app.pem or "")
    assert settings.webhook_secrets() == [(app.webhook_secret or "").encode()]

    out = run.out.getvalue()
    assert f"{app.html_url}/installations/new" in out
    assert "python -m bot web" in out and "python -m bot worker" in out and "/api/github/webhooks" in out
    assert run.questions == [] and run.err.getvalue() == ""
    shot = await browser.screenshot(in_tmp_dir / "registered.png")
    assert shot.read_bytes().startswith(b"\x89PNG")

    await browser.click(f'a[href="{app.html_url}/installations/new"]')
    await browser.wait_for_text("Install hookwise", "h1")
    assert browser.errors == []


async def test_organization_registration_keeps_an_existing_value_when_told_no(
    browser: Browser, github: tuple[ManifestSandbox, str], start_setup: Starter, in_tmp_dir: Path
) -> None:
    sandbox, base_url = github
    env_file = in_tmp_dir / ".env"
    before = "# hookwise\nREDIS_URL=redis://cache:6379\nAPP_ID=12345\n\nexport LOG_LEVEL=debug  # noisy\n"
    env_file.write_text(before)
    env_file.chmod(0o644)
    run: SetupRun = await start_setup(answer=lambda _q: False)

    await browser.open(run.url)
    await browser.fill("#org", "hookwise-org")
    await browser.click_button("Register on GitHub")
    await browser.wait_for_text("Create GitHub App for organization hookwise-org", "h1")
    assert browser.url.startswith(f"{base_url}/organizations/hookwise-org/settings/apps/new?state=")
    await browser.click_button("Create GitHub App")
    await browser.wait_for_text("Kept the existing APP_ID")

    assert await run.exit_code() == 0, run.err.getvalue()
    app = sandbox.app("hookwise")
    assert app.organization == "hookwise-org" and app.owner["type"] == "Organization"
    assert len(run.questions) == 1 and run.questions[0].startswith("APP_ID is already set")
    assert f"(12345 -> {app.id})" in run.questions[0]
    text = env_file.read_text()
    assert text.startswith(before)  # every line that was there is there, unchanged
    values = assert_env_matches(env_file, app, app_id="12345")
    assert values["REDIS_URL"] == "redis://cache:6379" and values["LOG_LEVEL"] == "debug"
    out = run.out.getvalue()
    assert "Kept the existing APP_ID" in out
    assert f"{base_url}/organizations/hookwise-org/settings/apps/hookwise" in out
    assert browser.errors == []


async def test_a_wrong_or_missing_state_is_refused_and_nothing_is_written(
    browser: Browser, github: tuple[ManifestSandbox, str], start_setup: Starter, in_tmp_dir: Path
) -> None:
    sandbox, base_url = github
    run: SetupRun = await start_setup()
    # Someone else registers an App of their own and gets a real code for it...
    async with aiohttp.ClientSession() as session:
        manifest = build_manifest(read_app_yml(APP_YML), redirect_url=run.callback)
        form = {"manifest": json.dumps(manifest), "name": "evil-app", "state": "their-state"}
        async with session.post(f"{base_url}/settings/apps", data=form, allow_redirects=False) as answer:
            assert answer.status == 302
    evil = sandbox.app("evil-app")
    # ...and sends our browser to our callback with it: refused, with their state or with none.
    for query in (f"code={evil.code}&state=their-state", f"code={evil.code}", f"code={evil.code}&state="):
        assert await browser.open(f"{run.callback}?{query}") == 400
        await browser.wait_for_text(REFUSED_STATE)
    assert sandbox.conversion_requests == [] and not evil.converted
    assert not (in_tmp_dir / ".env").exists()
    assert not run.task.done()
    assert "refused" in run.out.getvalue()

    # The real registration still goes through afterwards.
    await browser.open(run.url)
    await browser.click_button("Register on GitHub")
    await browser.click_button("Create GitHub App")
    await browser.wait_for_text("hookwise is registered", "h1")
    assert await run.exit_code() == 0
    assert sandbox.conversion_requests == [sandbox.app("hookwise").code]
    assert_env_matches(in_tmp_dir / ".env", sandbox.app("hookwise"))
    assert browser.errors == []  # the refusals are the documents' own statuses, not page errors


# -- the same server over plain HTTP (runs without a browser) -----------------------------------------------


async def test_plain_http_flow_replaces_values_when_told_yes(
    github: tuple[ManifestSandbox, str], start_setup: Starter, in_tmp_dir: Path
) -> None:
    sandbox, base_url = github
    env_file = in_tmp_dir / ".env"
    env_file.write_text("APP_ID=1\r\nOTHER='x y'\r\nAPP_SLUG=old\r\n")
    run: SetupRun = await start_setup(answer=lambda _q: True)
    async with aiohttp.ClientSession() as session:
        response = await register_over_http(session, run.url, base_url)
    assert response.status == 200 and str(response.url).startswith(run.callback)
    assert await run.exit_code() == 0
    app = sandbox.app("hookwise")
    assert_env_matches(env_file, app)
    lines = env_file.read_bytes().split(b"\r\n")
    assert lines[0] == f"APP_ID={app.id}".encode() and lines[1] == b"OTHER='x y'" and lines[2] == b"APP_SLUG=hookwise"
    assert [q.split()[0] for q in run.questions] == ["APP_ID", "APP_SLUG"]


async def test_the_org_option_registers_on_that_organization(
    github: tuple[ManifestSandbox, str], start_setup: Starter, in_tmp_dir: Path
) -> None:
    sandbox, base_url = github
    run: SetupRun = await start_setup(org="prefilled-org", webhook_url=None)
    async with aiohttp.ClientSession() as session:
        async with session.get(run.url) as start:
            assert 'value="prefilled-org"' in await start.text()
        response = await register_over_http(session, run.url, base_url)
    assert response.status == 200 and await run.exit_code() == 0
    app = sandbox.app("hookwise")
    assert app.organization == "prefilled-org"
    assert app.manifest["hook_attributes"]["url"] == "https://hookwise.example.com/api/github/webhooks"  # app.yml's
    assert_env_matches(in_tmp_dir / ".env", app)


async def test_a_failed_exchange_exits_non_zero_with_one_line(
    github: tuple[ManifestSandbox, str], start_setup: Starter, in_tmp_dir: Path
) -> None:
    sandbox, base_url = github
    sandbox.fail_next_conversion(422, "Validation Failed")
    run: SetupRun = await start_setup()
    async with aiohttp.ClientSession() as session:
        response = await register_over_http(session, run.url, base_url)
    assert response.status == 502
    assert await run.exit_code() == 1
    err = run.err.getvalue().splitlines()
    assert len(err) == 1 and err[0].startswith("setup: GitHub answered 422 to the code exchange")
    assert not (in_tmp_dir / ".env").exists()


async def test_an_unreadable_env_file_is_left_alone_and_named(
    github: tuple[ManifestSandbox, str], start_setup: Starter, in_tmp_dir: Path
) -> None:
    sandbox, base_url = github
    env_file = in_tmp_dir / ".env"
    env_file.write_bytes(b"APP_ID=\xff\n")
    run: SetupRun = await start_setup()
    async with aiohttp.ClientSession() as session:
        response = await register_over_http(session, run.url, base_url)
    assert response.status == 502
    assert await run.exit_code() == 1
    err = run.err.getvalue().splitlines()
    assert len(err) == 1 and err[0].startswith(f"setup: cannot write {env_file}: ")
    assert sandbox.app("hookwise").html_url in err[0]  # where to get a new key, since the code is spent
    assert env_file.read_bytes() == b"APP_ID=\xff\n"


async def test_an_unknown_code_exits_non_zero(
    github: tuple[ManifestSandbox, str], start_setup: Starter, in_tmp_dir: Path
) -> None:
    run: SetupRun = await start_setup()
    async with aiohttp.ClientSession() as session:
        async with session.get(run.url) as start:
            action, _ = form_of(await start.text(), "register")
        state = action.split("state=")[1]
        async with session.get(run.callback, params={"code": "0" * 40, "state": state}) as answer:
            assert answer.status == 502
    assert await run.exit_code() == 1
    assert run.err.getvalue().startswith("setup: GitHub answered 404")
    assert not (in_tmp_dir / ".env").exists()


async def test_the_page_refuses_a_host_name_it_does_not_know(start_setup: Starter) -> None:
    run: SetupRun = await start_setup()
    async with aiohttp.ClientSession() as session:
        async with session.get(run.url, headers={"Host": "rebound.example.com"}) as answer:
            assert answer.status == 421
        async with session.get(run.url.replace("127.0.0.1", "localhost")) as answer:
            assert answer.status == 200


async def test_bad_manifest_or_busy_port_fails_before_serving(tmp_path: Path) -> None:
    bad = tmp_path / "app.yml"
    bad.write_text("name: x\nurl: https://example.com\nhook_atributes: {}\n")
    err = io.StringIO()
    common: dict[str, Any] = {
        "env_path": tmp_path / ".env",
        "github_url": "http://127.0.0.1:9",
        "api_url": "http://127.0.0.1:9",
        "confirm": lambda _q: False,
        "out": io.StringIO(),
        "err": err,
    }
    assert await run_setup(manifest_path=bad, host="127.0.0.1", port=0, **common) == 1
    assert err.getvalue() == f"setup: {bad}: not a GitHub App manifest parameter: hook_atributes\n"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        err.truncate(0), err.seek(0)
        assert await run_setup(manifest_path=APP_YML, host="127.0.0.1", port=busy.getsockname()[1], **common) == 1
        assert err.getvalue().startswith("setup: cannot listen on 127.0.0.1:")
    assert not (tmp_path / ".env").exists()


# -- the stand-in GitHub's API ------------------------------------------------------------------------------


def _shape(value: Any, depth: int = 0) -> Any:
    if isinstance(value, dict) and depth < 2:
        return {k: _shape(v, depth + 1) for k, v in value.items() if k != "permissions"} | (
            {"permissions": "dict"} if "permissions" in value else {}
        )
    return type(value).__name__


async def _create(session: aiohttp.ClientSession, base_url: str, name: str = "hookwise", **extra: str) -> str:
    manifest = build_manifest(read_app_yml(APP_YML), redirect_url="http://127.0.0.1:9/callback")
    form = {"manifest": json.dumps(manifest), "name": name, "state": "s", **extra}
    async with session.post(f"{base_url}/settings/apps", data=form, allow_redirects=False) as answer:
        assert answer.status == 302, await answer.text()
        location = answer.headers["Location"]
    assert location.startswith("http://127.0.0.1:9/callback?code=") and location.endswith("&state=s")
    return location.split("code=")[1].split("&")[0]


async def test_conversion_answers_in_githubs_recorded_shape_once(github: tuple[ManifestSandbox, str]) -> None:
    sandbox, base_url = github
    recorded = json.loads((FIXTURES / "create-app-from-manifest.201.json").read_text())
    async with aiohttp.ClientSession() as session:
        code = await _create(session, base_url)
        url = f"{base_url}/app-manifests/{code}/conversions"
        async with session.post(url, json={}) as answer:
            assert answer.status == 201
            assert answer.headers["Content-Type"] == "application/json; charset=utf-8"
            body = await answer.json()
        async with session.post(url, json={}) as again:
            assert again.status == 404 and (await again.json())["message"] == "Not Found"
    # Same keys in the same order, same types, except GitHub's `description: null` (the manifest has one).
    assert list(body) == list(recorded) and list(body["owner"]) == list(recorded["owner"])
    assert {**_shape(body), "description": "NoneType"} == _shape(recorded)
    assert body["pem"].startswith("-----BEGIN RSA PRIVATE KEY-----\n") and body["pem"].endswith(
        "-----END RSA PRIVATE KEY-----\n"
    )
    public_numbers(body["pem"])
    assert body["html_url"] == f"{base_url}/apps/hookwise" and body["owner"]["type"] == "User"
    assert body["permissions"] == {"metadata": "read", "contents": "read", "issues": "write", "pull_requests": "write"}
    assert AppCredentials.model_validate(body).webhook_secret == sandbox.app("hookwise").webhook_secret


async def test_codes_expire_after_an_hour_and_unknown_codes_are_404() -> None:
    now = [1000.0]
    sandbox = ManifestSandbox(clock=lambda: now[0])
    runner, base_url = await serve_manifest_sandbox(sandbox)
    try:
        async with aiohttp.ClientSession() as session:
            code = await _create(session, base_url)
            now[0] += 3600
            async with session.post(f"{base_url}/app-manifests/{code}/conversions") as answer:
                assert answer.status == 404
            async with session.post(f"{base_url}/app-manifests/{'f' * 40}/conversions") as answer:
                assert answer.status == 404
            code = await _create(session, base_url, name="hookwise two")
            now[0] += 3599
            async with session.post(f"{base_url}/app-manifests/{code}/conversions") as answer:
                assert answer.status == 201 and (await answer.json())["slug"] == "hookwise-two"
    finally:
        await runner.cleanup()


async def test_github_page_checks_the_manifest_and_the_name(github: tuple[ManifestSandbox, str]) -> None:
    _, base_url = github
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{base_url}/settings/apps/new?state=s", data={"manifest": "{not json"}) as answer:
            assert answer.status == 422 and "not valid JSON" in await answer.text()
        async with session.post(f"{base_url}/settings/apps/new", data={"manifest": '{"name": "x"}'}) as answer:
            assert answer.status == 422 and "url wasn&#x27;t supplied" in await answer.text()
        async with session.post(f"{base_url}/organizations/-bad-/settings/apps/new", data={}) as answer:
            assert answer.status == 404
        await _create(session, base_url)
        manifest = json.dumps(build_manifest(read_app_yml(APP_YML), redirect_url="http://127.0.0.1:9/c"))
        form = {"manifest": manifest, "name": "HookWise", "state": "s"}
        async with session.post(f"{base_url}/settings/apps", data=form, allow_redirects=False) as answer:
            assert answer.status == 422 and "Name is already in use" in await answer.text()


# -- the pure parts ----------------------------------------------------------------------------------------


def test_manifest_is_app_yml_with_our_redirect_and_webhook() -> None:
    app_yml = read_app_yml(APP_YML)
    snapshot = json.dumps(app_yml)
    manifest = build_manifest(app_yml, redirect_url="http://localhost:3000/callback")
    assert json.dumps(app_yml) == snapshot  # not mutated
    assert manifest == {**app_yml, "redirect_url": "http://localhost:3000/callback"}
    assert manifest["public"] is False and manifest["hook_attributes"] == app_yml["hook_attributes"]
    hooked = build_manifest(app_yml, redirect_url="http://localhost:3000/callback", webhook_url=WEBHOOK_URL)
    assert hooked["hook_attributes"] == {"url": WEBHOOK_URL}
    without_hook = {k: v for k, v in app_yml.items() if k != "hook_attributes"}
    assert "hook_attributes" not in build_manifest(without_hook, redirect_url="http://localhost/callback")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"nmae": "x"}, "not a GitHub App manifest parameter: nmae"),
        ({"name": None}, "name: required"),
        ({"url": "ftp://example.com"}, "url: must be an http:// or https:// URL"),
        ({"hook_attributes": {"active": True}}, "hook_attributes.url: must be an http"),
        ({"default_events": "issues"}, "default_events: must be a list of strings"),
    ],
)
def test_manifest_problems_are_named(change: dict[str, Any], message: str) -> None:
    with pytest.raises(SetupError, match=re.escape(message)):
        build_manifest({**read_app_yml(APP_YML), **change}, redirect_url="http://localhost/callback")
    with pytest.raises(SetupError, match="webhook URL"):
        build_manifest(read_app_yml(APP_YML), redirect_url="http://localhost/callback", webhook_url="hooks.example")


def test_registration_url_for_a_user_or_an_organization() -> None:
    assert registration_url("https://github.com/", "a-b_c") == "https://github.com/settings/apps/new?state=a-b_c"
    assert (
        registration_url("https://ghe.example.com", "s", org="my-org")
        == "https://ghe.example.com/organizations/my-org/settings/apps/new?state=s"
    )
    for bad in ("-org", "org-", "a--b", "a/b", "x" * 40, ""):
        with pytest.raises(SetupError):
            registration_url("https://github.com", "s", org=bad)


PEM = new_rsa_pem()


@pytest.mark.parametrize(
    "value",
    [
        PEM,
        PEM.strip(),
        "abc123",
        "",
        "with space",
        "quote \" and ' both",
        "hash # here",
        "a#b",
        "back\\slash\\n",
        "dollar $HOME $",
        "tab\tcr\rlf\n",
        "ünïcödé",
        "=leading=equals",
        " padded ",
    ],
)
def test_env_line_reads_back_exactly(value: str) -> None:
    line = env_line("KEY", value)
    assert "\n" not in line and "\r" not in line
    assert dotenv_values(stream=io.StringIO(line + "\n")) == {"KEY": value}


def test_env_line_refuses_what_dotenv_would_expand() -> None:
    with pytest.raises(ValueError, match="expand"):
        env_line("KEY", "${HOME}")
    with pytest.raises(ValueError):
        env_line("1KEY", "x")


def test_merge_adds_keeps_replaces_and_leaves_other_lines_alone() -> None:
    existing = (
        "# top comment\r\n"
        "export APP_ID=1   # old app\r\n"
        'MULTI="line one\nline two"\n'
        "  APP_SLUG='same'\n"
        "broken line without equals sign\n"
        "APP_URL=https://old.example"  # no final newline
    )
    updates = {"APP_ID": "2", "APP_SLUG": "same", "APP_URL": "https://new.example", "PRIVATE_KEY": PEM}
    merged = merge_env(existing, updates, replace={"APP_ID"})
    assert merged.added == ("PRIVATE_KEY",) and merged.replaced == ("APP_ID",)
    assert merged.kept == ("APP_URL",) and merged.unchanged == ("APP_SLUG",)
    assert (
        merged.text
        == existing.replace("export APP_ID=1   # old app\r\n", "APP_ID=2\r\n")
        + "\n"
        + env_line("PRIVATE_KEY", PEM)
        + "\n"
    )
    values = dotenv_values(stream=io.StringIO(merged.text))
    assert values["APP_ID"] == "2" and values["PRIVATE_KEY"] == PEM and values["MULTI"] == "line one\nline two"
    assert merge_env("", {"A": "1"}, replace=set()).text == "A=1\n"
    assert merge_env(merged.text, updates, replace=set()).text == merged.text


def test_private_file_is_0600_even_when_it_was_not(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("OLD=1\n")
    path.chmod(0o644)
    write_private_file(path, "NEW=1\n")
    assert path.read_text() == "NEW=1\n" and mode(path) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == [".env"]  # no temporary file left behind
    link = tmp_path / "link.env"
    link.symlink_to(path)
    write_private_file(link, "VIA=link\n")
    assert link.is_symlink() and path.read_text() == "VIA=link\n"


def test_written_env_is_what_settings_read(in_tmp_dir: Path) -> None:
    app = AppCredentials.model_validate(
        {
            "id": 42,
            "slug": "hookwise",
            "name": "hookwise",
            "html_url": "https://github.com/apps/hookwise",
            "pem": PEM,
            "webhook_secret": "f4dafa9b05d8248d81f65f0e6cb108cb8bb76a0c",
        }
    )
    write_private_file(in_tmp_dir / ".env", merge_env("", env_updates(app), replace=set()).text)
    settings = load_settings()
    assert settings.APP_ID == 42 and settings.private_key() == PEM
    settings.check_worker()
    settings.check_web()
    assert os.environ.get("APP_ID") is None  # read from the file, not the environment


# -- the browser fixture's own verbs (for the pages other tests will look at) --------------------------------


async def test_browser_fixture_basic_auth_text_and_screenshot(
    browser: Browser, aiohttp_server: Any, tmp_path: Path
) -> None:
    expected = "Basic " + base64.b64encode(b"anyone:s3cret").decode()

    async def protected(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != expected:
            return web.Response(status=401, headers={"WWW-Authenticate": 'Basic realm="status"'}, text="no")
        return web.Response(text="<h1>Deliveries</h1><p id=n>3 queued</p>", content_type="text/html")

    async def broken(_request: web.Request) -> web.Response:
        page = '<img src="/missing.png"><script>throw new Error("boom")</script><script>console.error("bad")</script>'
        return web.Response(text=page, content_type="text/html")

    app = web.Application()
    app.router.add_get("/status", protected)
    app.router.add_get("/broken", broken)
    server = await aiohttp_server(app)
    url = str(server.make_url("/status"))
    assert await browser.open(url) == 401
    await browser.basic_auth("anyone", "s3cret")
    assert await browser.open(url) == 200
    await browser.wait_for_text("Deliveries", "h1")
    assert await browser.text("#n") == "3 queued"
    assert (await browser.screenshot(tmp_path / "status.png")).read_bytes().startswith(b"\x89PNG")
    await browser.basic_auth("anyone", None)
    assert await browser.open(url) == 401
    assert browser.errors == []
    await browser.open(str(server.make_url("/broken")))
    await browser.page.wait_for_function("document.images[0].complete")
    assert sorted(e.split(":")[0] for e in browser.errors) == ["console", "pageerror", "resource"], browser.errors

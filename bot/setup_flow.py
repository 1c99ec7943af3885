"""`python -m bot setup`: register the GitHub App from `app.yml` through GitHub's manifest flow.

GitHub's flow (docs.github.com, "Registering a GitHub App from a manifest"), done here with the
`state` check Probot's lacks:

1. A local page posts the manifest (`app.yml` as JSON, `redirect_url` pointing back to this
   server) to `{GITHUB_URL}/settings/apps/new?state=S`, or to
   `{GITHUB_URL}/organizations/{org}/settings/apps/new?state=S` for an organization.
2. The person checks it on GitHub and clicks "Create GitHub App"; GitHub sends the browser to
   `redirect_url?code=C&state=S`.
3. A callback that does not carry this run's `S` is refused: nothing is exchanged or written.
   Otherwise `C` is traded for the App's credentials with
   `POST {GITHUB_API_URL}/app-manifests/{C}/conversions` (no auth; single use; within an hour)
   and they are merged into `.env` (mode 0600; a value already there is replaced only if
   `confirm` says so; every other line stays as it was).

The pure parts (the manifest, the registration URL, `.env` lines and merging) are plain functions a
test calls directly; `run_setup` does the I/O and takes every value from its caller.
"""

from __future__ import annotations

import asyncio
import copy
import html
import io
import ipaddress
import json
import os
import re
import secrets
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote, urlencode, urlsplit

import aiohttp
import gidgethub
import yaml
from aiohttp import web
from aiohttp.typedefs import Handler
from dotenv.parser import parse_stream
from gidgethub.aiohttp import GitHubAPI
from pydantic import BaseModel, ConfigDict, ValidationError

from bot.core.text import first_error

__all__ = [
    "AppCredentials",
    "EnvMerge",
    "SetupError",
    "build_manifest",
    "env_line",
    "env_updates",
    "exchange_code",
    "existing_env_values",
    "merge_env",
    "read_app_yml",
    "registration_url",
    "run_setup",
    "write_private_file",
]

USER_AGENT = "hookwise-setup"
CALLBACK_PATH = "/callback"
ENV_KEYS = ("APP_ID", "PRIVATE_KEY", "WEBHOOK_SECRET", "APP_SLUG", "APP_URL")
SECRET_KEYS = frozenset({"PRIVATE_KEY", "WEBHOOK_SECRET"})
# The manifest parameters GitHub documents; anything else in app.yml is a typo we would rather name.
MANIFEST_KEYS = frozenset(
    {
        "name",
        "url",
        "description",
        "hook_attributes",
        "redirect_url",
        "callback_urls",
        "setup_url",
        "setup_on_update",
        "public",
        "default_events",
        "default_permissions",
        "request_oauth_on_install",
    }
)
# A GitHub login: alphanumerics and single hyphens, not at either end, at most 39 characters.
LOGIN_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}\Z")
_LOGIN_PATTERN_HTML = "[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}"
_CODE_RE = re.compile(r"[A-Za-z0-9._~-]{1,200}\Z")
_ENV_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# Values python-dotenv reads back unchanged without quotes (no spaces, quotes, `#`, `$` or `\`).
_PLAIN_VALUE_RE = re.compile(r"[A-Za-z0-9_./:@%+,=-]*\Z")
_LINE_END_RE = re.compile(r"(\r\n|\n|\r)?\Z")

REFUSED_STATE = (
    "This answer from GitHub was not started by this setup run (its state is missing or wrong), "
    "so nothing was exchanged and nothing was written."
)


class SetupError(Exception):
    """The setup cannot go on; the message is the one line the operator sees."""


# -- the manifest -----------------------------------------------------------------------------------


def read_app_yml(path: Path) -> dict[str, Any]:
    """The manifest file (Probot's `app.yml` format: GitHub's manifest parameters as YAML)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SetupError(f"{path}: cannot read the App manifest: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SetupError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from exc
    if not isinstance(data, dict):
        raise SetupError(f"{path}: must be a mapping of GitHub App manifest parameters")
    return data


def _check_http_url(value: object, what: str) -> str:
    if not isinstance(value, str) or urlsplit(value).scheme not in ("http", "https") or not urlsplit(value).netloc:
        raise SetupError(f"{what}: must be an http:// or https:// URL, not {value!r}")
    return value


def build_manifest(
    app_yml: Mapping[str, Any],
    *,
    redirect_url: str,
    webhook_url: str | None = None,
    source: str = "app.yml",
) -> dict[str, Any]:
    """The manifest JSON GitHub expects: `app_yml` as written, `redirect_url` back to this server,
    and `hook_attributes.url` replaced by `webhook_url` when one is given."""
    unknown = sorted(str(key) for key in set(app_yml) - MANIFEST_KEYS)
    if unknown:
        raise SetupError(f"{source}: not a GitHub App manifest parameter: {', '.join(unknown)}")
    for key in ("name", "url"):
        if not isinstance(app_yml.get(key), str) or not app_yml[key].strip():
            raise SetupError(f"{source}: {key}: required")
    _check_http_url(app_yml["url"], f"{source}: url")
    manifest = copy.deepcopy(dict(app_yml))
    hook = manifest.get("hook_attributes")
    if hook is not None and not isinstance(hook, dict):
        raise SetupError(f"{source}: hook_attributes: must be a mapping with a url")
    if webhook_url is not None:
        hook = {**(hook or {}), "url": _check_http_url(webhook_url, "webhook URL")}
    if hook is not None:
        _check_http_url(hook.get("url"), f"{source}: hook_attributes.url")
        manifest["hook_attributes"] = hook
    for key in ("default_events", "callback_urls"):
        value = manifest.get(key)
        if value is not None and not (isinstance(value, list) and all(isinstance(item, str) for item in value)):
            raise SetupError(f"{source}: {key}: must be a list of strings")
    permissions = manifest.get("default_permissions")
    if permissions is not None and not (
        isinstance(permissions, dict) and all(isinstance(v, str) for v in permissions.values())
    ):
        raise SetupError(f"{source}: default_permissions: must map each permission to read, write or admin")
    manifest["redirect_url"] = _check_http_url(redirect_url, "redirect URL")
    return manifest


def check_org(org: str) -> str:
    if not LOGIN_RE.match(org):
        raise SetupError(f"organization: {org!r} is not a GitHub organization name")
    return org


def registration_url(github_url: str, state: str, org: str | None = None) -> str:
    """Where the manifest form posts: the personal account's or an organization's new-App page."""
    base = github_url.rstrip("/")
    path = "/settings/apps/new" if org is None else f"/organizations/{quote(check_org(org))}/settings/apps/new"
    return f"{base}{path}?{urlencode({'state': state})}"


# -- the conversion -----------------------------------------------------------------------------------


class _Owner(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    login: str
    type: str = "User"


class AppCredentials(BaseModel):
    """The fields of `POST /app-manifests/{code}/conversions`' 201 answer that setup uses."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    id: int
    slug: str
    name: str
    html_url: str
    pem: str
    webhook_secret: str | None = None
    owner: _Owner | None = None


async def exchange_code(session: aiohttp.ClientSession, api_url: str, code: str) -> AppCredentials:
    """Trade the temporary code for the App's id, key and secret (one try: the code is single-use)."""
    gh = GitHubAPI(session, USER_AGENT, base_url=api_url)
    try:
        data = await gh.post("/app-manifests/{code}/conversions", url_vars={"code": code}, data={})
    except gidgethub.HTTPException as exc:
        detail = f" ({exc})" if str(exc) else ""
        raise SetupError(
            f"GitHub answered {int(exc.status_code)} to the code exchange{detail}; the code works once and only "
            "for an hour: run setup again"
        ) from exc
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise SetupError(f"cannot reach {api_url} to exchange the code: {exc or type(exc).__name__}") from exc
    try:
        return AppCredentials.model_validate(data)
    except ValidationError as exc:
        raise SetupError(f"unexpected answer to the code exchange: {first_error(exc)}") from exc


# -- .env -----------------------------------------------------------------------------------------------


def env_updates(app: AppCredentials) -> dict[str, str]:
    values = {
        "APP_ID": str(app.id),
        "PRIVATE_KEY": app.pem.strip() + "\n",
        "WEBHOOK_SECRET": app.webhook_secret or "",
        "APP_SLUG": app.slug,
        "APP_URL": app.html_url,
    }
    if not app.webhook_secret:
        del values["WEBHOOK_SECRET"]  # an App registered without a webhook has none
    return values


def env_line(key: str, value: str) -> str:
    """One `.env` line that python-dotenv (so pydantic-settings) reads back as exactly `value`.

    Plain values stay bare; anything else is double-quoted with `\\`, `"` and line breaks escaped,
    so a PEM becomes one line with literal `\\n` that dotenv turns back into newlines."""
    if not _ENV_KEY_RE.match(key):
        raise ValueError(f"not an environment variable name: {key!r}")
    if "${" in value:
        raise ValueError(f"{key}: python-dotenv would expand the '${{' in this value")
    if _PLAIN_VALUE_RE.match(value):
        return f"{key}={value}"
    escaped = (
        value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    )
    return f'{key}="{escaped}"'


def existing_env_values(text: str) -> dict[str, str | None]:
    """The values a `.env` text sets (the last one of a repeated name, as dotenv reads it)."""
    return {b.key: b.value for b in parse_stream(io.StringIO(text)) if b.key is not None}


@dataclass(frozen=True)
class EnvMerge:
    text: str
    added: tuple[str, ...]
    replaced: tuple[str, ...]
    kept: tuple[str, ...]
    unchanged: tuple[str, ...]

    @property
    def written(self) -> tuple[str, ...]:
        return self.added + self.replaced


def merge_env(existing: str, updates: Mapping[str, str], *, replace: frozenset[str] | set[str]) -> EnvMerge:
    """`existing` with `updates` merged in: new names appended, names in `replace` rewritten where
    they stand, names set to another value and not in `replace` kept; every other byte unchanged."""
    current = existing_env_values(existing)
    added = tuple(k for k in updates if k not in current)
    unchanged = tuple(k for k in updates if k in current and current[k] == updates[k])
    replaced = tuple(k for k in updates if k in current and current[k] != updates[k] and k in replace)
    kept = tuple(k for k in updates if k in current and current[k] != updates[k] and k not in replace)
    pieces: list[str] = []
    for binding in parse_stream(io.StringIO(existing)):
        original = binding.original.string
        if binding.key is not None and binding.key in replaced:
            lead = original[: len(original) - len(original.lstrip())]
            pieces.append(lead + env_line(binding.key, updates[binding.key]) + _line_ending(original))
        else:
            pieces.append(original)
    text = "".join(pieces)
    if added:
        if text and not text.endswith(("\n", "\r")):
            text += "\n"
        text += "".join(env_line(k, updates[k]) + "\n" for k in added)
    return EnvMerge(text=text, added=added, replaced=replaced, kept=kept, unchanged=unchanged)


def _line_ending(line: str) -> str:
    match = _LINE_END_RE.search(line)
    return (match.group(1) or "") if match else ""


def write_private_file(path: Path, text: str) -> None:
    """Replace `path` atomically with `text`, readable and writable by its owner only (0600)."""
    target = path.resolve()
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_text_exact(path: Path) -> str:
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            return handle.read()
    except FileNotFoundError:
        return ""


# -- pages ------------------------------------------------------------------------------------------------

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 46rem; margin: 2rem auto; padding: 0 1rem; color: #1f2328; }
h1 { font-size: 1.6rem; } code { background: #f6f8fa; padding: 0 .2rem; }
table { border-collapse: collapse; } td, th { text-align: left; padding: .15rem .8rem .15rem 0; }
button { font-size: 1rem; padding: .5rem 1rem; background: #1f883d; color: #fff; border: 0; border-radius: 6px; }
input { font-size: 1rem; padding: .3rem; } .error { color: #d1242f; } .note { color: #59636e; }
"""


def _page(title: str, body: str, status: int = 200) -> web.Response:
    doc = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,">'
        f"<title>{html.escape(title)}</title>"
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_STYLE}</style></head>'
        f"<body>{body}</body></html>"
    )
    return web.Response(text=doc, status=status, content_type="text/html")


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _script_json(value: object) -> str:
    """JSON safe inside <script>: no `</script>` or `<!--` can close or confuse the element."""
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_start_page(manifest: Mapping[str, Any], *, github_url: str, state: str, org: str | None) -> str:
    perms = manifest.get("default_permissions") or {}
    events = manifest.get("default_events") or []
    hook = (manifest.get("hook_attributes") or {}).get("url")
    base = github_url.rstrip("/")
    rows = "".join(f"<tr><td><code>{_esc(k)}</code></td><td>{_esc(v)}</td></tr>" for k, v in perms.items())
    script = f"""
document.getElementById("register").addEventListener("submit", function () {{
  var org = document.getElementById("org").value;
  this.action = org ? {_script_json(base + "/organizations/")} + encodeURIComponent(org) + {
        _script_json("/settings/apps/new?" + urlencode({"state": state}))
    } : {_script_json(registration_url(github_url, state))};
}});"""
    return f"""
<h1>Register {_esc(manifest["name"])} as a GitHub App</h1>
<p>{_esc(manifest.get("description", ""))}</p>
<p>This sends the manifest in <code>app.yml</code> to <a href="{_esc(base)}">{_esc(base)}</a>. GitHub shows it to you
before anything is created; then it sends you back here and the App's id, private key and webhook secret are written
to <code>.env</code>.</p>
<table><tr><th>Permission</th><th>Access</th></tr>{rows}</table>
<p>Events: {", ".join(f"<code>{_esc(e)}</code>" for e in events) or "none"}</p>
<p>Webhook URL: <code>{_esc(hook or "none (no webhook)")}</code></p>
<form id="register" method="post" action="{_esc(registration_url(github_url, state, org))}">
  <input type="hidden" name="manifest" value="{_esc(json.dumps(manifest))}">
  <p><label for="org">Organization (leave empty to register it on your personal account):</label><br>
  <input id="org" value="{_esc(org or "")}" placeholder="your-organization" pattern="{_LOGIN_PATTERN_HTML}"
   autocomplete="off" spellcheck="false"></p>
  <button type="submit">Register on GitHub</button>
</form>
<noscript><p class="note">Without JavaScript the App is registered on the account shown by the form's address; use
<code>python -m bot setup --org NAME</code> for an organization.</p></noscript>
<script>{script}</script>"""


def _settings_url(github_url: str, app: AppCredentials) -> str:
    base = github_url.rstrip("/")
    if app.owner is not None and app.owner.type == "Organization":
        return f"{base}/organizations/{quote(app.owner.login)}/settings/apps/{quote(app.slug)}"
    return f"{base}/settings/apps/{quote(app.slug)}"


def next_steps(app: AppCredentials, *, github_url: str, hook_url: str | None, webhook_path: str) -> list[str]:
    steps = [
        f"  1. Install the App on a repository: {app.html_url}/installations/new",
        "  2. Start the web server and the worker (both read .env; they need Redis at REDIS_URL):",
        "       python -m bot web",
        "       python -m bot worker",
    ]
    settings = _settings_url(github_url, app)
    if hook_url:
        steps.append(f"  3. GitHub sends the App's webhooks to {hook_url}; it must reach the web server's")
        steps.append(f"     WEBHOOK_PATH ({webhook_path}). Change it under {settings} if it does not.")
    else:
        steps.append(f"  3. The App has no webhook yet: set one under {settings} that reaches the web")
        steps.append(f"     server's WEBHOOK_PATH ({webhook_path}), and put its secret in WEBHOOK_SECRET.")
    return steps


def _names(keys: Sequence[str]) -> str:
    return ", ".join(keys)


# -- the local server ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Done:
    app: AppCredentials | None
    merge: EnvMerge | None
    error: str | None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


class _SetupServer:
    """The local pages; one `state` per run, consumed by the first callback that carries it."""

    def __init__(
        self,
        *,
        app_yml: Mapping[str, Any],
        env_path: Path,
        github_url: str,
        api_url: str,
        listen_host: str,
        webhook_url: str | None,
        webhook_path: str,
        org: str | None,
        confirm: Callable[[str], bool],
        out: TextIO,
        session: aiohttp.ClientSession,
    ) -> None:
        self.app_yml = app_yml
        self.env_path = env_path
        self.github_url = github_url
        self.api_url = api_url
        self.listen_host = listen_host
        self.webhook_url = webhook_url
        self.webhook_path = webhook_path
        self.org = org
        self.confirm = confirm
        self.out = out
        self.session = session
        self.state = secrets.token_urlsafe(32)
        self.hook_url: str | None = None
        self.done: asyncio.Future[_Done] = asyncio.get_running_loop().create_future()
        self._lock = asyncio.Lock()
        self._used = False

    def make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._only_known_hosts])
        app.add_routes([web.get("/", self.start), web.get(CALLBACK_PATH, self.callback)])
        return app

    @web.middleware
    async def _only_known_hosts(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        # The page builds GitHub's redirect_url from the Host header, so a name that only a DNS
        # rebinding could point here must not be trusted: IP literals, localhost and our own host only.
        host = (request.url.host or "").lower()
        if not (_is_ip(host) or host in ("localhost", self.listen_host.lower())):
            hint = f"http://localhost:{request.url.port}/ (or by IP address)"
            return _page("Wrong address", f"<p class=error>Open this page as {_esc(hint)}.</p>", 421)
        return await handler(request)

    def _print(self, line: str) -> None:
        print(line, file=self.out, flush=True)

    async def start(self, request: web.Request) -> web.Response:
        redirect_url = f"{request.url.scheme}://{request.url.raw_authority}{CALLBACK_PATH}"
        manifest = build_manifest(self.app_yml, redirect_url=redirect_url, webhook_url=self.webhook_url)
        self.hook_url = (manifest.get("hook_attributes") or {}).get("url")
        body = render_start_page(manifest, github_url=self.github_url, state=self.state, org=self.org)
        return _page(f"Register {manifest['name']} on GitHub", body)

    async def callback(self, request: web.Request) -> web.StreamResponse:
        state = request.query.get("state", "")
        code = request.query.get("code", "")
        if not state or not secrets.compare_digest(state.encode(), self.state.encode()):
            self._print("setup: refused an answer from GitHub with a missing or wrong state; nothing was written")
            body = f'<h1>Refused</h1><p class=error>{_esc(REFUSED_STATE)}</p><p><a href="/">Start again</a></p>'
            return _page("Refused", body, 400)
        if not _CODE_RE.match(code):
            return _page("No code", "<h1>No code</h1><p class=error>GitHub's answer carries no valid code.</p>", 400)
        async with self._lock:
            if self._used:
                return _page("Already done", "<h1>Already done</h1><p>This registration was already finished.</p>", 409)
            self._used = True
            try:
                result = await self._finish(code)
            except Exception as exc:  # the run must end with its one line, whatever went wrong
                result = _Done(None, None, f"unexpected error: {type(exc).__name__}: {exc}")
        if result.error is not None:
            response = _page("Setup failed", f"<h1>Setup failed</h1><p class=error>{_esc(result.error)}</p>", 502)
        else:
            response = _page("Registered", self._success_body(result))
        # Send the page before the run ends and the server stops.
        await response.prepare(request)
        await response.write_eof()
        if not self.done.done():
            self.done.set_result(result)
        return response

    async def _finish(self, code: str) -> _Done:
        try:
            app = await exchange_code(self.session, self.api_url, code)
        except SetupError as exc:
            return _Done(None, None, str(exc))
        owner = app.owner.login if app.owner else "your account"
        self._print(f'Registered the GitHub App "{app.name}" (id {app.id}) on {owner}: {app.html_url}')
        updates = env_updates(app)
        try:
            existing = _read_text_exact(self.env_path)
            current = existing_env_values(existing)
            replace: set[str] = set()
            for key, value in updates.items():
                if key in current and current[key] != value:
                    if await asyncio.to_thread(self.confirm, self._question(key, current[key], value)):
                        replace.add(key)
            merge = merge_env(existing, updates, replace=replace)
            _store_env(self.env_path, existing, merge)
        except (OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else str(exc)
            return _Done(
                app,
                None,
                f"cannot write {self.env_path}: {reason}; the App is registered at {app.html_url}: "
                "generate a new private key in its settings and set APP_ID, PRIVATE_KEY and WEBHOOK_SECRET yourself",
            )
        return _Done(app, merge, None)

    def _question(self, key: str, old: str | None, new: str) -> str:
        shown = "" if key in SECRET_KEYS else f" ({old!s} -> {new})"
        return f"{key} is already set in {self.env_path} to another value{shown}. Replace it with the new App's?"

    def _success_body(self, result: _Done) -> str:
        assert result.app is not None and result.merge is not None
        app, merge = result.app, result.merge
        kept = (
            f"<p class=error>Kept the existing {_esc(_names(merge.kept))} in <code>.env</code>, as you answered: "
            "those are not the new App's.</p>"
            if merge.kept
            else ""
        )
        steps = "".join(
            f"<li>{step}</li>"
            for step in (
                f'Install it on a repository: <a href="{_esc(app.html_url)}/installations/new">'
                f"{_esc(app.html_url)}/installations/new</a>",
                "Start <code>python -m bot web</code> and <code>python -m bot worker</code>.",
                f"Make sure GitHub's webhook URL (<code>{_esc(self.hook_url or 'none yet')}</code>) reaches the "
                f"web server's <code>WEBHOOK_PATH</code> (<code>{_esc(self.webhook_path)}</code>).",
            )
        )
        return (
            f'<h1>{_esc(app.name)} is registered</h1><p>GitHub App <a href="{_esc(app.html_url)}">'
            f"{_esc(app.html_url)}</a> (id {app.id}).</p>"
            f"<p>Wrote {_esc(_names(merge.written) or 'nothing new')} to <code>{_esc(self.env_path)}</code> "
            f"(mode 0600).</p>{kept}<h2>Next steps</h2><ol>{steps}</ol>"
            "<p class=note>You can close this tab; the setup server has stopped.</p>"
        )


def _preflight(
    manifest_path: Path, env_path: Path, *, webhook_url: str | None, org: str | None
) -> tuple[dict[str, Any], Path]:
    """Fail before serving anything: a bad manifest, organization or unwritable `.env`."""
    app_yml = read_app_yml(manifest_path)
    build_manifest(
        app_yml, redirect_url=f"http://localhost{CALLBACK_PATH}", webhook_url=webhook_url, source=str(manifest_path)
    )
    if org:
        check_org(org)
    env_path = env_path.absolute()
    if not os.access(env_path.resolve().parent, os.W_OK) or (env_path.exists() and not os.access(env_path, os.W_OK)):
        raise SetupError(f"{env_path}: not writable")
    return app_yml, env_path


def _store_env(path: Path, existing: str, merge: EnvMerge) -> None:
    if merge.text != existing or not path.exists():
        write_private_file(path, merge.text)
    else:
        os.chmod(path.resolve(), 0o600)  # nothing to change, but the mode is ours to keep


def _display_url(host: str, port: int) -> str:
    if host in ("", "0.0.0.0", "::"):
        host = "localhost"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/"


async def run_setup(
    *,
    manifest_path: Path,
    env_path: Path,
    github_url: str,
    api_url: str,
    confirm: Callable[[str], bool],
    out: TextIO,
    err: TextIO | None = None,
    host: str = "127.0.0.1",
    port: int = 3000,
    webhook_url: str | None = None,
    org: str | None = None,
    webhook_path: str = "/api/github/webhooks",
    ready: Callable[[str], None] | None = None,
) -> int:
    """Serve the registration page on `host:port` until GitHub's answer is handled; 0 on success,
    1 with one line on `err` (default `out`) otherwise. `ready(url)` is called once it listens."""
    err = err or out
    try:
        app_yml, env_path = _preflight(manifest_path, env_path, webhook_url=webhook_url, org=org)
    except SetupError as exc:
        print(f"setup: {exc}", file=err, flush=True)
        return 1
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        server = _SetupServer(
            app_yml=app_yml,
            env_path=env_path,
            github_url=github_url,
            api_url=api_url,
            listen_host=host,
            webhook_url=webhook_url,
            webhook_path=webhook_path,
            org=org or None,
            confirm=confirm,
            out=out,
            session=session,
        )
        runner = web.AppRunner(server.make_app(), access_log=None, shutdown_timeout=5.0)
        await runner.setup()
        try:
            try:
                await web.TCPSite(runner, host, port).start()
            except OSError as exc:
                print(f"setup: cannot listen on {host}:{port}: {exc.strerror}", file=err, flush=True)
                return 1
            url = _display_url(host, int(runner.addresses[0][1]))
            print(
                f"Open {url} in a browser to register the GitHub App from {manifest_path.name} on {github_url}.",
                file=out,
            )
            print("Waiting for GitHub to send you back here (Ctrl-C to stop)...", file=out, flush=True)
            if ready is not None:
                ready(url)
            result = await server.done
        finally:
            await runner.cleanup()
    if result.error is not None or result.app is None or result.merge is None:
        print(f"setup: {result.error}", file=err, flush=True)
        return 1
    merge = result.merge
    if merge.written:
        print(f"Wrote {_names(merge.written)} to {env_path} (mode 0600).", file=out)
    if merge.unchanged:
        print(f"{_names(merge.unchanged)} already had these values.", file=out)
    for key in merge.kept:
        print(f"Kept the existing {key} in {env_path} (you answered no): it is not the new App's.", file=out)
    if "WEBHOOK_SECRET" not in env_updates(result.app):
        print("GitHub made no webhook secret (the manifest has no webhook).", file=out)
    print("Next steps:", file=out)
    for line in next_steps(result.app, github_url=github_url, hook_url=server.hook_url, webhook_path=webhook_path):
        print(line, file=out)
    out.flush()
    return 0

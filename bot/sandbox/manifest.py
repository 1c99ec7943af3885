"""GitHub's side of the App manifest flow, for tests and the sandbox GitHub.

What it stands in for (docs.github.com, "Registering a GitHub App from a manifest"):

- `POST /settings/apps/new?state=S` and `POST /organizations/{org}/settings/apps/new?state=S` take the
  `manifest` form field (JSON) and show what GitHub shows before anything exists: the App's name
  (editable), description, permissions, events and webhook URL, and a "Create GitHub App" button;
- that button posts to `/settings/apps` (or `/organizations/{org}/settings/apps`), which registers the
  App and redirects to `redirect_url?code=C&state=S` with the state it was given, as GitHub does;
- `POST /app-manifests/{code}/conversions` (no auth) answers 201 with the App in GitHub's JSON shape
  (copied from a real recording: `tests/fixtures/github-api/apps/create-app-from-manifest.201.json`)
  and a freshly made RSA key as `pem`; a code works once and for an hour, and an unknown, used or
  expired code answers 404 as GitHub does;
- `/apps/{slug}` and `/apps/{slug}/installations/new` are small pages, so the links setup prints lead
  somewhere.

Self-contained: `ManifestSandbox.add_routes(app)` mounts it into another `web.Application` (the
sandbox GitHub), `serve_manifest_sandbox` serves it alone (one server for GITHUB_URL and GITHUB_API_URL).
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import secrets
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

__all__ = ["CODE_TTL_SECONDS", "CreatedApp", "ManifestSandbox", "serve_manifest_sandbox"]

JSONDict = dict[str, Any]

CODE_TTL_SECONDS = 3600.0
"""GitHub: "You must complete all three steps in the GitHub App Manifest flow within one hour"."""
DOCS_URL = "https://docs.github.com/rest/apps/apps#create-a-github-app-from-a-manifest"
ACCESS = ("read", "write", "admin")
LOGIN_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}\Z")


def _iso_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_rsa_pem() -> str:
    """A 2048-bit key in the format GitHub hands out: PKCS#1 (`BEGIN RSA PRIVATE KEY`), newline-terminated."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode()


def slugify(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


@dataclass
class CreatedApp:
    """One App registered through the stand-in page, for a test to inspect."""

    id: int
    slug: str
    name: str
    manifest: JSONDict
    owner: JSONDict
    organization: str | None
    state: str | None
    code: str
    code_expires_at: float
    web_root: str
    client_id: str = field(default_factory=lambda: "Iv23li" + secrets.token_hex(7))
    client_secret: str = field(default_factory=lambda: secrets.token_hex(20))
    webhook_secret: str | None = None
    created_at: str = field(default_factory=_iso_now)
    pem: str | None = None  # made on conversion, as GitHub shows the key only then
    converted: bool = False

    @property
    def html_url(self) -> str:
        return f"{self.web_root}/apps/{self.slug}"


@dataclass(frozen=True)
class _Failure:
    status: int
    body: JSONDict


class ManifestSandbox:
    """In-memory state of the manifest flow: the Apps registered and the codes handed out."""

    def __init__(
        self,
        *,
        user: str = "octocat",
        github_url: str | None = None,
        api_url: str | None = None,
        code_ttl: float = CODE_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        first_app_id: int = 900_001,
    ) -> None:
        self.user = user
        self.github_url = github_url
        self.api_url = api_url
        self.code_ttl = code_ttl
        self.clock = clock
        self.apps: list[CreatedApp] = []
        self.conversion_requests: list[str] = []  # every code asked for, known or not
        self._next_id = first_app_id
        self._failures: list[_Failure] = []

    # -- inspection and fault injection ---------------------------------------------------------

    def app(self, slug: str) -> CreatedApp:
        for created in self.apps:
            if created.slug == slug:
                return created
        raise KeyError(f"no App {slug!r} was registered")

    def fail_next_conversion(self, status: int = 422, message: str = "Validation Failed") -> None:
        """The next conversion answers `status` with GitHub's error shape, whatever the code."""
        self._failures.append(
            _Failure(status, {"message": message, "documentation_url": DOCS_URL, "status": str(status)})
        )

    # -- mounting -----------------------------------------------------------------------------------

    def routes(self, *, web_prefix: str = "", api_prefix: str = "") -> list[web.RouteDef]:
        """The web pages under `web_prefix` (GITHUB_URL's path) and the API under `api_prefix`
        (GITHUB_API_URL's path, `/api/v3` on GitHub Enterprise Server)."""
        w, a = web_prefix.rstrip("/"), api_prefix.rstrip("/")
        return [
            web.post(f"{w}/settings/apps/new", self._new_app_page),
            web.post(w + "/organizations/{org}/settings/apps/new", self._new_app_page),
            web.post(f"{w}/settings/apps", self._create_app),
            web.post(w + "/organizations/{org}/settings/apps", self._create_app),
            web.get(w + "/apps/{slug}", self._app_page),
            web.get(w + "/apps/{slug}/installations/new", self._install_page),
            web.post(a + "/app-manifests/{code}/conversions", self._conversion),
        ]

    def add_routes(self, app: web.Application, *, web_prefix: str = "", api_prefix: str = "") -> None:
        app.add_routes(self.routes(web_prefix=web_prefix, api_prefix=api_prefix))

    def make_app(self) -> web.Application:
        app = web.Application()
        self.add_routes(app)
        return app

    # -- helpers ------------------------------------------------------------------------------------

    def _web_root(self, request: web.Request) -> str:
        return (self.github_url or str(request.url.origin())).rstrip("/")

    def _api_root(self, request: web.Request) -> str:
        return (self.api_url or str(request.url.origin())).rstrip("/")

    def _account(self, request: web.Request) -> str | None:
        org = request.match_info.get("org")
        if org is not None and not LOGIN_RE.match(org):
            raise web.HTTPNotFound(text="Not Found")
        return org

    @staticmethod
    def _owner_json(login: str, kind: str, api_root: str, web_root: str) -> JSONDict:
        uid = 1_000_000 + zlib.crc32(login.lower().encode()) % 10**8
        node = ("MDEyOk9yZ2FuaXphdGlvbj" if kind == "Organization" else "MDQ6VXNlcj") + str(uid)
        user = f"{api_root}/users/{quote(login)}"
        return {
            "login": login,
            "id": uid,
            "node_id": node,
            "avatar_url": f"https://avatars.githubusercontent.com/u/{uid}?v=4",
            "gravatar_id": "",
            "url": user,
            "html_url": f"{web_root}/{quote(login)}",
            "followers_url": f"{user}/followers",
            "following_url": f"{user}/following{{/other_user}}",
            "gists_url": f"{user}/gists{{/gist_id}}",
            "starred_url": f"{user}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{user}/subscriptions",
            "organizations_url": f"{user}/orgs",
            "repos_url": f"{user}/repos",
            "events_url": f"{user}/events{{/privacy}}",
            "received_events_url": f"{user}/received_events",
            "type": kind,
            "site_admin": False,
        }

    @staticmethod
    def _manifest_errors(raw: str | None) -> tuple[JSONDict | None, list[str]]:
        """Parse and check the manifest the way GitHub's page does (the parts a sandbox needs)."""
        if not raw:
            return None, ["No manifest was posted (the form field is called manifest)."]
        try:
            manifest = json.loads(raw)
        except json.JSONDecodeError as exc:
            return None, [f"The manifest is not valid JSON: {exc.msg}."]
        if not isinstance(manifest, dict):
            return None, ["The manifest must be a JSON object."]
        errors = []
        if not isinstance(manifest.get("url"), str) or not urlsplit(manifest["url"]).scheme:
            errors.append("url wasn't supplied.")
        hook = manifest.get("hook_attributes")
        if hook is not None and (not isinstance(hook, dict) or not isinstance(hook.get("url"), str)):
            errors.append("hook_attributes.url wasn't supplied.")
        perms = manifest.get("default_permissions", {})
        if not isinstance(perms, dict) or any(v not in ACCESS for v in perms.values()):
            errors.append("default_permissions must map each permission to read, write or admin.")
        events = manifest.get("default_events", [])
        if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
            errors.append("default_events must be a list of event names.")
        redirect = manifest.get("redirect_url")
        if redirect is not None and (
            not isinstance(redirect, str) or urlsplit(redirect).scheme not in ("http", "https")
        ):
            errors.append("redirect_url must be an http(s) URL.")
        return manifest, errors

    # -- web pages ------------------------------------------------------------------------------------

    async def _new_app_page(self, request: web.Request) -> web.Response:
        org = self._account(request)
        form = await request.post()
        raw = form.get("manifest")
        manifest, errors = self._manifest_errors(raw if isinstance(raw, str) else None)
        if manifest is None or errors:
            items = "".join(f"<li>{html.escape(e)}</li>" for e in errors)
            return _page("Invalid GitHub App manifest", f"<h1>Invalid GitHub App manifest</h1><ul>{items}</ul>", 422)
        action = request.path.removesuffix("/new")  # .../settings/apps, where GitHub's form posts
        return _page("Create GitHub App", self._confirm_form(manifest, org, request.query.get("state"), action))

    def _confirm_form(
        self, manifest: Mapping[str, Any], org: str | None, state: str | None, action: str, error: str = ""
    ) -> str:
        account = f"organization {org}" if org else f"your personal account ({self.user})"
        perms = "".join(
            f"<li><code>{html.escape(str(k))}</code>: {html.escape(str(v))}</li>"
            for k, v in (manifest.get("default_permissions") or {}).items()
        )
        events = "".join(f"<li><code>{html.escape(str(e))}</code></li>" for e in manifest.get("default_events") or [])
        hook = (manifest.get("hook_attributes") or {}).get("url", "")
        hidden = f'<input type="hidden" name="manifest" value="{html.escape(json.dumps(manifest))}">'
        if state is not None:
            hidden += f'<input type="hidden" name="state" value="{html.escape(state)}">'
        problem = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
        return f"""
<h1>Create GitHub App for {html.escape(account)}</h1>{problem}
<form method="post" action="{html.escape(action)}">{hidden}
<p><label for="name">GitHub App name</label><br>
<input id="name" name="name" value="{html.escape(str(manifest.get("name") or ""))}" required></p>
<p>{html.escape(str(manifest.get("description") or ""))}</p>
<p>Homepage URL: <code>{html.escape(str(manifest.get("url")))}</code></p>
<p>Webhook URL: <code id="webhook-url">{html.escape(str(hook))}</code></p>
<h2>Permissions</h2><ul id="permissions">{perms}</ul>
<h2>Subscribe to events</h2><ul id="events">{events}</ul>
<button type="submit">Create GitHub App</button>
</form>"""

    async def _create_app(self, request: web.Request) -> web.StreamResponse:
        org = self._account(request)
        form = await request.post()
        raw, name, state = form.get("manifest"), form.get("name"), form.get("state")
        manifest, errors = self._manifest_errors(raw if isinstance(raw, str) else None)
        if manifest is None or errors:
            return _page("Invalid GitHub App manifest", "<h1>Invalid GitHub App manifest</h1>", 422)
        state = state if isinstance(state, str) else None
        name = name.strip() if isinstance(name, str) else ""
        slug = slugify(name)
        problem = (
            "Name can't be blank"
            if not slug
            else "Name is already in use"
            if any(created.slug == slug for created in self.apps)
            else ""
        )
        if problem:
            page = self._confirm_form({**manifest, "name": name}, org, state, request.path, problem)
            return _page("Create GitHub App", page, 422)
        web_root = self._web_root(request)
        created = CreatedApp(
            id=self._next_id,
            slug=slug,
            name=name,
            manifest=manifest,
            owner={"login": org or self.user, "type": "Organization" if org else "User"},
            organization=org,
            state=state,
            code=secrets.token_hex(20),
            code_expires_at=self.clock() + self.code_ttl,
            web_root=web_root,
            webhook_secret=secrets.token_hex(20) if manifest.get("hook_attributes") else None,
        )
        self._next_id += 1
        self.apps.append(created)
        redirect = manifest.get("redirect_url")
        if not redirect:
            raise web.HTTPFound(created.html_url)
        query = {"code": created.code, **({"state": state} if state is not None else {})}
        raise web.HTTPFound(redirect + ("&" if "?" in redirect else "?") + urlencode(query))

    def _find(self, slug: str) -> CreatedApp:
        try:
            return self.app(slug)
        except KeyError:
            raise web.HTTPNotFound(text="Not Found") from None

    async def _app_page(self, request: web.Request) -> web.Response:
        created = self._find(request.match_info["slug"])
        return _page(created.name, f"<h1>{html.escape(created.name)}</h1><p>GitHub App, id {created.id}.</p>")

    async def _install_page(self, request: web.Request) -> web.Response:
        created = self._find(request.match_info["slug"])
        return _page(
            f"Install {created.name}",
            f"<h1>Install {html.escape(created.name)}</h1><p>Pick repositories (not modelled here).</p>",
        )

    # -- API --------------------------------------------------------------------------------------------

    async def _conversion(self, request: web.Request) -> web.Response:
        code = request.match_info["code"]
        self.conversion_requests.append(code)
        if self._failures:
            failure = self._failures.pop(0)
            return _json(failure.body, failure.status)
        created = next((c for c in self.apps if secrets.compare_digest(c.code, code)), None)
        if created is None or created.converted or self.clock() >= created.code_expires_at:
            return _json({"message": "Not Found", "documentation_url": DOCS_URL, "status": "404"}, 404)
        created.converted = True
        created.pem = await asyncio.to_thread(new_rsa_pem)
        return _json(self._conversion_json(created, self._api_root(request)), 201)

    def _conversion_json(self, created: CreatedApp, api_root: str) -> JSONDict:
        """The 201 body, key for key in the order of the recorded answer."""
        manifest = created.manifest
        owner = self._owner_json(created.owner["login"], created.owner["type"], api_root, created.web_root)
        permissions = {"metadata": "read", **dict(manifest.get("default_permissions") or {})}
        return {
            "id": created.id,
            "slug": created.slug,
            "node_id": "A_kwHO" + secrets.token_urlsafe(9),
            "owner": owner,
            "name": created.name,
            "description": manifest.get("description"),
            "external_url": manifest.get("url"),
            "html_url": created.html_url,
            "created_at": created.created_at,
            "updated_at": created.created_at,
            "client_id": created.client_id,
            "webhook_secret": created.webhook_secret,
            "pem": created.pem,
            "client_secret": created.client_secret,
            "permissions": permissions,
            "events": list(manifest.get("default_events") or []),
        }


_STYLE = "body{font-family:system-ui,sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem}.error{color:#d1242f}"


def _page(title: str, body: str, status: int = 200) -> web.Response:
    doc = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,">'
        f"<title>{html.escape(title)} · GitHub sandbox"
        f"</title><style>{_STYLE}</style></head><body>{body}</body></html>"
    )
    return web.Response(text=doc, status=status, content_type="text/html")


def _json(body: JSONDict, status: int) -> web.Response:
    headers = {
        "X-GitHub-Media-Type": "github.v3; format=json",
        "X-GitHub-Api-Version-Selected": "2022-11-28",
        "X-RateLimit-Resource": "integration_manifest",
        "X-GitHub-Request-Id": secrets.token_hex(8).upper(),
    }
    return web.Response(text=json.dumps(body), status=status, headers=headers, content_type="application/json")


async def serve_manifest_sandbox(
    sandbox: ManifestSandbox, host: str = "127.0.0.1", port: int = 0
) -> tuple[web.AppRunner, str]:
    """Serve the sandbox alone in this loop; return the runner (`cleanup()` it) and its base URL,
    which is both its GITHUB_URL and its GITHUB_API_URL."""
    runner = web.AppRunner(sandbox.make_app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    base_url = f"http://{host}:{runner.addresses[0][1]}"
    sandbox.github_url = sandbox.github_url or base_url
    sandbox.api_url = sandbox.api_url or base_url
    return runner, base_url

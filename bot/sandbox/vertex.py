"""A local server that speaks Google Vertex AI's API for Claude, and Google's OAuth token endpoint,
for tests and `python -m bot demo --provider vertex`.

The SDK's `AsyncAnthropicVertex` sends
`POST {base}/projects/{project}/locations/{region}/publishers/anthropic/models/{model}:rawPredict`
with the Messages API body less `model` and with `anthropic_version` in the body (Vertex's
documented `vertex-2023-10-16`; SDK 2.x sends its dated API version), authenticated with a Google
access token as a bearer token. This server:

- is also the token endpoint of a service account it makes (`service_account_info()`: the JSON a
  `GOOGLE_APPLICATION_CREDENTIALS` file holds, its `token_uri` pointing here). google-auth signs a
  JWT with the account's private key and trades it here (`POST /token`, the JWT-bearer grant); the
  server checks the JWT's RS256 signature with the account's public key, its issuer, audience,
  scope (`cloud-platform`) and expiry, and issues an access token. Nothing calls Google;
- answers `:rawPredict` only with a token it issued, for its project and region, with
  `anthropic_version` in the body and no `model` there.

Then it hands the request (with `model` from the path) to the sandbox Anthropic and answers in
Vertex's shape (errors: Google's `{"error": {"code", "message", "status"}}`).
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.sandbox.anthropic import AnthropicSandbox
from bot.sandbox.relay import JSON, Relay, accepted_version, start

VERTEX_VERSION = "vertex-2023-10-16"
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GOOGLE_AUDIENCE = (
    "https://oauth2.googleapis.com/token"  # a service account's JWT is for Google's endpoint, wherever it is sent
)
TOKEN_LIFETIME_S = 3600
_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
           429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}  # fmt: skip


@dataclass
class VertexCall:
    """One request as Vertex received it: for tests to check the SDK's request shape."""

    project: str
    region: str
    model: str
    specifier: str  # rawPredict
    body: JSON
    headers: dict[str, str]


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class VertexSandbox:
    """Vertex AI (and the service account's token endpoint) in front of `model`, already serving."""

    def __init__(
        self,
        model: AnthropicSandbox,
        *,
        project: str = "hookwise-sandbox",
        region: str = "us-east5",
        account: str = "hookwise@hookwise-sandbox.iam.gserviceaccount.com",
    ) -> None:
        self.relay = Relay(model)
        self.project = project
        self.region = region
        self.account = account
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._key_id = secrets.token_hex(20)
        self.base_url = ""
        self.tokens: dict[str, float] = {}  # issued access token -> expiry (epoch s)
        self.grants = 0  # tokens issued
        self.calls: list[VertexCall] = []
        self.refused: list[str] = []

    @property
    def token_uri(self) -> str:
        return f"{self.base_url}/token"

    @property
    def api_base_url(self) -> str:
        """What `ANTHROPIC_VERTEX_BASE_URL` is set to (Vertex's `https://{region}-aiplatform.googleapis.com/v1`)."""
        return f"{self.base_url}/v1"

    def service_account_info(self) -> JSON:
        """A service-account key file's JSON, as the Cloud console downloads it, for this server."""
        pem = self._key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        return {
            "type": "service_account",
            "project_id": self.project,
            "private_key_id": self._key_id,
            "private_key": pem,
            "client_email": self.account,
            "client_id": "100000000000000000001",
            "auth_uri": f"{self.base_url}/auth",
            "token_uri": self.token_uri,
        }

    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=32 * 1024 * 1024)
        app.cleanup_ctx.append(self.relay.session_ctx)
        app.router.add_post("/token", self._token)
        app.router.add_post(
            "/v1/projects/{project}/locations/{region}/publishers/anthropic/models/{call}", self._predict
        )
        return app

    # -- the token endpoint ---------------------------------------------------------------------

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("grant_type") != JWT_GRANT:
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        try:
            claims = jwt.decode(
                str(form.get("assertion", "")),
                self._key.public_key(),
                algorithms=["RS256"],
                audience=GOOGLE_AUDIENCE,
                issuer=self.account,
                options={"require": ["iss", "aud", "iat", "exp"]},
            )
        except jwt.PyJWTError as exc:
            self.refused.append(f"token: {exc}")
            return web.json_response({"error": "invalid_grant", "error_description": str(exc)}, status=400)
        if SCOPE not in str(claims.get("scope", "")).split():
            self.refused.append("token: no cloud-platform scope")
            return web.json_response({"error": "invalid_scope"}, status=400)
        token = f"ya29.sandbox-{secrets.token_urlsafe(24)}"
        self.tokens[token] = time.time() + TOKEN_LIFETIME_S
        self.grants += 1
        return web.json_response({"access_token": token, "expires_in": TOKEN_LIFETIME_S, "token_type": "Bearer"})

    # -- rawPredict -------------------------------------------------------------------------------

    async def _predict(self, request: web.Request) -> web.Response:
        try:
            model, specifier = self._route(request)
            self._authenticate(request)
            body = _body(await request.read())
        except _Refused as exc:
            self.refused.append(str(exc))
            return _error(exc.status, str(exc))
        info = request.match_info
        self.calls.append(VertexCall(info["project"], info["region"], model, specifier, body, dict(request.headers)))
        relayed = await self.relay.messages({**_without(body, "anthropic_version"), "model": model})
        if relayed.status != 200:
            status = 429 if relayed.status == 529 else relayed.status
            return _error(status, relayed.error_message or "error", headers=relayed.headers)
        return web.json_response(relayed.body)

    def _route(self, request: web.Request) -> tuple[str, str]:
        info = request.match_info
        model, _, specifier = info["call"].partition(":")
        if specifier != "rawPredict":
            raise _Refused(400, f"the sandbox answers :rawPredict, not :{specifier or '(none)'}")
        if info["project"] != self.project:
            raise _Refused(403, f"Permission denied on resource project {info['project']}")
        if info["region"] != self.region:
            raise _Refused(404, f"Publisher model not found in location {info['region']}")
        return model, specifier

    def _authenticate(self, request: web.Request) -> None:
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
        expiry = self.tokens.get(token)
        if expiry is None or expiry < time.time():
            raise _Refused(401, "Request had invalid authentication credentials. Expected OAuth 2 access token")


def _body(raw: bytes) -> JSON:
    try:
        body: Any = json.loads(raw)
    except ValueError:
        raise _Refused(400, "Invalid JSON payload received") from None
    if not isinstance(body, dict):
        raise _Refused(400, "Invalid JSON payload received: not an object")
    if not accepted_version(body.get("anthropic_version"), VERTEX_VERSION):
        raise _Refused(400, f"anthropic_version: must be {VERTEX_VERSION} or an API version")
    if "model" in body:
        raise _Refused(400, "model: the model is named in the URL, not the body")
    if body.get("stream"):
        raise _Refused(400, "the sandbox does not stream (streamRawPredict)")
    return body


def _without(body: JSON, *keys: str) -> JSON:
    return {key: value for key, value in body.items() if key not in keys}


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    error = {"code": status, "message": message, "status": _STATUS.get(status, "UNKNOWN")}
    return web.json_response({"error": error}, status=status, headers=headers or {})


async def start_sandbox(sandbox: VertexSandbox, host: str = "127.0.0.1", port: int = 0) -> tuple[web.AppRunner, str]:
    """Serve the Vertex sandbox in this event loop (its sandbox Anthropic must be serving)."""
    runner, sandbox.base_url = await start(sandbox.make_app(), host, port)
    return runner, sandbox.base_url

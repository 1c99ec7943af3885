"""A local server that speaks Amazon Bedrock's runtime API for Claude, for tests and
`python -m bot demo --provider bedrock`.

The SDK's `AsyncAnthropicBedrock` sends `POST /model/{modelId}/invoke` with the Messages API body
less `model` (it is in the path) and with `anthropic_version` in the body (Bedrock's documented
`bedrock-2023-05-31`; SDK 2.x sends its dated API version there), and
authenticates either with a SigV4 signature (botocore's signer, from AWS credentials) or with a
Bedrock API key as a bearer token (`AWS_BEARER_TOKEN_BEDROCK`). This server checks all of it as
Bedrock would:

- a SigV4 `Authorization` header is for this access key, this region and the service `bedrock`,
  dated as its `X-Amz-Date`, within 5 minutes of now, with the session token when one is
  configured, and its signature is recomputed with botocore's own `SigV4Auth` from the request as
  it arrived (method, path, signed headers, body) and the test's secret key;
- a bearer token is the configured Bedrock API key;
- the body carries `anthropic_version` (either form) and no `model`.

Then it hands the request (with `model` from the path) to the sandbox Anthropic and answers in
Bedrock's shape (errors: `{"message": ...}` with `x-amzn-ErrorType`).
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from aiohttp import web
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from bot.sandbox.anthropic import AnthropicSandbox
from bot.sandbox.relay import JSON, Relay, accepted_version, start

BEDROCK_VERSION = "bedrock-2023-05-31"
SERVICE = "bedrock"
MAX_SKEW = dt.timedelta(minutes=5)
_AUTH = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request,"
    r"\s*SignedHeaders=(?P<signed>[a-z0-9;-]+),\s*Signature=(?P<signature>[0-9a-f]{64})$"
)
_ERROR_TYPES = {
    400: "ValidationException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
}


@dataclass
class BedrockCall:
    """One request as Bedrock received it: for tests to check the SDK's request shape."""

    model_id: str
    auth: str  # "sigv4" or "bearer"
    body: JSON
    headers: dict[str, str]


class _Refused(Exception):
    def __init__(self, status: int, message: str, kind: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind or _ERROR_TYPES.get(status, "ValidationException")


class BedrockSandbox:
    """Bedrock in front of `model` (an `AnthropicSandbox` already serving)."""

    def __init__(
        self,
        model: AnthropicSandbox,
        *,
        region: str = "us-east-1",
        access_key: str = "AKIASANDBOXHOOKWISE1",
        secret_key: str = "sandbox/secret/key/not/a/real/one/at/all",
        session_token: str | None = None,
        bearer_token: str | None = None,
    ) -> None:
        self.relay = Relay(model)
        self.region = region
        self.access_key = access_key
        self.secret_key = secret_key
        self.session_token = session_token
        self.bearer_token = bearer_token
        self.base_url = ""
        self.calls: list[BedrockCall] = []
        self.refused: list[str] = []  # why each refused request was refused

    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=32 * 1024 * 1024)
        app.cleanup_ctx.append(self.relay.session_ctx)
        app.router.add_post("/model/{model_id}/invoke", self._invoke)
        return app

    async def _invoke(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            auth = self._authenticate(request, raw)
            body = _body(raw)
        except _Refused as exc:
            self.refused.append(str(exc))
            return _error(exc.status, str(exc), exc.kind)
        model_id = unquote(request.match_info["model_id"])
        self.calls.append(BedrockCall(model_id, auth, body, dict(request.headers)))
        relayed = await self.relay.messages(
            {**_without(body, "anthropic_version", "anthropic_beta"), "model": model_id}
        )
        if relayed.status != 200:
            status = 503 if relayed.status == 529 else relayed.status
            return _error(status, relayed.error_message or "error", headers=relayed.headers)
        return web.json_response(relayed.body, headers={"x-amzn-RequestId": relayed.headers.get("request-id", "")})

    # -- authentication ---------------------------------------------------------------------------

    def _authenticate(self, request: web.Request, raw: bytes) -> str:
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            if self.bearer_token is None or not hmac.compare_digest(header[7:].strip(), self.bearer_token):
                raise _Refused(403, "Invalid API Key format or API key not found (Bedrock API key)")
            return "bearer"
        if not header.startswith("AWS4-HMAC-SHA256 "):
            raise _Refused(403, "Missing Authentication Token", "MissingAuthenticationTokenException")
        self._check_sigv4(request, raw, header)
        return "sigv4"

    def _check_sigv4(self, request: web.Request, raw: bytes, header: str) -> None:
        parts = _AUTH.match(header)
        if parts is None:
            raise _Refused(
                403, f"Authorization header is not a SigV4 header: {header[:60]}", "IncompleteSignatureException"
            )
        if parts["key"] != self.access_key:
            raise _Refused(403, "The security token included in the request is invalid.", "UnrecognizedClientException")
        if parts["region"] != self.region or parts["service"] != SERVICE:
            raise _Refused(
                403,
                f"Credential should be scoped to a valid region and service: {parts['region']}/{parts['service']}, "
                f"not {self.region}/{SERVICE}",
                "InvalidSignatureException",
            )
        stamp = request.headers.get("X-Amz-Date", "")
        try:
            signed_at = dt.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
        except ValueError:
            raise _Refused(403, "X-Amz-Date is missing or malformed", "IncompleteSignatureException") from None
        if stamp[:8] != parts["date"]:
            raise _Refused(403, "the credential's date is not X-Amz-Date's", "InvalidSignatureException")
        if abs(dt.datetime.now(dt.UTC) - signed_at) > MAX_SKEW:
            raise _Refused(403, "Signature expired: more than 5 minutes from now", "InvalidSignatureException")
        if self.session_token is not None and request.headers.get("X-Amz-Security-Token") != self.session_token:
            raise _Refused(403, "The security token included in the request is invalid.", "UnrecognizedClientException")
        signed = parts["signed"].split(";")
        if "host" not in signed or "x-amz-date" not in signed:
            raise _Refused(403, "host and x-amz-date must be signed", "InvalidSignatureException")
        missing = [name for name in signed if name not in request.headers]
        if missing:
            raise _Refused(403, f"signed headers not in the request: {missing}", "InvalidSignatureException")
        # The request as it arrived, with exactly the headers the client signed, through botocore's signer.
        as_sent = AWSRequest(
            method=request.method,
            url=f"http://{request.host}{request.raw_path}",
            headers={name: request.headers[name] for name in signed},
            data=raw,
        )
        as_sent.context["timestamp"] = stamp
        signer = SigV4Auth(Credentials(self.access_key, self.secret_key, self.session_token), SERVICE, self.region)
        if signer.signed_headers(signer.headers_to_sign(as_sent)) != parts["signed"]:
            raise _Refused(403, "SignedHeaders does not list the signed headers", "InvalidSignatureException")
        expected = signer.signature(signer.string_to_sign(as_sent, signer.canonical_request(as_sent)), as_sent)
        if not hmac.compare_digest(expected, parts["signature"]):
            raise _Refused(
                403,
                "The request signature we calculated does not match the signature you provided.",
                "InvalidSignatureException",
            )


def _body(raw: bytes) -> JSON:
    try:
        body: Any = json.loads(raw)
    except ValueError:
        raise _Refused(400, "Malformed input request: not JSON") from None
    if not isinstance(body, dict):
        raise _Refused(400, "Malformed input request: not a JSON object")
    if not accepted_version(body.get("anthropic_version"), BEDROCK_VERSION):
        raise _Refused(400, f"Malformed input request: anthropic_version must be {BEDROCK_VERSION} or an API version")
    if "model" in body:
        raise _Refused(400, "Malformed input request: extraneous key [model] is not permitted")
    if body.get("stream"):
        raise _Refused(400, "the sandbox does not stream (invoke-with-response-stream)")
    return body


def _without(body: JSON, *keys: str) -> JSON:
    return {key: value for key, value in body.items() if key not in keys}


def _error(status: int, message: str, kind: str = "", headers: dict[str, str] | None = None) -> web.Response:
    error_type = kind or _ERROR_TYPES.get(status, "ValidationException")
    return web.json_response(
        {"message": message}, status=status, headers={"x-amzn-ErrorType": error_type, **(headers or {})}
    )


async def start_sandbox(sandbox: BedrockSandbox, host: str = "127.0.0.1", port: int = 0) -> tuple[web.AppRunner, str]:
    """Serve the Bedrock sandbox in this event loop (its sandbox Anthropic must be serving)."""
    runner, sandbox.base_url = await start(sandbox.make_app(), host, port)
    return runner, sandbox.base_url

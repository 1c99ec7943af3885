"""The sandboxes answered in this process, with no socket: the fakes of the unit tier.

The sandbox GitHub and Anthropic are aiohttp applications (bot/sandbox/github/, bot/sandbox/anthropic.py).
`InProcess` answers one of them as aiohttp's server would, minus the socket: the application's router
resolves the request, then its middlewares and the route's handler run, on a request made with
aiohttp's public test utility `make_mocked_request`. The fakes and the servers cannot disagree:
they are the same routes, state and answers.

On top of it, one fake of each kind, each replacing only the transport, so the real client code runs:
- GitHub: `SandboxGitHubAPI`, gidgethub's own testing pattern, a `gidgethub.abc.GitHubAPI` whose only
  own methods are `_request` and `sleep`. gidgethub's headers, JWT and token auth, `Link`
  pagination, ETag cache and error mapping run, and so does bot/adapters/github.py, which takes
  `github_backend(sandbox)` where the worker gives it an aiohttp session.
- The model: `model_http_client(sandbox)`, the anthropic SDK's own httpx client with a transport that
  answers from the sandbox model. The SDK builds, sends and parses every request as it does over a
  socket; `anthropic_client(settings, http_client=...)` (bot/worker/settings.py) takes it.

The end-to-end and process tests, and the demo, keep serving the sandboxes over HTTP.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp
import anthropic
import gidgethub.abc
import httpx2
from aiohttp import web
from aiohttp.base_protocol import BaseProtocol
from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict
from yarl import URL

from bot.adapters.github import GitHubBackend
from bot.sandbox.anthropic import MAX_BODY, AnthropicSandbox
from bot.sandbox.github import GitHubSandbox

log = logging.getLogger("hookwise.sandbox")

# Where the in-process sandboxes "are": never resolvable (RFC 2606's `.invalid`), so nothing that
# escapes the fakes reaches a network.
GITHUB_URL = "http://github.sandbox.invalid"
MODEL_URL = "http://anthropic.sandbox.invalid"

Answer = tuple[int, CIMultiDict[str], bytes]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class _Connection:
    """What aiohttp's Request asks of its protocol, transport and writer, with no socket behind them
    (`make_mocked_request` makes mocks of them otherwise, which cost more than the whole answer)."""

    peername = sockname = ("127.0.0.1", 0)
    ssl_context = None
    max_field_size = max_line_length = 8190
    max_headers = 128

    def __init__(self) -> None:
        self.transport: _Connection | None = self
        self.writer: Any = None

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.peername if name in ("peername", "sockname") else default

    def is_closing(self) -> bool:
        return False


class InProcess:
    """One aiohttp application, answered in this process: `answer()` is one request and its response."""

    def __init__(self, app: web.Application, base_url: str, *, client_max_size: int = 1024**2) -> None:
        self.app = app
        self.base_url = base_url.rstrip("/")
        self.client_max_size = client_max_size
        app.freeze()  # as a server does before its first request

    def serves(self, url: str) -> bool:
        return url == self.base_url or url.startswith(self.base_url + "/")

    async def answer(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> Answer:
        target = URL(url)
        sent = CIMultiDict(headers)
        sent.setdefault("host", target.raw_authority)
        path = target.raw_path_qs
        connection = _Connection()
        plain: dict[str, Any] = {"app": self.app, "protocol": connection, "transport": connection, "writer": connection}
        match = await self.app.router.resolve(make_mocked_request(method, path, sent, **plain))
        request = make_mocked_request(
            method,
            path,
            sent,
            match_info=dict(match),
            payload=_payload(body),
            client_max_size=self.client_max_size,
            **plain,
        )
        handler: Handler = match.handler
        for middleware in reversed(self.app.middlewares):
            handler = functools.partial(middleware, handler=handler)
        try:
            response = await handler(request)
        except web.HTTPException as exc:  # what the server answers for an exception no middleware took
            response = exc
        except Exception:  # as the server does: logged, and a bare 500
            log.exception("sandbox handler failed: %s %s", method, path)
            response = web.Response(status=500, text="500 Internal Server Error")
        if not isinstance(response, web.Response) or not isinstance(response.body, bytes | None):
            raise TypeError(f"{method} {path}: the in-process sandbox answers only whole bodies, not {response!r}")
        return response.status, CIMultiDict(response.headers), response.body or b""


def _payload(body: bytes) -> aiohttp.StreamReader:
    loop = asyncio.get_running_loop()
    reader = aiohttp.StreamReader(BaseProtocol(loop), limit=max(len(body), 2**16), loop=loop)
    if body:
        reader.feed_data(body)
    reader.feed_eof()
    return reader


# -- GitHub ---------------------------------------------------------------------------------------------


class SandboxGitHubAPI(gidgethub.abc.GitHubAPI):
    """gidgethub's client with the sandbox GitHub answering `_request` in this process: the one
    `FakeGitHubAPI` of STYLE.md (gidgethub's own tests fake `_request` the same way)."""

    def __init__(self, github: InProcess, requester: str, **options: Any) -> None:
        self._github = github
        super().__init__(requester, **options)

    async def _request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes = b""
    ) -> tuple[int, Mapping[str, str], bytes]:
        if not self._github.serves(url):
            raise aiohttp.ClientConnectionError(f"no sandbox answers {url} in this process")
        return await self._github.answer(method, url, headers, body)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def github_backend(sandbox: GitHubSandbox) -> GitHubBackend:
    """What `GitHubApp` takes in place of the worker's aiohttp session: gidgethub clients answered by
    `sandbox` in this process, at its `base_url` (set it first; `GITHUB_URL` when nothing serves it)."""
    if not sandbox.base_url:
        raise ValueError("give the sandbox GitHub a base_url first (inprocess.GITHUB_URL)")
    github = InProcess(sandbox.make_app(), sandbox.base_url)
    return functools.partial(SandboxGitHubAPI, github)


# -- the model -----------------------------------------------------------------------------------------


def model_http_client(sandbox: AnthropicSandbox) -> httpx2.AsyncClient:
    """The anthropic SDK's own httpx client, its transport answered by `sandbox` in this process, at
    its `base_url` (set it first; `MODEL_URL` when nothing serves it)."""
    if not sandbox.base_url:
        raise ValueError("give the sandbox model a base_url first (inprocess.MODEL_URL)")
    model = InProcess(sandbox.make_app(), sandbox.base_url, client_max_size=MAX_BODY)

    async def send(request: httpx2.Request) -> httpx2.Response:
        if not model.serves(str(request.url)):
            raise httpx2.ConnectError(f"no sandbox answers {request.url} in this process", request=request)
        status, headers, body = await model.answer(
            request.method, str(request.url), CIMultiDict(request.headers.multi_items()), request.content
        )
        return httpx2.Response(status, headers=list(headers.items()), content=body, request=request)

    return anthropic.DefaultAsyncHttpxClient(transport=httpx2.MockTransport(send))

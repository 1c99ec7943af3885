"""A local GitHub REST API server that speaks GitHub's real JSON, for tests and the demo.

Why it exists: the bot talks to GitHub only through gidgethub, and the tests, the end-to-end test
and ``python -m bot demo`` must exercise that real client code path (headers, App JWT and
installation-token auth, ``Link`` pagination, ETags, error mapping) over a real socket without
touching api.github.com. So this is an aiohttp app that keeps a small in-memory model of one
GitHub App, its installations and their repositories, answers with the shapes and status codes
GitHub uses, and lets a test inject failures and inspect what the bot did.

By concern: ``state`` (what it knows, seeding, inspection), ``auth`` (JWT and token checks),
``failures`` (injection), ``routes`` (the HTTP side).
"""

from __future__ import annotations

from aiohttp import web

from bot.sandbox.github.failures import Injected, Pause
from bot.sandbox.github.routes import Routes
from bot.sandbox.github.state import RecordedRequest, Repo

__all__ = ["GitHubSandbox", "Injected", "Pause", "RecordedRequest", "Repo", "start_sandbox"]


class GitHubSandbox(Routes):
    """An in-memory GitHub for one App, served over HTTP by :meth:`make_app`.

    Seed it (``add_installation``, ``add_repo``, ``seed_from_payload`` ...), start it with
    :func:`start_sandbox`, point gidgethub's ``base_url`` at ``base_url``, then inspect
    ``requests``, ``comments()``, ``issue_labels()`` and friends.
    """


async def start_sandbox(sandbox: GitHubSandbox, host: str = "127.0.0.1", port: int = 0) -> tuple[web.AppRunner, str]:
    """Serve the sandbox in this loop; return the runner (``cleanup()`` it) and the base URL."""
    runner = web.AppRunner(sandbox.make_app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    actual_port = runner.addresses[0][1]
    sandbox.base_url = f"http://{host}:{actual_port}"
    return runner, sandbox.base_url

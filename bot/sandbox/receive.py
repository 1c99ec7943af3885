"""`python -m bot receive EVENT PAYLOAD.json --sandbox [--dry-run]`: the same run as `receive`, with no accounts.

The sandbox GitHub is seeded from the payload the way the demo seeds it (`world.seed`: the
repository and its installation, GitHub's default labels, a merged PR's recorded files and commit);
the author of a comment is given write access, so a command in it runs. The sandbox Anthropic
answers with the demo's stand-in model. Both run in this process for the length of the command.

Redis is `REDIS_URL` when it answers, so the run leaves its record where `history` and `/status`
read them (marked `receive --sandbox`), and exactly-once holds: a second run of the same merge says
it was already summarised. When no Redis answers, a throwaway one is started and stopped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TextIO

from bot.config import Settings, load_settings
from bot.receive import Ignored, answers, read_delivery, redis_location, run
from bot.sandbox import anthropic as anthropic_sandbox
from bot.sandbox import github as github_sandbox
from bot.sandbox import redis_server, world
from bot.sandbox.demo import APP_ID, demo_labels, demo_summary, new_private_key

ORIGIN = "receive --sandbox"


def _grant_commenter(github: github_sandbox.GitHubSandbox, payload: dict[str, object]) -> str | None:
    comment, repository = payload.get("comment"), payload.get("repository")
    if not isinstance(comment, dict) or not isinstance(repository, dict):
        return None
    login = str((comment.get("user") or {}).get("login") or "")
    if login:
        github.set_permission(str(repository["full_name"]), login, "write")
    return login or None


async def receive_in_sandbox(event: str, path: Path, *, dry_run: bool, delivery_id: str | None, out: TextIO) -> int:
    """0 when the job is done or skipped, or the event is ignored; see bot/receive.py for the rest."""
    decided = read_delivery(event, path, delivery_id)
    if isinstance(decided, Ignored):
        print(decided.line, file=out)
        return 0
    raw = path.read_bytes()  # noqa: ASYNC240 - read_delivery has just read it; nothing else runs yet
    env = load_settings()  # LOG_*, REDIS_URL, ANTHROPIC_MODEL...; the App and the accounts are the sandbox's
    key = new_private_key()
    github = github_sandbox.GitHubSandbox(app_id=APP_ID, private_key_pem=key, app_slug="hookwise")
    world.seed(github, raw)
    commenter = _grant_commenter(github, json.loads(raw))
    model = anthropic_sandbox.AnthropicSandbox()
    model.responder = lambda request: (
        demo_labels(request) if request["tool_choice"]["name"] == "choose_labels" else demo_summary(request)
    )
    github_runner, github_url = await github_sandbox.start_sandbox(github)
    model_runner, model_url = await anthropic_sandbox.start_sandbox(model)
    redis_process = None
    try:
        redis_url = env.REDIS_URL
        if await answers(redis_url):
            where = f"{redis_location(redis_url)} (REDIS_URL)"
        else:
            redis_process = redis_server.start()
            redis_url = redis_process.url
            where = f"a throwaway redis-server at {redis_url}: nothing answers at {redis_location(env.REDIS_URL)}"
        settings: Settings = load_settings(
            APP_ID=APP_ID,
            PRIVATE_KEY=key,
            GITHUB_API_URL=github_url,
            GITHUB_URL=github_url,
            MODEL_PROVIDER="anthropic",
            ANTHROPIC_API_KEY=model.api_key,
            ANTHROPIC_BASE_URL=model_url,
            REDIS_URL=redis_url,
            DRY_RUN=dry_run or env.DRY_RUN,
        )
        print(f"sandbox: GitHub at {github_url}, Anthropic at {model_url} (the demo's stand-in model)", file=out)
        print(f"sandbox: Redis {where}", file=out)
        if commenter:
            print(f"sandbox: {commenter} has write access to {json.loads(raw)['repository']['full_name']}", file=out)
        return await run(settings, decided, out=out, origin=ORIGIN)
    finally:
        await github_runner.cleanup()
        await model_runner.cleanup()
        if redis_process is not None:
            redis_process.stop()

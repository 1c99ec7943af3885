"""`python -m bot receive EVENT PAYLOAD.json --sandbox`: the same run as `receive`, with no accounts.

The sandbox GitHub is seeded from the payload the way the demo seeds it (`world.seed`: the
repository and its installation, GitHub's default labels, a merged PR's recorded files and commit);
the author of a comment is given write access, so a command in it runs. The sandbox Anthropic
answers with the demo's stand-in model. Both run in this process for the length of the command.

Redis is a throwaway redis-server started for the run and stopped after it, so nothing lands in
the Redis at `REDIS_URL` (the costs, records and effect keys of a fake installation would show in
`costs` and `/status`), and a second run behaves like the first. `--redis URL` uses that Redis
instead: its record then shows in `history` and on the status page, and exactly-once holds across
runs (the same merge again is "summary already posted").

A payload without an `installation` (GitHub's documentation examples, like the bundled
`issues.opened.json`) is given the sandbox's, as an App's delivery would carry one. `--config FILE`
is the repository's `.github/hookwise.yml`; `--comment TEXT` replaces an `issue_comment` payload's
comment body (to try a command with a payload whose comment holds none).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from bot.config import Settings, load_settings
from bot.core.repo_config import CONFIG_PATH, parse_config
from bot.receive import (
    Ignored,
    ReceiveError,
    UsageError,
    check_event,
    decide_payload,
    read_payload,
    redis_location,
    run,
)
from bot.sandbox import anthropic as anthropic_sandbox
from bot.sandbox import github as github_sandbox
from bot.sandbox import redis_server, world
from bot.sandbox.demo import APP_ID, demo_answer, new_private_key

ORIGIN = "receive --sandbox"
STAND_IN_TOOLS = frozenset({"choose_labels", "record_summary", anthropic_sandbox.BATCH_TOOL})


@dataclass(frozen=True, slots=True)
class SandboxOptions:
    dry_run: bool = False
    delivery_id: str | None = None
    redis_url: str | None = None  # --redis: this Redis instead of a throwaway one
    config: Path | None = None  # --config: the repository's .github/hookwise.yml
    comment: str | None = None  # --comment: the comment's body


def stand_in_model(request: dict[str, Any]) -> dict[str, Any]:
    """The demo's stand-in model for labels and summaries; any other tool gets a schema-valid answer."""
    tool: dict[str, Any] = next(iter(request.get("tools") or []), {})
    if tool.get("name") in STAND_IN_TOOLS:
        return demo_answer(request)
    return anthropic_sandbox.fake_tool_input(tool.get("input_schema") or {}, anthropic_sandbox.user_text(request))


def sandbox_payload(payload: dict[str, Any], comment: str | None) -> tuple[dict[str, Any], list[str]]:
    """The payload as the sandbox delivers it, and a line for each change made to it. Pure."""
    notes: list[str] = []
    payload = dict(payload)
    if not isinstance(payload.get("installation"), dict) and isinstance(payload.get("repository"), dict):
        payload["installation"] = {"id": world.ISSUE_INSTALLATION_ID}
        notes.append(
            f"the payload has no installation (it was not delivered to an App); "
            f"the sandbox's, {world.ISSUE_INSTALLATION_ID}, is used"
        )
    if comment is not None:
        if not isinstance(payload.get("comment"), dict):
            raise UsageError("--comment: the payload has no comment (it is for an issue_comment payload)")
        payload["comment"] = {**payload["comment"], "body": comment}
        notes.append(f"the comment's body is {comment!r} (--comment)")
    return payload, notes


def _grant_commenter(github: github_sandbox.GitHubSandbox, payload: dict[str, Any]) -> str | None:
    comment, repository = payload.get("comment"), payload.get("repository")
    if not isinstance(comment, dict) or not isinstance(repository, dict):
        return None
    login = str((comment.get("user") or {}).get("login") or "")
    if login:
        github.set_permission(str(repository["full_name"]), login, "write")
    return login or None


def _read_config(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ReceiveError(f"--config {path}: cannot read: {reason or type(exc).__name__}") from exc


def config_line(path: Path, text: str, repository: str) -> str:
    """What the sandbox says about the config file it seeded: what hookwise will make of it."""
    result = parse_config(text)
    where = f"sandbox: {CONFIG_PATH} of {repository} is {path}"
    if result.problem is None:
        return f"{where} (read without a problem)"
    return f"{where}; hookwise finds a problem in it and uses the defaults: {result.problem}"


async def receive_in_sandbox(event: str, path: Path, options: SandboxOptions, *, out: TextIO) -> int:
    """0 when the job is done or skipped, or the event is ignored; see bot/receive.py for the rest."""
    check_event(event)
    raw = read_payload(path)
    notes: list[str] = []
    try:
        parsed = json.loads(raw)
    except ValueError:
        parsed = None  # decide_payload says what is wrong with it
    if isinstance(parsed, dict):
        parsed, notes = sandbox_payload(parsed, options.comment)
        raw = json.dumps(parsed).encode() if notes else raw
    decided = decide_payload(event, path, raw, options.delivery_id)
    config_text = _read_config(options.config) if options.config is not None else None
    for note in notes:
        print(f"sandbox: {note}", file=out)
    if isinstance(decided, Ignored):
        print(decided.line, file=out)
        return 0
    assert isinstance(parsed, dict)  # a job was decided from it
    env = load_settings()  # LOG_*, ANTHROPIC_MODEL...; the App and the accounts are the sandbox's
    key = new_private_key()
    github = github_sandbox.GitHubSandbox(app_id=APP_ID, private_key_pem=key, app_slug="hookwise")
    world.seed(github, raw)
    repository = str(parsed["repository"]["full_name"])
    if config_text is not None and options.config is not None:
        github.set_file(repository, CONFIG_PATH, config_text)
    commenter = _grant_commenter(github, parsed)
    model = anthropic_sandbox.AnthropicSandbox()
    model.responder = stand_in_model
    github_runner, github_url = await github_sandbox.start_sandbox(github)
    model_runner, model_url = await anthropic_sandbox.start_sandbox(model)
    redis_process = None
    try:
        if options.redis_url is not None:
            redis_url = options.redis_url
            where = f"{redis_location(redis_url)} (--redis): its records and effect keys stay there"
        else:
            redis_process = redis_server.start()
            redis_url = redis_process.url
            where = f"a throwaway redis-server at {redis_url}, stopped at the end (--redis URL keeps the records)"
        settings: Settings = load_settings(
            APP_ID=APP_ID,
            PRIVATE_KEY=key,
            GITHUB_API_URL=github_url,
            GITHUB_URL=github_url,
            MODEL_PROVIDER="anthropic",
            ANTHROPIC_API_KEY=model.api_key,
            ANTHROPIC_BASE_URL=model_url,
            REDIS_URL=redis_url,
            DRY_RUN=options.dry_run or env.DRY_RUN,
        )
        print(f"sandbox: GitHub at {github_url}, Anthropic at {model_url} (the demo's stand-in model)", file=out)
        print(f"sandbox: Redis: {where}", file=out)
        if config_text is not None and options.config is not None:
            print(config_line(options.config, config_text, repository), file=out)
        if commenter:
            print(f"sandbox: {commenter} has write access to {repository}", file=out)
        return await run(settings, decided, out=out, origin=ORIGIN)
    finally:
        await github_runner.cleanup()
        await model_runner.cleanup()
        if redis_process is not None:
            redis_process.stop()

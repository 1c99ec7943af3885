"""`issue_comment` events: maintainer commands (`@slug summarize | triage | help`).

Only people with write, maintain or admin permission may run them; anyone else (and every bot)
gets nothing at all - no reply, no reaction, no model call - so commands cannot spam or spend. An
accepted command is acknowledged with `eyes`, then `rocket` on success or `confused` on failure.
"""

from __future__ import annotations

from gidgethub.routing import Router
from gidgethub.sansio import Event
from redis.asyncio import Redis

from bot.adapters.github import Repo
from bot.adapters.store.records import JobRecord
from bot.core import commands as cmd
from bot.core import render
from bot.core import retry as failures
from bot.core.repo_config import ConfigResult, describe
from bot.worker.deps import Deps
from bot.worker.events.issues import triage
from bot.worker.events.pull_request import summarize

router = Router()

PERMISSION_TTL_S = 300  # GitHub's answer for a user is reused this long, across workers
COOLDOWN_S = 60  # one model run per command kind and target per minute
COOLDOWN_TEXT = "`{word}` ran on this {thing} less than a minute ago; try again in a minute."


async def _permission(redis: Redis, repo: Repo, login: str) -> tuple[str, str | None]:
    key = f"hookwise:permission:{repo.full_name.lower()}:{login.lower()}"
    cached = await redis.get(key)
    if cached is not None:
        permission, _, role = cached.decode().partition("|")
        return permission, role or None
    permission, role = await repo.permission(login)
    await redis.set(key, f"{permission}|{role or ''}", ex=PERMISSION_TTL_S)
    return permission, role


def help_reply(slug: str, config: ConfigResult) -> str:
    lines = [
        "**hookwise commands**",
        *cmd.help_lines(slug),
        "",
        cmd.WHO_MAY_RUN,
        "",
        "**Configuration in effect**",
        *describe(config.config),
    ]
    if config.problem:
        lines += ["", config_warning(config)]
    return "\n".join(lines)


def config_warning(config: ConfigResult) -> str:
    """What a command reply says about an invalid config file (its text may echo the file)."""
    return f"⚠️ `.github/hookwise.yml` has a problem, so the defaults apply: {render.neutralise(config.problem or '')}"


async def _reply(repo: Repo, number: int, comment_id: int, text: str) -> int:
    """Reply once to the command comment; a retry edits the reply instead of posting another."""
    tag = f"<!-- hookwise:reply-to:{comment_id} -->"
    body = render.fit(f"{render.REPLY_MARKER}\n{tag}\n{text}")
    existing = await repo.find_own_comment(number, render.REPLY_MARKER, containing=tag)
    if existing is not None:
        await repo.edit_comment(existing.id, body)
        return existing.id
    return await repo.create_comment(number, body)


async def _run(
    command: cmd.Command, repo: Repo, event: Event, *, deps: Deps, record: JobRecord, redis: Redis
) -> str | None:
    """Run one command; returns reply text, if the command answers with one."""
    issue = event.data["issue"]
    number, is_pr = int(issue["number"]), "pull_request" in issue
    slug = await deps.github.slug()
    if command.kind in (cmd.CommandKind.HELP, cmd.CommandKind.UNKNOWN):
        return help_reply(slug, await deps.configs.get(repo))
    problem = cmd.where_allowed(command.kind, is_pull_request=is_pr)
    if problem:
        return problem
    cooldown = f"hookwise:cooldown:{repo.full_name.lower()}#{number}:{command.kind.value}"
    if not await redis.set(cooldown, record.delivery_id, nx=True, ex=COOLDOWN_S):
        if (await redis.get(cooldown) or b"").decode() != record.delivery_id:  # not our own earlier try
            return COOLDOWN_TEXT.format(word=command.kind.value, thing="pull request" if is_pr else "issue")
    if command.kind is cmd.CommandKind.SUMMARIZE:
        await summarize(repo, number, deps=deps, record=record, force=True)
    else:
        await triage(repo, number, deps=deps, record=record, force=True)
    config = await deps.configs.get(repo)
    return config_warning(config) if config.problem else None


@router.register("issue_comment", action="created")
async def on_created(event: Event, repo: Repo, *, deps: Deps, record: JobRecord) -> None:
    comment = event.data["comment"]
    slug = await deps.github.slug()
    commands = cmd.parse_commands(comment.get("body") or "", slug)
    user = comment["user"]
    if not commands:
        record.outcome, record.detail = "skipped", "no command for this App"
        return
    login, user_type = str(user["login"]), str(user.get("type", "User"))
    if user_type == "Bot" or login.endswith("[bot]"):
        record.outcome, record.detail = "skipped", "commands from bots are ignored"
        return
    permission, role = await _permission(deps.redis, repo, login)
    if not cmd.may_run(permission=permission, role_name=role, user_type=user_type, login=login, slug=slug):
        record.outcome, record.detail = "skipped", f"{login} may not run commands ({role or permission})"
        return
    comment_id, number = int(comment["id"]), int(event.data["issue"]["number"])
    await repo.add_reaction(comment_id, "eyes")
    try:
        replies = [
            text
            for command in commands
            if (text := await _run(command, repo, event, deps=deps, record=record, redis=deps.redis))
        ]
        if replies:
            await _reply(repo, number, comment_id, "\n\n".join(replies))
    except Exception as exc:
        if failures.will_retry(exc, record.job_try) is None:  # this failure ends the job
            await repo.add_reaction(comment_id, "confused")
        raise
    await repo.add_reaction(comment_id, "rocket")
    record.outcome = "done"
    record.detail = f"commands: {', '.join(c.word for c in commands)}"

"""Maintainer commands in comments (`@slug summarize | triage | release-notes [since TAG] | help`).

Only people with write, maintain or admin permission may run them; anyone else (and every bot)
gets nothing at all - no reply, no reaction, no model call - so commands cannot spam or spend. An
accepted command is acknowledged with `eyes`, then `rocket` on success or `confused` on failure.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from bot.adapters.github import Repo
from bot.core.commands import grammar as cmd
from bot.core.costs.ledger import BudgetLine, budget_status
from bot.core.errors import BudgetExhausted
from bot.core.ingress.job import CommandJob
from bot.core.operations import retry
from bot.core.operations.retry import Attempt
from bot.core.outcome import ModelUsage, Outcome
from bot.core.repo_config import ConfigResult, describe
from bot.core.views import agreement as agreement_text
from bot.core.views import comments as render
from bot.worker.actions.release_notes import release_notes
from bot.worker.actions.summarize import summarize
from bot.worker.actions.triage import triage
from bot.worker.deps import Deps

COOLDOWN_TEXT = "`{word}` ran on this {thing} less than a minute ago; try again in a minute."


def help_reply(slug: str, config: ConfigResult, budget: BudgetLine | None = None, measured: Sequence[str] = ()) -> str:
    lines = [
        "**hookwise commands**",
        *cmd.help_lines(slug),
        "",
        cmd.WHO_MAY_RUN,
        "",
        "**Configuration in effect**",
        *describe(config.config),
    ]
    if budget is not None:
        lines += ["", f"**Model budget of this installation:** {budget_status(budget.used, budget.limit)}"]
    if measured:
        lines += ["", "**Measured in this repository**", *(f"- {line}" for line in measured)]
    if config.problem:
        lines += ["", config_warning(config)]
    return "\n".join(lines)


async def _help(slug: str, repo: Repo, deps: Deps, installation_id: int) -> str:
    reports = await deps.agreement.reports(repo.full_name, now=time.time())
    measured = [agreement_text.help_line(reports[0] if reports else None)]
    budget = await deps.spending.status(installation_id)
    return help_reply(slug, await deps.configs.get(repo), budget, measured)


def config_warning(config: ConfigResult) -> str:
    """What a command reply says about an invalid config file (its text may echo the file)."""
    return f"⚠️ `.github/hookwise.yml` has a problem, so the defaults apply: {render.neutralise(config.problem or '')}"


async def _reply(repo: Repo, number: int, comment_id: int, text: str) -> int:
    """Reply once to the command comment; a retry edits the reply instead of posting another."""
    tag = f"<!-- hookwise:reply-to:{comment_id} -->"
    body = render.fit(f"{render.REPLY_MARKER}\n{tag}\n{text}")
    comment_id, _ = await repo.upsert_own_comment(number, render.REPLY_MARKER, body, containing=tag)
    return comment_id


@dataclass(frozen=True, slots=True)
class Asked:
    """One command as the handler gets it: the command, where it was given, and the App's slug."""

    command: cmd.Command
    job: CommandJob
    repo: Repo
    deps: Deps
    job_try: int
    slug: str
    attempt: Attempt  # what the job went through so far (a failure that ends it reacts `confused`)


Ran = tuple[str | None, Outcome | None]  # the reply text it answers with, if any, and what was done
Handler = Callable[[Asked], Awaitable[Ran]]


async def _help_command(asked: Asked) -> Ran:
    return await _help(asked.slug, asked.repo, asked.deps, asked.job.installation_id), None


async def _summarize_command(asked: Asked) -> Ran:
    return await _again(asked, summarize)


async def _triage_command(asked: Asked) -> Ran:
    return await _again(asked, triage)


async def _release_notes_command(asked: Asked) -> Ran:
    job = asked.job
    return await release_notes(
        asked.repo, job.number, asked.command.argument, slug=asked.slug, deps=asked.deps,
        delivery_id=job.delivery_id, job_try=asked.job_try, attempt=asked.attempt,
    )  # fmt: skip


# Each kind's handler: with bot/core/commands/grammar.py's SPECS, all there is to a command.
HANDLERS: Mapping[cmd.CommandKind, Handler] = {
    cmd.CommandKind.SUMMARIZE: _summarize_command,
    cmd.CommandKind.TRIAGE: _triage_command,
    cmd.CommandKind.RELEASE_NOTES: _release_notes_command,
    cmd.CommandKind.HELP: _help_command,
    cmd.CommandKind.UNKNOWN: _help_command,  # a word hookwise does not know: the help answers it
}


async def _again(asked: Asked, act: Callable[..., Awaitable[Outcome]]) -> Ran:
    """`summarize` or `triage` made again, forced, with the config's problem said if it has one."""
    done = await act(asked.repo, asked.job.number, deps=asked.deps, delivery_id=asked.job.delivery_id, force=True)
    config = await asked.deps.configs.get(asked.repo)
    said = [text for text in (done.reply, config_warning(config) if config.problem else "") if text]
    return ("\n\n".join(said) or None), done


async def _run(command: cmd.Command, job: CommandJob, repo: Repo, deps: Deps, attempt: Attempt) -> Ran:
    """Run one command: where it may run, once a minute if it uses the model, then its handler."""
    slug = await deps.github.slug()
    problem = cmd.where_allowed(command.kind, is_pull_request=job.is_pull_request)
    if problem:
        return problem, None
    spec = cmd.SPEC.get(command.kind)
    if spec is not None and spec.uses_model:
        if not await deps.cooldowns.claim(repo.full_name, job.number, command.kind.value, job.delivery_id):
            thing = "pull request" if job.is_pull_request else "issue"
            return COOLDOWN_TEXT.format(word=command.kind.value, thing=thing), None
    return await HANDLERS[command.kind](Asked(command, job, repo, deps, attempt.number, slug, attempt))


async def on_comment(
    job: CommandJob, repo: Repo, deps: Deps, *, job_try: int, attempt: Attempt | None = None
) -> Outcome:
    """`attempt`: what the job went through so far; a failure that ends it reacts `confused`."""
    attempt = attempt or Attempt(job_try)
    slug = await deps.github.slug()
    commands = cmd.parse_commands(job.body, slug)
    if not commands:
        return Outcome.skipped("no command for this App")
    login, user_type = job.author.login, job.author.type
    if cmd.is_bot(login, user_type):
        return Outcome.skipped("commands from bots are ignored")
    permission, role = await deps.permissions.get(repo.full_name, login, lambda: repo.permission(login))
    if not cmd.may_run(permission=permission, role_name=role, user_type=user_type, login=login, slug=slug):
        return Outcome.skipped(f"{login} may not run commands ({role or permission})")
    if any(command.kind in cmd.MODEL_COMMANDS for command in commands):
        await deps.spending.check(job.installation_id)  # used up: skipped for the budget, not even a reaction
    await repo.add_reaction(job.comment_id, "eyes")
    replies: list[str] = []
    comment_id: int | None = None
    usage: list[ModelUsage] = []
    try:
        for command in commands:
            text, done = await _run(command, job, repo, deps, attempt)
            if text:
                replies.append(text)
            if done is not None:
                comment_id = done.comment_id or comment_id
                usage += done.usage
        if replies:
            await _reply(repo, job.number, job.comment_id, "\n\n".join(replies))
    except BudgetExhausted:  # the budget ran out between the check and the call: nothing more is posted
        raise
    except Exception as exc:
        if retry.ends_job(exc, attempt, time.time()):  # this failure ends the job
            await repo.add_reaction(job.comment_id, "confused")
        raise
    await repo.add_reaction(job.comment_id, "rocket")
    return Outcome.done(f"commands: {', '.join(c.word for c in commands)}", comment_id=comment_id, usage=tuple(usage))

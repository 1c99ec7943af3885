"""`pull_request` events: a merged pull request gets exactly one summary comment."""

from __future__ import annotations

from gidgethub.routing import Router
from gidgethub.sansio import Event
from pydantic import BaseModel

from bot.adapters.github import PullDetails, Repo
from bot.adapters.llm import Question
from bot.adapters.store.records import JobRecord
from bot.core import budget, render
from bot.core.answers import PullSummary
from bot.core.prompts import fence, instructions_block
from bot.core.repo_config import RepoConfig
from bot.worker.deps import Deps

router = Router()


async def summarize(repo: Repo, number: int, *, deps: Deps, record: JobRecord, force: bool) -> None:
    """Make the summary and post it, or edit the one already there. Shared with `@bot summarize`."""
    pull = await repo.pull(number)
    if not pull.merged and not force:
        record.outcome, record.detail = "skipped", "pull request is not merged"
        return
    config = (await deps.configs.get(repo)).config
    if not config.summaries.enabled and not force:
        record.outcome, record.detail = "skipped", "summaries are turned off in .github/hookwise.yml"
        return
    effect = f"summary:{repo.full_name}#{number}:{pull.merge_commit_sha}"
    async with deps.effects.exactly_once(effect, repo.full_name, number, force=force) as needed:
        if not needed:
            record.outcome, record.detail = "skipped", "summary already posted for this merge"
            return
        draft = await deps.effects.draft(
            f"{record.delivery_id}:{effect}", Draft, lambda: _draft(repo, pull, config, deps)
        )
        record.model, record.input_tokens, record.output_tokens = draft.model, draft.input_tokens, draft.output_tokens
        body = draft.body
        # Look before posting: a POST whose answer was lost may have posted it already.
        existing = await repo.find_own_comment(number, render.SUMMARY_MARKER)
        if existing is None:
            record.comment_id = await repo.create_comment(number, body)
            record.detail = "summary posted"
        else:
            await repo.edit_comment(existing.id, body)
            record.comment_id, record.detail = existing.id, "summary edited"
        await deps.effects.record(effect, str(record.comment_id))
    record.outcome = "done"


class Draft(BaseModel):
    """A rendered summary and what it cost, kept for a retry of the same job."""

    body: str
    model: str
    input_tokens: int
    output_tokens: int


async def _draft(repo: Repo, pull: PullDetails, config: RepoConfig, deps: Deps) -> Draft:
    files = await repo.pull_files(pull.number)
    diff = budget.fit_diff(files, deps.diff_budget_tokens, excluded=config.summaries.exclude_paths)
    commits = await repo.pull_commit_messages(pull.number)
    answer = await deps.llm.ask(_question(repo.full_name, pull, commits, diff, config, deps))
    body = render.summary_comment(answer.value, skipped=diff.skipped, shortened=diff.shortened, model=answer.model)
    return Draft(body=body, model=answer.model, input_tokens=answer.input_tokens, output_tokens=answer.output_tokens)


def _question(
    repository: str, pull: PullDetails, commits: list[str], diff: budget.BudgetedDiff, config: RepoConfig, deps: Deps
) -> Question[PullSummary]:
    prompts = deps.prompts.summary
    return Question(
        system=prompts.system.safe_substitute(
            tool="record_summary", language=config.language, instructions=instructions_block(config.instructions)
        ),
        user=prompts.user.safe_substitute(
            repository=repository,
            title=fence(pull.title),
            body=fence(budget.clip(pull.body, budget.BODY_CHARS)),
            commits=fence(budget.clip("\n---\n".join(commits), budget.COMMITS_CHARS)),
            diff=fence("\n\n".join(f"--- {path}\n{patch}" for path, patch in diff.included)),
            skipped=fence(budget.clip("\n".join(diff.skipped) or "none", budget.SKIPPED_CHARS)),
        ),
        answer=PullSummary,
        tool_name="record_summary",
        tool_description="Record the summary of the merged pull request.",
    )


@router.register("pull_request", action="closed")
async def on_closed(event: Event, repo: Repo, *, deps: Deps, record: JobRecord) -> None:
    await summarize(repo, event.data["pull_request"]["number"], deps=deps, record=record, force=False)

"""A merged pull request gets exactly one summary comment; `@app summarize` makes it again."""

from __future__ import annotations

from pydantic import BaseModel

from bot.adapters.github import PullDetails, Repo
from bot.adapters.llm import Question
from bot.core import budget, render
from bot.core.answers import PullSummary
from bot.core.job import SummaryJob
from bot.core.outcome import ModelUsage, Outcome
from bot.core.prompts import fence, instructions_block
from bot.core.repo_config import RepoConfig
from bot.worker.deps import Deps


class Draft(BaseModel):
    """A rendered summary and what it cost, kept for a retry of the same job."""

    body: str
    usage: ModelUsage


async def on_merged(job: SummaryJob, repo: Repo, deps: Deps, *, job_try: int) -> Outcome:
    await deps.meter.check(job.installation_id)  # used up: skipped for the budget before any GitHub read
    return await summarize(repo, job.number, deps=deps, delivery_id=job.delivery_id, force=False)


async def summarize(repo: Repo, number: int, *, deps: Deps, delivery_id: str, force: bool) -> Outcome:
    """Make the summary and post it, or edit the one already there. Shared with `@app summarize`."""
    pull = await repo.pull(number)
    if not pull.merged and not force:
        return Outcome.skipped("pull request is not merged")
    config = (await deps.configs.get(repo)).config
    if not config.summaries.enabled and not force:
        return Outcome.skipped("summaries are turned off in .github/hookwise.yml")
    effect = f"summary:{repo.full_name}#{number}:{pull.merge_commit_sha}"
    async with deps.effects.exactly_once(effect, repo.full_name, number, force=force) as needed:
        if not needed:
            return Outcome.skipped("summary already posted for this merge")
        draft = await deps.effects.draft(f"{delivery_id}:{effect}", Draft, lambda: _draft(repo, pull, config, deps))
        # Look before posting: a POST whose answer was lost may have posted it already.
        existing = await repo.find_own_comment(number, render.SUMMARY_MARKER)
        if existing is None:
            comment_id, detail = await repo.create_comment(number, draft.body), "summary posted"
        else:
            await repo.edit_comment(existing.id, draft.body)
            comment_id, detail = existing.id, "summary edited"
        await deps.effects.record(effect, str(comment_id))
    return Outcome.done(detail, comment_id=comment_id, usage=draft.usage)


async def _draft(repo: Repo, pull: PullDetails, config: RepoConfig, deps: Deps) -> Draft:
    files = await repo.pull_files(pull.number)
    diff = budget.fit_diff(files, deps.diff_budget_tokens, excluded=config.summaries.exclude_paths)
    commits = await repo.pull_commit_messages(pull.number)
    answer = await deps.llm.ask(_question(repo, pull, commits, diff, config, deps), meter=deps.meter)
    body = render.summary_comment(answer.value, skipped=diff.skipped, shortened=diff.shortened, model=answer.model)
    return Draft(body=body, usage=answer.usage)


def _question(
    repo: Repo, pull: PullDetails, commits: list[str], diff: budget.BudgetedDiff, config: RepoConfig, deps: Deps
) -> Question[PullSummary]:
    prompts = deps.prompts.summary
    return Question(
        system=prompts.system.safe_substitute(
            tool="record_summary", language=config.language, instructions=instructions_block(config.instructions)
        ),
        user=prompts.user.safe_substitute(
            repository=repo.full_name,
            title=fence(pull.title),
            body=fence(budget.clip(pull.body, budget.BODY_CHARS)),
            commits=fence(budget.clip("\n---\n".join(commits), budget.COMMITS_CHARS)),
            diff=fence("\n\n".join(f"--- {path}\n{patch}" for path, patch in diff.included)),
            skipped=fence(budget.clip("\n".join(diff.skipped) or "none", budget.SKIPPED_CHARS)),
        ),
        answer=PullSummary,
        tool_name="record_summary",
        tool_description="Record the summary of the merged pull request.",
        model=deps.models.summary,
        task="summary",
        installation_id=repo.installation_id,
        repository=repo.full_name,
    )

"""A merged pull request gets exactly one summary comment; `@app summarize` makes it again."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from pydantic import BaseModel

from bot.adapters.github import PullDetails, Repo
from bot.adapters.llm import Question
from bot.core.commands.release_notes import record_of
from bot.core.ingress.job import SummaryJob
from bot.core.outcome import ModelUsage, Outcome
from bot.core.prompts import fence, instructions_block
from bot.core.repo_config import RepoConfig
from bot.core.summary import bounds as budget
from bot.core.summary.answer import PullSummary
from bot.core.summary.diff_budget import BudgetedDiff, PullFile, diff_budget, fit_diff
from bot.core.summary.grounding import closing_links, closing_references
from bot.core.tokens import estimate_tokens
from bot.core.views import comments as render
from bot.worker.deps import Deps

TOOL = "record_summary"
TASK = "summary"
REFITS = 3  # fits again at most, each smaller by what the whole call was over its ceiling, and a margin
REFIT_MARGIN = 200


class Draft(BaseModel):
    """A rendered summary and what it cost, kept for a retry of the same job."""

    body: str
    usage: ModelUsage
    summary: PullSummary | None = None  # grounded; None in drafts of earlier versions


async def on_merged(job: SummaryJob, repo: Repo, deps: Deps, *, job_try: int) -> Outcome:
    await deps.spending.check(job.installation_id)  # used up: skipped for the budget before any GitHub read
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
        comment_id, created = await repo.upsert_own_comment(number, render.SUMMARY_MARKER, draft.body)
        detail = "summary posted" if created else "summary edited"
        await deps.effects.record(effect, str(comment_id))
        if draft.summary is not None:
            record = record_of(number, pull.title, draft.summary, merged_at=pull.merged_at, comment_id=comment_id)
            await deps.summaries.save(repo.full_name, record)
    return Outcome.done(detail, comment_id=comment_id, usage=draft.usage)


async def _draft(repo: Repo, pull: PullDetails, config: RepoConfig, deps: Deps) -> Draft:
    files = await repo.pull_files(pull.number)
    commits = await repo.pull_commit_messages(pull.number)
    diff, question = fit_question(
        files,
        lambda d: _question(repo.full_name, pull, commits, d, config, deps, installation_id=repo.installation_id),
        diff_tokens=deps.diff_budget_tokens,
        ceiling=deps.max_input_tokens,
        exclude_paths=config.summaries.exclude_paths,
    )
    answer = await deps.model(repo.installation_id, repo.full_name, TASK).ask(question)
    summary = render.grounded_summary(answer.value, diff.pr_paths)
    references = closing_references("\n\n".join([pull.body, *commits]), repo.full_name, web_root=deps.web_url)
    closes = closing_links(references, repo.full_name, web_root=deps.web_url)
    body = render.summary_comment(summary, diff, closes=closes, model=answer.model)
    return Draft(body=body, usage=answer.usage, summary=summary)


def question_tokens(question: Question[PullSummary]) -> int:
    """The estimated input tokens of a call: system prompt, user prompt and the tool's schema."""
    schema = question.schema or question.answer.model_json_schema()
    tool = json.dumps({"name": question.tool_name, "description": question.tool_description, "input_schema": schema})
    system = question.system
    text = system if isinstance(system, str) else "\n".join(str(block.get("text", "")) for block in system)
    return estimate_tokens(text) + estimate_tokens(question.user) + estimate_tokens(tool)


def fit_question(
    files: list[PullFile],
    question_for: Callable[[BudgetedDiff], Question[PullSummary]],
    *,
    diff_tokens: int,
    ceiling: int,
    exclude_paths: Sequence[str] = (),
) -> tuple[BudgetedDiff, Question[PullSummary]]:
    """The diff within `diff_tokens` (SUMMARY_DIFF_TOKENS) and within what `ceiling`
    (SUMMARY_MAX_INPUT_TOKENS) leaves after the rest of the call; fitted again, smaller, while the
    whole call is over the ceiling (the list of files not shown grows as the diff shrinks)."""
    rest = question_tokens(question_for(BudgetedDiff()))
    tokens = diff_budget(diff_tokens, ceiling=ceiling, rest=rest)
    diff = fit_diff(files, tokens, exclude_paths)
    question = question_for(diff)
    for _ in range(REFITS):
        over = question_tokens(question) - ceiling
        if over <= 0:
            return diff, question
        tokens = max(0, tokens - over - REFIT_MARGIN)
        diff = fit_diff(files, tokens, exclude_paths)
        question = question_for(diff)
    if question_tokens(question) > ceiling:  # the last resort (not reached on tests/test_summary_budget.py's cases)
        diff = fit_diff(files, 0, exclude_paths)
        question = question_for(diff)
    return diff, question


def _question(
    repository: str,
    pull: PullDetails,
    commits: list[str],
    diff: BudgetedDiff,
    config: RepoConfig,
    deps: Deps,
    *,
    installation_id: int = 0,
) -> Question[PullSummary]:
    prompts = deps.prompts.summary
    return Question(
        system=prompts.system.safe_substitute(
            tool=TOOL, language=config.language, instructions=instructions_block(config.instructions)
        ),
        user=prompts.user.safe_substitute(
            repository=repository,
            title=fence(pull.title[: budget.TITLE_CHARS]),
            body=fence(budget.clip(pull.body, budget.BODY_CHARS, tokens=budget.BODY_TOKENS)),
            commits=fence(budget.clip("\n---\n".join(commits), budget.COMMITS_CHARS, tokens=budget.COMMITS_TOKENS)),
            coverage=diff.coverage(names=False),
            diff=fence(diff.text),
            skipped=fence(budget.clip(diff.not_shown_text(), budget.SKIPPED_CHARS, tokens=budget.SKIPPED_TOKENS)),
        ),
        answer=PullSummary,
        tool_name=TOOL,
        tool_description="Record the summary of the merged pull request.",
        model=deps.models.summary,
    )

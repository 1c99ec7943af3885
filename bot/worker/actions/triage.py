"""A new issue gets labels chosen from the repository's own; `@app triage` chooses them again."""

from __future__ import annotations

from pydantic import BaseModel

from bot.adapters.github import IssueDetails, Label, Repo
from bot.adapters.llm import Question
from bot.core import labels as label_policy
from bot.core import render
from bot.core.answers import LabelChoice
from bot.core.job import TriageJob
from bot.core.outcome import ModelUsage, Outcome
from bot.core.prompts import fence, instructions_block
from bot.core.repo_config import RepoConfig
from bot.worker.deps import Deps


class TriageDraft(BaseModel):
    """The model's choice and what it cost, kept for a retry of the same job."""

    labels: list[str]
    reason: str
    usage: ModelUsage


def _label_schema(allowed: list[str]) -> dict[str, object]:
    """LabelChoice's schema with the label names as an enum, so the model can only pick those."""
    schema = LabelChoice.model_json_schema()
    schema["properties"]["labels"]["items"] = {"type": "string", "enum": allowed}
    schema["properties"]["labels"]["maxItems"] = min(len(allowed), 10)
    return schema


async def on_opened(job: TriageJob, repo: Repo, deps: Deps, *, job_try: int) -> Outcome:
    return await triage(repo, job.number, deps=deps, delivery_id=job.delivery_id, force=False)


async def triage(repo: Repo, number: int, *, deps: Deps, delivery_id: str, force: bool) -> Outcome:
    """Choose and add labels (and the triage comment where configured). Shared with `@app triage`."""
    issue = await repo.issue(number)
    if issue.state != "open" and not force:
        return Outcome.skipped("issue closed before triage")
    config = (await deps.configs.get(repo)).config
    if not config.triage.labels and not config.triage.comment and not force:
        return Outcome.skipped("triage is turned off in .github/hookwise.yml")
    effect = f"triage:{repo.full_name}#{number}"
    async with deps.effects.exactly_once(effect, repo.full_name, number, force=force) as needed:
        if not needed:
            return Outcome.skipped("issue already triaged")
        repository_labels = await repo.labels()
        allowed = label_policy.allowed_labels(
            [label.name for label in repository_labels],
            allow=config.triage.allow_labels,
            deny=config.triage.deny_labels,
        )
        if not allowed:
            return Outcome.skipped("no label the bot may use")
        draft = await deps.effects.draft(
            f"{delivery_id}:{effect}",
            TriageDraft,
            lambda: _choose(repo.full_name, issue, repository_labels, allowed, config, deps),
        )
        # Re-read: a human may have labelled the issue, or taken a label off, meanwhile.
        current = await repo.issue(number)
        chosen = label_policy.labels_to_add(
            draft.labels,
            allowed=allowed,
            current=current.labels,
            removed_by_humans=await repo.humans_removed_labels(number),
            limit=config.triage.max_labels,
        )
        if config.triage.labels or force:
            await repo.add_labels(number, chosen)
        comment_id = None
        if config.triage.comment:
            comment_id = await _post_triage_comment(repo, number, render.triage_comment(chosen, draft.reason))
        await deps.effects.record(effect, ",".join(chosen))
    return Outcome.done(
        f"labels added: {', '.join(chosen) or 'none'}", comment_id=comment_id, labels=chosen, usage=draft.usage
    )


async def _choose(
    repository: str, issue: IssueDetails, labels: list[Label], allowed: list[str], config: RepoConfig, deps: Deps
) -> TriageDraft:
    answer = await deps.llm.ask(_question(repository, issue, labels, allowed, config, deps))
    return TriageDraft(labels=answer.value.labels, reason=answer.value.reason, usage=answer.usage)


async def _post_triage_comment(repo: Repo, number: int, body: str) -> int:
    existing = await repo.find_own_comment(number, render.TRIAGE_MARKER)
    if existing is None:
        return await repo.create_comment(number, body)
    await repo.edit_comment(existing.id, body)
    return existing.id


def _question(
    repository: str, issue: IssueDetails, labels: list[Label], allowed: list[str], config: RepoConfig, deps: Deps
) -> Question[LabelChoice]:
    allowed_set = set(allowed)
    described = "\n".join(
        f"- {label.name}: {label.description or '(no description)'}" for label in labels if label.name in allowed_set
    )
    prompts = deps.prompts.triage
    return Question(
        system=prompts.system.safe_substitute(
            tool="choose_labels",
            language=config.language,
            instructions=instructions_block(config.instructions),
            labels=described,
        ),
        user=prompts.user.safe_substitute(
            repository=repository, title=fence(issue.title), body=fence(issue.body[:8000])
        ),
        answer=LabelChoice,
        tool_name="choose_labels",
        tool_description="Record which of the repository's labels apply to the issue.",
        max_tokens=500,
        schema=_label_schema(allowed),
    )

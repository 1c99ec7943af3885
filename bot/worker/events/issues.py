"""`issues` events: a new issue gets labels chosen from the repository's own."""

from __future__ import annotations

from gidgethub.routing import Router
from gidgethub.sansio import Event
from pydantic import BaseModel

from bot.adapters.github import IssueDetails, Label, Repo
from bot.adapters.llm import Question
from bot.adapters.store.records import JobRecord
from bot.core import labels as label_policy
from bot.core import render
from bot.core.answers import LabelChoice
from bot.core.prompts import fence, instructions_block
from bot.core.repo_config import RepoConfig
from bot.worker.deps import Deps

router = Router()


class TriageDraft(BaseModel):
    """The model's choice and what it cost, kept for a retry of the same job."""

    labels: list[str]
    reason: str
    model: str
    input_tokens: int
    output_tokens: int


def _label_schema(allowed: list[str]) -> dict[str, object]:
    """LabelChoice's schema with the label names as an enum, so the model can only pick those."""
    schema = LabelChoice.model_json_schema()
    schema["properties"]["labels"]["items"] = {"type": "string", "enum": allowed}
    schema["properties"]["labels"]["maxItems"] = min(len(allowed), 10)
    return schema


async def triage(repo: Repo, number: int, *, deps: Deps, record: JobRecord, force: bool) -> None:
    """Choose and add labels (and the triage comment where configured). Shared with `@bot triage`."""
    issue = await repo.issue(number)
    if issue.state != "open" and not force:
        record.outcome, record.detail = "skipped", "issue closed before triage"
        return
    config = (await deps.configs.get(repo)).config
    if not config.triage.labels and not config.triage.comment and not force:
        record.outcome, record.detail = "skipped", "triage is turned off in .github/hookwise.yml"
        return
    effect = f"triage:{repo.full_name}#{number}"
    async with deps.effects.exactly_once(effect, repo.full_name, number, force=force) as needed:
        if not needed:
            record.outcome, record.detail = "skipped", "issue already triaged"
            return
        repository_labels = await repo.labels()
        allowed = label_policy.allowed_labels(
            [label.name for label in repository_labels],
            allow=config.triage.allow_labels,
            deny=config.triage.deny_labels,
        )
        if not allowed:
            record.outcome, record.detail = "skipped", "no label the bot may use"
            return
        draft = await deps.effects.draft(
            f"{record.delivery_id}:{effect}",
            TriageDraft,
            lambda: _choose(repo.full_name, issue, repository_labels, allowed, config, deps),
        )
        record.model, record.input_tokens, record.output_tokens = draft.model, draft.input_tokens, draft.output_tokens
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
        if config.triage.comment:
            await _post_triage_comment(repo, number, render.triage_comment(chosen, draft.reason), record)
        await deps.effects.record(effect, ",".join(chosen))
    record.labels, record.outcome = chosen, "done"
    record.detail = f"labels added: {', '.join(chosen) or 'none'}"


async def _choose(
    repository: str, issue: IssueDetails, labels: list[Label], allowed: list[str], config: RepoConfig, deps: Deps
) -> TriageDraft:
    answer = await deps.llm.ask(_question(repository, issue, labels, allowed, config, deps))
    return TriageDraft(
        labels=answer.value.labels,
        reason=answer.value.reason,
        model=answer.model,
        input_tokens=answer.input_tokens,
        output_tokens=answer.output_tokens,
    )


async def _post_triage_comment(repo: Repo, number: int, body: str, record: JobRecord) -> None:
    existing = await repo.find_own_comment(number, render.TRIAGE_MARKER)
    if existing is None:
        record.comment_id = await repo.create_comment(number, body)
    else:
        await repo.edit_comment(existing.id, body)
        record.comment_id = existing.id


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


@router.register("issues", action="opened")
async def on_opened(event: Event, repo: Repo, *, deps: Deps, record: JobRecord) -> None:
    await triage(repo, event.data["issue"]["number"], deps=deps, record=record, force=False)

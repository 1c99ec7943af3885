"""`issues` events: a new issue gets labels chosen from the repository's own."""

from __future__ import annotations

from gidgethub.routing import Router
from gidgethub.sansio import Event

from bot import labels as label_policy
from bot.answers import LabelChoice
from bot.deps import Deps
from bot.github import IssueDetails, Label, Repo
from bot.llm import Question
from bot.prompts import fence
from bot.records import JobRecord

router = Router()


def _label_schema(allowed: list[str]) -> dict[str, object]:
    """LabelChoice's schema with the label names as an enum, so the model can only pick those."""
    schema = LabelChoice.model_json_schema()
    schema["properties"]["labels"]["items"] = {"type": "string", "enum": allowed}
    return schema


async def triage(repo: Repo, number: int, *, deps: Deps, record: JobRecord, force: bool) -> None:
    """Choose and add labels. Shared with `@bot triage`."""
    issue = await repo.issue(number)
    if issue.state != "open" and not force:
        record.outcome, record.detail = "skipped", "issue closed before triage"
        return
    effect = f"triage:{repo.full_name}#{number}"
    if not force and await deps.effects.done(effect):
        record.outcome, record.detail = "skipped", "issue already triaged"
        return
    async with deps.effects.lock(repo.full_name, number):
        # Under the lock, so concurrent deliveries make one model call and one set of labels.
        if not force and await deps.effects.done(effect):
            record.outcome, record.detail = "skipped", "issue already triaged"
            return
        repository_labels = await repo.labels()
        allowed = label_policy.allowed_labels([label.name for label in repository_labels])
        if not allowed:
            record.outcome, record.detail = "skipped", "the repository has no labels"
            return
        answer = await deps.llm.ask(_question(repo.full_name, issue, repository_labels, allowed, deps))
        record.model, record.input_tokens, record.output_tokens = (
            answer.model,
            answer.input_tokens,
            answer.output_tokens,
        )
        current = await repo.issue(number)  # a human may have labelled it meanwhile
        chosen = label_policy.labels_to_add(
            answer.value.labels, allowed=allowed, current=current.labels, limit=deps.max_labels
        )
        await repo.add_labels(number, chosen)
        await deps.effects.record(effect, ",".join(chosen))
    record.labels, record.outcome = chosen, "done"
    record.detail = f"labels added: {', '.join(chosen) or 'none'}"


def _question(
    repository: str, issue: IssueDetails, labels: list[Label], allowed: list[str], deps: Deps
) -> Question[LabelChoice]:
    described = "\n".join(
        f"- {label.name}: {label.description or '(no description)'}" for label in labels if label.name in allowed
    )
    prompts = deps.prompts.triage
    return Question(
        system=prompts.system.safe_substitute(
            tool="choose_labels", language=deps.language, instructions="", labels=described
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

"""A new issue gets labels chosen from the repository's own; `@app triage` chooses them again.

A new issue's TriageJob makes the cheap checks (still open, triage on in the config, not triaged
already, the installation's budget not used up) and then, with batching on, registers the issue
for its repository's next batch round (bot/worker/actions/triage_batch.py) instead of asking the
model itself; an issue whose text addresses the model (bot/core/triage/hostile.py) waits in its
repository's quarantine lane, so it shares a prompt only with others of its kind. With batching
off (`TRIAGE_BATCH_MAX=1` or `TRIAGE_BATCH_WAIT_S=0`), and for `@app triage`, one call answers one
issue, as here. A model that refuses an issue gets it recorded as refused: nothing written, no retry.

Either way the write is `apply_labels`: under the issue's own effect key and lock, the labels a
person removed are read (after the model answered), `plan_labels` decides, and the labels are
added - never another issue's, never one already on it or taken off by a person, never one whose
measured precision fell below the repository's trust floor (that one is suggested instead), never
one the model named that the repository lacks or its config denies (dropped and recorded). In
shadow mode (`triage: shadow: true`) nothing is written to GitHub. Either way the choice is kept as
the issue's agreement record, which people's later label changes judge (bot/core/agreement.py),
and the repository's records come back as the figures and the examples of the next triage
(bot/worker/learning.py, a minute per repository).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from bot.adapters.github import IssueDetails, Label, Repo
from bot.adapters.llm import ModelClient, Question
from bot.adapters.store.triage_queue import AlreadyWaiting
from bot.core.errors import Refused
from bot.core.ingress.job import TriageJob, WaitingIssue
from bot.core.outcome import ModelUsage, Outcome
from bot.core.prompts import fence
from bot.core.repo_config import RepoConfig
from bot.core.triage import labels as label_policy
from bot.core.triage import plan as core
from bot.core.triage.batch import BODY_CHARS
from bot.core.triage.hostile import addresses_model
from bot.core.triage.label_answers import LabelAnswer, LabelItem, read_item
from bot.core.views import comments as render
from bot.worker.deps import Deps

TASK = "triage"


class TriageDraft(BaseModel):
    """The model's answer as it gave it (read when written: bot/core/triage/label_answers.py) and what it
    cost, kept for a retry of the same job."""

    labels: list[Any]
    reason: Any = ""  # asked for only where a triage comment shows it
    usage: ModelUsage

    def read(self, work: Triaging) -> LabelAnswer:
        read = read_item(self.model_dump(), repository=work.label_names, allowed=work.allowed)
        return read if isinstance(read, LabelAnswer) else LabelAnswer()  # a draft holds a list: cannot happen


def effect_key(repository: str, number: int) -> str:
    return f"triage:{repository}#{number}"


async def on_opened(job: TriageJob, repo: Repo, deps: Deps, *, job_try: int) -> Outcome:
    issue = await repo.issue(job.number)
    config = (await deps.configs.get(repo)).config
    triaged = await deps.effects.done(effect_key(repo.full_name, job.number)) is not None
    if reason := core.gate(open_issue=issue.state == "open", config=config, triaged=triaged):
        return Outcome.skipped(reason)
    await deps.spending.check(job.installation_id)  # BudgetExhausted: skipped for the budget, no call
    if not deps.batching:
        return await triage(repo, job.number, deps=deps, delivery_id=job.delivery_id, force=False, issue=issue)
    waiting = WaitingIssue(
        number=job.number,
        delivery_id=job.delivery_id,
        installation_id=job.installation_id,
        repository=job.repository,
        event=job.event,
        action=job.action,
        title=issue.title,
        body=issue.body[:BODY_CHARS],
        labels=issue.labels,
        arrived_ms=int(time.time() * 1000),
        started_at=time.time(),
        job_try=job_try,
        quarantined=addresses_model(issue.title, issue.body),
    )
    registered = await deps.triage_queue.register(repo.full_name, waiting, now_ms=waiting.arrived_ms)
    if isinstance(registered, AlreadyWaiting):
        return Outcome.skipped(f"issue already waiting for a triage batch (delivery {registered.delivery_id})")
    return Outcome.waiting(f"waiting for a triage batch ({registered.round_job})")


async def triage(
    repo: Repo, number: int, *, deps: Deps, delivery_id: str, force: bool, issue: IssueDetails | None = None
) -> Outcome:
    """Choose labels with one model call and add them (and the triage comment where configured;
    in shadow mode, record them and write nothing). Shared with `@app triage`."""
    if issue is None:
        issue = await repo.issue(number)
    config = (await deps.configs.get(repo)).config
    if reason := core.gate(open_issue=issue.state == "open", config=config, force=force):
        return Outcome.skipped(reason)
    effect = effect_key(repo.full_name, number)
    async with deps.effects.exactly_once(effect, repo.full_name, number, force=force) as needed:
        if not needed:
            return Outcome.skipped(core.ALREADY)
        work = await prepare(repo, config, deps)
        if not work.allowed:
            return Outcome.skipped("no label the bot may use")
        text = IssueText(number, issue.title, issue.body, issue.labels)
        try:
            draft = await deps.effects.draft(f"{delivery_id}:{effect}", TriageDraft, lambda: choose(work, text))
        except Refused as refused:  # asking again gets the same: recorded, nothing written, no retry
            return Outcome.skipped(core.refused_detail(refused.reason)).with_usage(*_spent(refused.usage))
        outcome = await apply_labels(work, number, draft.read(work), issue=text, force=force)
        await deps.effects.record(effect, ",".join(outcome.labels))
    return outcome.with_usage(draft.usage)


def _spent(usage: ModelUsage | None) -> tuple[ModelUsage, ...]:
    return (usage,) if usage is not None else ()


@dataclass(frozen=True, slots=True)
class IssueText:
    """The issue as triage saw it: what the prompt shows and its agreement record keeps."""

    number: int
    title: str
    body: str | None
    labels: list[str]  # on the issue when triage read it


@dataclass(frozen=True, slots=True)
class Triaging:
    """One repository's triage as this job found it: what every step after the checks reads."""

    repo: Repo
    deps: Deps
    config: RepoConfig
    labels: list[Label]  # the repository's
    allowed: list[str]  # the ones the model may choose (the config's allow and deny applied)
    learned: core.Learned  # the trust floor's figures and the examples from corrections

    @property
    def label_names(self) -> list[str]:
        return [label.name for label in self.labels]

    def model(self, task: str) -> ModelClient:
        return self.deps.model(self.repo.installation_id, self.repo.full_name, task)


async def prepare(repo: Repo, config: RepoConfig, deps: Deps) -> Triaging:
    """The repository's labels (ETag-cached) and what its agreement records teach."""
    labels = await repo.labels()
    allowed = label_policy.allowed_labels(
        [label.name for label in labels], allow=config.triage.allow_labels, deny=config.triage.deny_labels
    )
    return Triaging(repo, deps, config, labels, allowed, await deps.learning.of(repo.full_name))


async def choose(work: Triaging, issue: IssueText) -> TriageDraft:
    """One issue, one model call (`choose_labels`)."""
    answer = await work.model(TASK).ask(question(work, issue))
    return TriageDraft(labels=answer.value.labels, reason=answer.value.reason, usage=answer.usage)


async def apply_labels(work: Triaging, number: int, answer: LabelAnswer, *, issue: IssueText, force: bool) -> Outcome:
    """Write one issue's triage (the caller holds its effect key's lock) and keep its agreement
    record. The issue's label events are read now, after the model answered (one listing): a label
    a person took off is never put back, and what hookwise itself added before (an earlier try of
    this job, or an earlier triage) is told apart from what was there without it. The POST only
    adds, so nothing else needs reading. In shadow mode nothing is written to GitHub, even for
    `@app triage` (its reply says what would have been added)."""
    repo, config = work.repo, work.config
    policy = core.trust_policy(config)
    history = await repo.label_history(number)
    present = core.before_hookwise(
        issue.labels, added_by_people=history.added_by_people, added_by_app=history.added_by_app
    )
    plan = core.plan_labels(
        answer.labels,
        allowed=work.allowed,
        current=present,
        removed_by_humans=history.removed_by_people,
        limit=config.triage.max_labels,
        stats=work.learned.stats,
        policy=policy,
        dropped=answer.dropped,
    )
    shadow = config.triage.shadow
    written = not shadow and (config.triage.labels or force)
    # Whole seconds, taken before the writes: GitHub dates a person's label change to the second,
    # and a change made in the same second as this triage must count.
    triaged_at = float(math.floor(time.time()))
    if written:
        await repo.add_labels(number, list(plan.apply))
    comment_id = None
    if config.triage.comment and not shadow:
        body = render.triage_comment(plan.apply, answer.reason, plan.suggest)
        comment_id, _ = await repo.upsert_own_comment(number, render.TRIAGE_MARKER, body)
    record = core.triage_record(
        repo.full_name,
        number,
        plan,
        live=written,
        present=present,
        title=issue.title,
        body=issue.body,
        at=triaged_at,
    )
    previous = await work.deps.agreement.get(repo.full_name, number)
    await work.deps.agreement.record(core.retriaged(previous, record), policy)
    reply = render.shadow_triage_reply(plan.apply, plan.suggest) if shadow else ""
    detail = core.describe_plan(plan, shadow=shadow, written=written)
    return Outcome.done(detail, comment_id=comment_id, labels=plan.apply if written else (), reply=reply)


def static_prefix(work: Triaging, *, batched: bool) -> core.Prefix:
    """The repository's static prefix (tool, system text, label list), the same for every call."""
    return core.static_prefix(
        work.deps.prompts,
        model=work.deps.models.triage,
        labels=[(label.name, label.description) for label in work.labels],
        allowed=work.allowed,
        language=work.config.language,
        instructions=work.config.instructions,
        batched=batched,
        reason=core.wants_reason(work.config),
    )


def question(work: Triaging, issue: IssueText) -> Question[LabelItem]:
    prefix = static_prefix(work, batched=False)
    user = core.issue_prompt(
        work.deps.prompts,
        repository=work.repo.full_name,
        title=fence(issue.title),
        body=fence((issue.body or "")[:8000]),
    )
    return Question(
        system=prefix.system,
        user=core.with_examples(work.learned.examples(exclude=(issue.number,)), user),
        answer=LabelItem,
        tool_name=core.SINGLE_TOOL_NAME,
        tool_description=core.SINGLE_TOOL_DESCRIPTION,
        tool=prefix.tool,
        model=work.deps.models.triage,
        max_tokens=core.SINGLE_MAX_TOKENS,
    )

"""`@app release-notes [since TAG]`: release notes from the summaries hookwise posted on the pull
requests merged since the latest release (or since TAG), with one model call at most."""

from __future__ import annotations

import logging
import time

from pydantic import BaseModel

from bot.adapters.github import Repo
from bot.adapters.llm import Question
from bot.core.commands import release_notes as notes
from bot.core.errors import InvalidAnswer, PermanentError, TransientError
from bot.core.operations import retry
from bot.core.operations.retry import Attempt
from bot.core.outcome import ModelUsage, Outcome
from bot.core.prompts import fence, instructions_block
from bot.core.repo_config import RepoConfig
from bot.core.views import comments as render
from bot.worker.deps import Deps

log = logging.getLogger("hookwise.release_notes")

TOOL = "record_release_notes"
TASK = "release-notes"
NO_RELEASE = (
    "This repository has no release yet, so there is no point to start from: name a tag, "
    "`@{slug} release-notes since v1.0.0`."
)
UNKNOWN_TAG = "There is no release or tag {tag} in this repository."


class NotesDraft(BaseModel):
    """The model's grouping (None: it gave none usable) and what it cost, kept for a retry."""

    answer: notes.NotesAnswer | None = None
    usage: ModelUsage | None = None


async def release_notes(
    repo: Repo,
    number: int,
    argument: str,
    *,
    slug: str,
    deps: Deps,
    delivery_id: str,
    job_try: int,
    attempt: Attempt | None = None,
) -> tuple[str, Outcome]:
    """The reply's text and what was done; never fails for what the model answered."""
    tag, ok = notes.parse_since(argument)
    if not ok:
        return notes.RELEASE_NOTES_USAGE.format(slug=slug), Outcome.done("release notes: no usable tag")
    cutoff = await _cutoff(repo, tag)
    if cutoff is None:
        text = NO_RELEASE.format(slug=slug) if tag is None else UNKNOWN_TAG.format(tag=render.code(tag))
        return text, Outcome.done("release notes: nothing to start from")
    since, since_date = cutoff
    pulls = notes.merged_since(await repo.merged_pulls_since(since_date, scan=notes.MAX_SCANNED), since_date)
    listed, more = pulls[: notes.MAX_PULLS], max(len(pulls) - notes.MAX_PULLS, 0)
    entries = await _entries(repo, listed, deps)
    config = (await deps.configs.get(repo)).config
    draft = NotesDraft()
    if entries:
        key = f"{delivery_id}:release-notes:{repo.full_name}#{number}"
        asked = attempt or Attempt(job_try)
        draft = await deps.effects.draft(
            key, NotesDraft, lambda: _ask(repo.installation_id, repo.full_name, entries, config, deps, asked)
        )
    text = render.release_notes(
        repo.full_name,
        notes.plan_notes(entries, draft.answer),
        since=since,
        since_date=since_date,
        web_root=deps.web_url,
        model=draft.usage.model if draft.answer is not None and draft.usage is not None else "",
        more=more,
    )
    how = "grouped by the model" if draft.answer is not None else "grouped by their summaries"
    detail = f"release notes: {len(pulls)} pull request(s) since {since}, {how}"
    return text, Outcome.done(detail, usage=draft.usage)


async def _cutoff(repo: Repo, tag: str | None) -> tuple[str, str] | None:
    """(what the notes start from, when): the latest release, or TAG's release, or TAG's commit."""
    if tag is None:
        latest = await repo.latest_release()
        return (latest.tag_name, latest.created_at) if latest and latest.created_at else None
    release = await repo.release_by_tag(tag)
    if release is not None and release.created_at:
        return tag, release.created_at
    committed = await repo.commit_date(tag)
    return (tag, committed) if committed else None


async def _entries(repo: Repo, pulls: list[notes.MergedPull], deps: Deps) -> list[notes.Entry]:
    """Each pull request with its summary: the stored record, else (for a few) the summary comment
    read back, else none (it is listed by its title)."""
    records = await deps.summaries.get_many(repo.full_name, [pull.number for pull in pulls])
    missing = [pull for pull in pulls if pull.number not in records][: notes.READ_BACK_MAX]
    for pull in missing:
        comment = await repo.find_own_comment(pull.number, render.SUMMARY_MARKER)
        if comment is not None:
            record = render.read_summary_comment(
                comment.body, number=pull.number, title=pull.title, merged_at=pull.merged_at, comment_id=comment.id
            )
            if record is not None:
                records[pull.number] = record
    return [notes.Entry(pull.number, pull.title, pull.merged_at, records.get(pull.number)) for pull in pulls]


async def _ask(
    installation_id: int,
    repository: str,
    entries: list[notes.Entry],
    config: RepoConfig,
    deps: Deps,
    attempt: Attempt,
) -> NotesDraft:
    """One model call, no repair turn: an answer that fails validation, or a failure that will not be
    retried, leaves the grouping to the fallback rather than failing the command."""
    try:
        answer = await deps.model(installation_id, repository, TASK).ask(_question(repository, entries, config, deps))
    except InvalidAnswer as exc:
        log.info("release notes: the model's answer is unusable (%s); grouped by the summaries", exc.reason)
        return NotesDraft(answer=None, usage=exc.usage)
    except TransientError as exc:
        if not retry.ends_job(exc, attempt, time.time()):
            raise
        log.warning("release notes: model unavailable (%s); grouped by the summaries", exc.reason)
        return NotesDraft()
    except PermanentError as exc:
        log.warning("release notes: model refused (%s); grouped by the summaries", exc.reason)
        return NotesDraft()
    return NotesDraft(answer=answer.value, usage=answer.usage)


def _question(
    repository: str, entries: list[notes.Entry], config: RepoConfig, deps: Deps
) -> Question[notes.NotesAnswer]:
    prompts = deps.prompts.release_notes
    return Question(
        system=prompts.system.safe_substitute(
            tool=TOOL, language=config.language, instructions=instructions_block(config.instructions)
        ),
        user=prompts.user.safe_substitute(repository=repository, pulls=fence(notes.entries_text(entries))),
        answer=notes.NotesAnswer,
        tool_name=TOOL,
        tool_description="Record the group and the release-notes line of each pull request.",
        max_tokens=min(8_000, 300 + 120 * len(entries)),
        schema=notes.answer_schema([entry.number for entry in entries]),
        repair=False,
    )

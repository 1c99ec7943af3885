"""The one typed job: what the web process queues and the worker runs. Pure.

The web validates a delivery into one of these (bot/core/ingress/intake.py), serialises it once into the
arq job; the worker rebuilds it once (`parse_job`) and each handler takes its own kind's fields.
Only what the worker needs travels (a few hundred bytes, not the 10-30 kB payload): the worker
re-reads the current state from GitHub before acting anyway.
"""

from __future__ import annotations

import enum
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from bot.core.errors import UnreadableJob
from bot.core.text import first_error

VERSION: Literal[2] = 2  # a job of another version is not run: it fails once, its record saying why


class JobKind(enum.StrEnum):
    SUMMARY = "summary"  # a merged pull request: summarise it
    TRIAGE = "triage"  # a new issue: choose labels
    COMMAND = "command"  # a comment that may hold a command
    CONFIG = "config"  # a push that may change .github/hookwise.yml
    LABEL = "label"  # a person changed an issue's labels: update triage agreement
    FORGET = "forget"  # the App was uninstalled, or repositories removed from it: delete their data


class _Job(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    v: Literal[2] = VERSION
    delivery_id: str
    event: str
    action: str
    installation_id: int
    repository: str  # owner/name
    number: int = 0  # the issue or pull request; 0 for a push


class SummaryJob(_Job):
    kind: Literal[JobKind.SUMMARY] = JobKind.SUMMARY


class TriageJob(_Job):
    kind: Literal[JobKind.TRIAGE] = JobKind.TRIAGE


class Author(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    login: str
    type: str = "User"


class CommandJob(_Job):
    kind: Literal[JobKind.COMMAND] = JobKind.COMMAND
    is_pull_request: bool
    comment_id: int
    body: str
    author: Author


class ConfigJob(_Job):
    kind: Literal[JobKind.CONFIG] = JobKind.CONFIG


class LabelJob(_Job):
    kind: Literal[JobKind.LABEL] = JobKind.LABEL
    label: str
    added: bool
    actor: Author
    at: float  # epoch seconds the web saw the change


class ForgetJob(_Job):
    """Delete what hookwise keeps about some repositories (bot/core/operations/forget.py). The job names
    them only by digest, so the job, its delivery and its record never hold the names themselves.
    `repository` is "" and `number` 0."""

    kind: Literal[JobKind.FORGET] = JobKind.FORGET
    repositories: list[str] = Field(default_factory=list)  # digests of the full names (forget.digest)
    owners: list[str] = Field(default_factory=list)  # digests of the account's login (installation deleted)
    whole_installation: bool = False  # also every repository seen under `installation_id`
    second_pass: bool = False  # the pass a little later that catches what jobs in flight wrote


Job = Annotated[SummaryJob | TriageJob | CommandJob | ConfigJob | LabelJob | ForgetJob, Field(discriminator="kind")]
# Every job type, read off the union; the worker has one handler per type (bot/worker/dispatch.py),
# checked by a test.
JOB_TYPES: tuple[type[_Job], ...] = get_args(get_args(Job)[0])
_JOB: TypeAdapter[Job] = TypeAdapter(Job)


def dump_job(job: Job) -> bytes:
    return job.model_dump_json().encode()


def parse_job(data: Any) -> Job:
    """The job from its JSON object; `UnreadableJob` (permanent) when it is not one of ours."""
    try:
        return _JOB.validate_python(data)
    except ValidationError as exc:
        raise UnreadableJob(f"queued job not readable by this version: {first_error(exc, whole='job')}") from exc


# -- micro-batched triage ---------------------------------------------------------------------------

QUARANTINE = "quarantine"


class WaitingIssue(BaseModel):
    """A new issue registered for a triage batch by its TriageJob: what the batch job needs to ask
    about it and to finish its delivery's record, so the batch reads nothing from GitHub again
    but the label list (a conditional request) and, after the model answers, the issue's events."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    number: int
    delivery_id: str
    installation_id: int
    repository: str = ""  # owner/name as GitHub spells it
    event: str = "issues"
    action: str = "opened"
    title: str
    body: str
    labels: list[str] = Field(default_factory=list)  # on the issue when its TriageJob read it
    arrived_ms: int  # when it was registered (orders the batch; a lone issue waits from here)
    started_at: float  # when its TriageJob started: the final record's duration counts from here
    job_try: int = 1
    # Why its text reads as addressed to the model (bot/core/triage/hostile.py), or '': such an issue waits
    # in its repository's quarantine lane and is batched only with others of its kind.
    quarantined: str = ""

    @property
    def lane(self) -> str:
        return QUARANTINE if self.quarantined else ""


class TriageRound(BaseModel):
    """The arq job `triage_batch`: one round of one repository's waiting issues."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    repository: str
    installation_id: int
    round: int
    lane: str = ""  # "" or QUARANTINE: the repository's queue of issues whose text addresses the model

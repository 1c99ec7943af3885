"""Which deliveries hookwise acts on, and the job each becomes. Pure.

The web process answers within GitHub's 10 seconds by deciding here, from the payload alone,
whether a delivery is work. `ROUTES` is the one (event, action) table: it decides both "is this
work" and which kind of job it is, and the worker runs each kind with its handler
(bot/worker/dispatch.py). Only the typed job travels (bot/core/ingress/job.py).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from bot.core.commands.grammar import is_bot, might_hold_command
from bot.core.ingress.job import (
    Author,
    CommandJob,
    ConfigJob,
    ForgetJob,
    Job,
    LabelJob,
    SummaryJob,
    TriageJob,
)
from bot.core.ingress.payloads import EventPayload
from bot.core.operations.forget import digest
from bot.core.repo_config import CONFIG_PATH
from bot.core.text import first_error

PUSH_COMMITS_LISTED = 20  # GitHub lists at most this many commits in a push payload


@dataclass(frozen=True, slots=True)
class Work:
    job: Job

    @property
    def event(self) -> str:
        return self.job.event

    @property
    def action(self) -> str:
        return self.job.action

    @property
    def repository(self) -> str:
        return self.job.repository

    @property
    def target(self) -> int:
        return self.job.number


@dataclass(frozen=True, slots=True)
class Ignore:
    reason: str


@dataclass(frozen=True, slots=True)
class Malformed:
    """The payload lacks a field its event always carries: a 400, not a silent drop."""

    error: str


Decision = Work | Ignore | Malformed
Builder = Callable[[str, str, EventPayload], Job | Ignore | Malformed]

ACKNOWLEDGED_EVENTS = frozenset({"ping"})  # answered "acknowledged", not "not handled" (the installation events route)

# GitHub's X-GitHub-Delivery is a UUID (redeliveries keep it); it becomes part of Redis keys.
_DELIVERY_ID = re.compile(r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}")
_EVENT_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def is_delivery_id(text: str) -> bool:
    """GUID-like: 32 hex digits, with or without the dashes of a UUID."""
    return _DELIVERY_ID.fullmatch(text) is not None


def is_event_name(text: str) -> bool:
    return _EVENT_NAME.fullmatch(text) is not None


# -- the routes: each builds its job from the typed payload, or says why not -----------------------


def _merged_pull(delivery_id: str, event: str, parsed: EventPayload) -> Job | Ignore | Malformed:
    pull = parsed.pull_request
    if pull is None:
        return Malformed("pull_request payload without pull_request")
    if not pull.merged:
        return Ignore("pull_request closed is not a merge")
    return SummaryJob(**_common(delivery_id, event, parsed), number=pull.number)


def _opened_issue(delivery_id: str, event: str, parsed: EventPayload) -> Job | Ignore | Malformed:
    issue = parsed.issue
    if issue is None:
        return Malformed("issues payload without issue")
    if parsed.changes and "old_issue" in parsed.changes:
        return Ignore("issue transferred from another repository: it was triaged there")
    return TriageJob(**_common(delivery_id, event, parsed), number=issue.number)


def _command_comment(delivery_id: str, event: str, parsed: EventPayload) -> Job | Ignore | Malformed:
    issue, comment = parsed.issue, parsed.comment
    if issue is None or comment is None:
        return Malformed("issue_comment payload without issue or comment")
    if is_bot(comment.user.login, comment.user.type):
        return Ignore("comment by a bot")
    body = comment.body or ""
    if not might_hold_command(body):
        return Ignore("comment holds no command")
    return CommandJob(
        **_common(delivery_id, event, parsed),
        number=issue.number,
        is_pull_request=issue.pull_request is not None,
        comment_id=comment.id,
        body=body,
        author=Author(login=comment.user.login, type=comment.user.type),
    )


def _config_push(delivery_id: str, event: str, parsed: EventPayload) -> Job | Ignore | Malformed:
    """Work only for a push to the default branch that may change the config file."""
    repository = parsed.repository
    assert repository is not None
    branch = repository.default_branch or ""
    if not branch or parsed.ref != f"refs/heads/{branch}":
        return Ignore("push to another branch than the default")
    commits = parsed.commits or []
    touched = any(CONFIG_PATH in (*commit.added, *commit.modified, *commit.removed) for commit in commits)
    if not touched and len(commits) < PUSH_COMMITS_LISTED:
        return Ignore("push does not change .github/hookwise.yml")
    return ConfigJob(**_common(delivery_id, event, parsed))


def _label_change(delivery_id: str, event: str, parsed: EventPayload) -> Job | Ignore | Malformed:
    """A person's label change on an issue: it may judge hookwise's triage (bot/core/agreement.py)."""
    issue, label, sender = parsed.issue, parsed.label, parsed.sender
    if issue is None:
        return Malformed("issues payload without issue")
    if issue.pull_request is not None:
        return Ignore("label change on a pull request")
    if label is None or sender is None:
        return Ignore("label change without label or sender")
    if is_bot(sender.login, sender.type):
        return Ignore("label change by a bot")
    return LabelJob(
        **_common(delivery_id, event, parsed),
        number=issue.number,
        label=label.name,
        added=parsed.action == "labeled",
        actor=Author(login=sender.login, type=sender.type),
        at=_epoch(issue.updated_at),
    )


def _uninstalled(delivery_id: str, event: str, parsed: EventPayload) -> Job | Ignore | Malformed:
    """The App was uninstalled: forget every repository of the installation (those the payload
    lists, and every one hookwise has seen under it)."""
    assert parsed.installation is not None
    account = parsed.installation.account
    return ForgetJob(
        delivery_id=delivery_id, event=event, action=parsed.action or "", installation_id=parsed.installation.id,
        repository="", repositories=sorted({digest(r.full_name) for r in parsed.repositories or []}),
        owners=[digest(account.login)] if account is not None else [], whole_installation=True,
    )  # fmt: skip


def _repositories_removed(delivery_id: str, event: str, parsed: EventPayload) -> Job | Ignore | Malformed:
    assert parsed.installation is not None
    removed = sorted({digest(r.full_name) for r in parsed.repositories_removed or []})
    if not removed:
        return Ignore("no repository removed")
    return ForgetJob(
        delivery_id=delivery_id, event=event, action=parsed.action or "", installation_id=parsed.installation.id,
        repository="", repositories=removed,
    )  # fmt: skip


def _epoch(iso: str | None) -> float:
    """GitHub's time of the change (a redelivery keeps it, so it is recognised as the same change),
    or now when the payload does not say."""
    try:
        return datetime.fromisoformat((iso or "").replace("Z", "+00:00")).timestamp()
    except ValueError:
        return time.time()


# The one (event, action) table: each entry builds its job (or says why the delivery is no work).
# An event hookwise acts on is one entry here, its job type (bot/core/ingress/job.py) and one
# handler in the worker's table (bot/worker/dispatch.py: HANDLERS).
ROUTES: Mapping[tuple[str, str], Builder] = {
    ("pull_request", "closed"): _merged_pull,
    ("issues", "opened"): _opened_issue,
    ("issue_comment", "created"): _command_comment,
    ("push", ""): _config_push,
    ("issues", "labeled"): _label_change,
    ("issues", "unlabeled"): _label_change,
    ("installation", "deleted"): _uninstalled,
    ("installation_repositories", "removed"): _repositories_removed,
}
HANDLED_EVENTS = frozenset(event for event, _action in ROUTES)
# Events about the installation itself: no `repository` in the payload.
INSTALLATION_EVENTS = frozenset({"installation", "installation_repositories"})


def _common(delivery_id: str, event: str, parsed: EventPayload) -> dict[str, Any]:
    assert parsed.installation is not None and parsed.repository is not None
    return {
        "delivery_id": delivery_id,
        "event": event,
        "action": parsed.action or "",
        "installation_id": parsed.installation.id,
        "repository": parsed.repository.full_name,
    }


# -- the decision -----------------------------------------------------------------------------------


class _JSONObject(BaseModel):
    """Any JSON object: what a delivery the bot does not act on must still be."""

    model_config = ConfigDict(extra="ignore")


def _problem(event: str, exc: ValidationError) -> Malformed:
    first = exc.errors()[0]
    if first["type"] == "json_invalid":
        return Malformed(f"body is not JSON: {first['msg']}")
    if not first["loc"]:
        return Malformed("body is not a JSON object")
    return Malformed(f"{event} payload: {first_error(exc)}")


def decide(event: str, body: bytes | str, delivery_id: str = "-") -> Decision:
    """Classify one verified delivery from its raw JSON.

    The body is validated straight from bytes into the few fields we read (pydantic's parser skips
    building objects for the rest), which is several times cheaper than `json.loads` of a whole
    payload that is typically 10-30 kB: ingress throughput depends on it.
    """
    if event not in HANDLED_EVENTS:
        try:
            _JSONObject.model_validate_json(body)
        except ValidationError as exc:
            return _problem(event, exc)
        return Ignore(f"{event} acknowledged" if event in ACKNOWLEDGED_EVENTS else f"event {event} is not handled")
    try:
        parsed = EventPayload.model_validate_json(body)
    except ValidationError as exc:
        return _problem(event, exc)
    return _route(delivery_id, event, parsed)


def _route(delivery_id: str, event: str, parsed: EventPayload) -> Decision:
    action = parsed.action or ""
    if event in INSTALLATION_EVENTS:
        if parsed.installation is None:
            return Ignore("no installation in the payload")
    elif parsed.installation is None or parsed.repository is None:
        return Ignore("no installation or repository in the payload")
    build = ROUTES.get((event, action))
    if build is None:
        # An installation event's other actions (created, suspend, ...) are expected: acknowledged.
        unrouted = "acknowledged" if event in INSTALLATION_EVENTS else "is not handled"
        return Ignore(f"{event} {action or 'without action'} {unrouted}")
    built = build(delivery_id, event, parsed)
    return built if isinstance(built, Ignore | Malformed) else Work(built)

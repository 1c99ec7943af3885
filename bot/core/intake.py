"""Which deliveries hookwise acts on, and what of them travels to the worker. Pure.

The web process answers within GitHub's 10 seconds by deciding here, from the payload alone,
whether a delivery is work; only work is queued, and only the fields the worker reads travel.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from bot.core.payloads import EventPayload

# A line that looks like `@something summarize|summarise|triage|help ...`, or is just
# `@something word` (an unknown command gets the help reply). The web process does not know the
# App's slug (it makes no GitHub call), so it only drops comments that cannot be commands; the
# worker parses them properly (bot/commands.py).
_COMMAND_LIKE = re.compile(
    r"(?im)^[ \t]*(?:<!--.*?-->[ \t]*)*(?:[-+*][ \t]+|\d{1,9}[.)][ \t]+)*@[\w.-]+(?:\[bot\])?[ \t]+"
    r"(?:(?:summari[sz]e|triage|help)(?![\w-])|[^\W\d_][\w-]*[ \t]*$)"
)
CONFIG_PATH = ".github/hookwise.yml"  # bot/repo_config.py's; not imported, to keep the web lean
PUSH_COMMITS_LISTED = 20  # GitHub lists at most this many commits in a push payload


@dataclass(frozen=True, slots=True)
class Work:
    """A delivery to process: the job's payload, in GitHub's shape but slimmed."""

    event: str
    action: str
    payload: dict[str, Any]
    repository: str
    target: int


@dataclass(frozen=True, slots=True)
class Ignore:
    reason: str


@dataclass(frozen=True, slots=True)
class Malformed:
    """The payload lacks a field its event always carries: a 400, not a silent drop."""

    error: str


Decision = Work | Ignore | Malformed

ACKNOWLEDGED_EVENTS = frozenset({"ping", "installation", "installation_repositories"})
HANDLED_EVENTS = frozenset({"pull_request", "issues", "issue_comment", "push"})


class _JSONObject(BaseModel):
    """Any JSON object: what a delivery the bot does not act on must still be."""

    model_config = ConfigDict(extra="ignore")


def _problem(event: str, exc: ValidationError) -> Malformed:
    first = exc.errors()[0]
    if first["type"] == "json_invalid":
        return Malformed(f"body is not JSON: {first['msg']}")
    if not first["loc"]:
        return Malformed("body is not a JSON object")
    where = ".".join(str(part) for part in first["loc"])
    return Malformed(f"{event} payload: {where}: {first['msg']}")


def decide(event: str, body: bytes | str) -> Decision:
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
    if parsed.installation is None or parsed.repository is None:
        return Ignore("no installation or repository in the payload")
    action = parsed.action or ""

    if event == "push":
        return _decide_push(parsed)
    if event == "pull_request":
        pull = parsed.pull_request
        if pull is None:
            return Malformed("pull_request payload without pull_request")
        if action != "closed" or not pull.merged:
            return Ignore(f"pull_request {action or 'without action'} is not a merge")
        target = pull.number
    elif event == "issues":
        issue = parsed.issue
        if issue is None:
            return Malformed("issues payload without issue")
        if action != "opened":
            return Ignore(f"issues {action or 'without action'} is not handled")
        if parsed.changes and "old_issue" in parsed.changes:
            return Ignore("issue transferred from another repository: it was triaged there")
        target = issue.number
    else:
        issue, comment = parsed.issue, parsed.comment
        if issue is None or comment is None:
            return Malformed("issue_comment payload without issue or comment")
        if action != "created":
            return Ignore(f"issue_comment {action or 'without action'} is not handled")
        if comment.user.type == "Bot" or comment.user.login.endswith("[bot]"):
            return Ignore("comment by a bot")
        if not _COMMAND_LIKE.search(comment.body or ""):
            return Ignore("comment holds no command")
        target = issue.number

    slim = parsed.model_dump(exclude_none=True, exclude={"changes"})
    return Work(event, action, slim, parsed.repository.full_name, target)


def _decide_push(parsed: EventPayload) -> Decision:
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
    slim = parsed.model_dump(exclude_none=True, include={"action", "installation", "repository", "ref"})
    return Work("push", "", slim, repository.full_name, 0)

"""GitHub's webhook event names, and what a payload's own keys say about its event. Pure.

`python -m bot receive EVENT PAYLOAD.json` takes the event name from the operator, where the web
takes it from `X-GitHub-Event`. A misspelt name (`pull_requests`) or a payload saved from another
event (a merged PR's body given as `issues`) would otherwise be answered "ignored", which reads as
if the bot had looked at it and chosen to do nothing. `closest_event` names the event meant;
`payload_mismatch` says when a payload lacks what every delivery of its event carries and which
event it looks like instead.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

__all__ = ["GITHUB_EVENTS", "article", "closest_event", "payload_mismatch"]

# Every `X-GitHub-Event` GitHub documents ("Webhook events and payloads").
GITHUB_EVENTS = frozenset(
    {
        "branch_protection_configuration", "branch_protection_rule", "check_run", "check_suite",
        "code_scanning_alert", "commit_comment", "create", "custom_property", "custom_property_values",
        "delete", "dependabot_alert", "deploy_key", "deployment", "deployment_protection_rule",
        "deployment_review", "deployment_status", "discussion", "discussion_comment", "fork",
        "github_app_authorization", "gollum", "installation", "installation_repositories",
        "installation_target", "issue_comment", "issue_dependencies", "issues", "label", "marketplace_purchase",
        "member", "membership", "merge_group", "meta", "milestone", "org_block", "organization", "package",
        "page_build", "personal_access_token_request", "ping", "project", "project_card", "project_column",
        "projects_v2", "projects_v2_item", "projects_v2_status_update", "public", "pull_request",
        "pull_request_review", "pull_request_review_comment", "pull_request_review_thread", "push",
        "registry_package", "release", "repository", "repository_advisory", "repository_dispatch",
        "repository_import", "repository_ruleset", "repository_vulnerability_alert", "secret_scanning_alert",
        "secret_scanning_alert_location", "secret_scanning_scan", "security_advisory", "security_and_analysis",
        "sponsorship", "star", "status", "sub_issues", "team", "team_add", "watch", "workflow_dispatch",
        "workflow_job", "workflow_run",
    }
)  # fmt: skip

# What every delivery of an event carries (the keys that tell it from the others), most specific
# first: a review comment has `comment` and `pull_request`, an issue comment `comment` and `issue`.
_SIGNATURES: tuple[tuple[str, frozenset[str], frozenset[str]], ...] = (
    # (event, keys it always has, keys it never has)
    ("pull_request_review_comment", frozenset({"comment", "pull_request"}), frozenset()),
    ("pull_request_review", frozenset({"review", "pull_request"}), frozenset()),
    ("issue_comment", frozenset({"comment", "issue"}), frozenset()),
    ("issues", frozenset({"issue"}), frozenset({"comment"})),
    ("pull_request", frozenset({"pull_request", "number"}), frozenset({"review", "comment"})),
    ("push", frozenset({"ref", "before", "after", "commits"}), frozenset()),
    ("ping", frozenset({"zen", "hook_id"}), frozenset()),
    ("installation_repositories", frozenset({"repositories_added", "repositories_removed"}), frozenset()),
    ("release", frozenset({"release"}), frozenset()),
)
_CHECKED = frozenset(event for event, _has, _lacks in _SIGNATURES)


def article(word: str) -> str:
    """`an issues delivery`, `a pull_request delivery`."""
    return "an" if word[:1].lower() in "aeiou" else "a"


def closest_event(name: str) -> str | None:
    """The GitHub event `name` most likely means (`pull_requests` -> `pull_request`), or None."""
    normal = name.strip().lower().replace("-", "_").replace(" ", "_")
    if normal in GITHUB_EVENTS:
        return normal
    found = difflib.get_close_matches(normal, sorted(GITHUB_EVENTS), n=1, cutoff=0.6)
    return found[0] if found else None


def _looks_like(payload: Mapping[str, Any]) -> str | None:
    present = set(payload)
    for event, has, lacks in _SIGNATURES:
        if has <= present and not lacks & present:
            return event
    return None


def payload_mismatch(event: str, payload: Any) -> str | None:
    """Why `payload` is not a delivery of `event`, in words, or None when nothing says so.

    Checked only for the events whose payloads we can tell apart by their keys; any other event's
    payload is taken as given."""
    if event not in _CHECKED or not isinstance(payload, Mapping):
        return None
    if _looks_like(payload) == event:
        return None
    has, lacks = next((has, lacks) for name, has, lacks in _SIGNATURES if name == event)
    missing = sorted(has - set(payload))
    extra = sorted(lacks & set(payload))
    reason = f"it has no `{'`, `'.join(missing)}`" if missing else f"it has `{'`, `'.join(extra)}`"
    other = _looks_like(payload)
    if other is None:
        return reason
    return f"{reason}; it looks like {article(other)} {other} delivery"

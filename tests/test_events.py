"""What a payload's keys say about its event, and the event name an operator most likely meant
(`python -m bot receive`): pure functions over real GitHub payloads."""

from __future__ import annotations

import pytest

from bot.core.ingress.events import GITHUB_EVENTS, closest_event, payload_mismatch
from tests.helpers import webhook_payload


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("pull_requests", "pull_request"),
        ("pull request", "pull_request"),
        ("Issues", "issues"),
        ("issue", "issues"),
        ("issue-comment", "issue_comment"),
        ("issue_coment", "issue_comment"),
        ("installation_repository", "installation_repositories"),
        ("pushh", "push"),
        ("zzzzzz", None),
    ],
)
def test_closest_event_names_the_event_meant(typed: str, meant: str | None) -> None:
    assert closest_event(typed) == meant


def test_the_events_hookwise_handles_are_github_events() -> None:
    from bot.core.ingress.intake import ACKNOWLEDGED_EVENTS, HANDLED_EVENTS

    assert HANDLED_EVENTS | ACKNOWLEDGED_EVENTS <= GITHUB_EVENTS


@pytest.mark.parametrize(
    ("event", "fixture"),
    [
        ("pull_request", "pull_request/closed.merged.app.json"),
        ("issues", "issues/opened.json"),
        ("issue_comment", "issue_comment/created.json"),
        ("ping", "ping/app-hook.json"),
        ("installation_repositories", "installation_repositories/added.json"),
        ("push", "push/payload.json"),
        ("pull_request", "pull_request/synchronize.json"),
        ("issues", "issues/labeled.json"),
        ("issue_comment", "issue_comment/created.on-pull-request.json"),
    ],
)
def test_a_payload_of_its_own_event_is_no_mismatch(event: str, fixture: str) -> None:
    assert payload_mismatch(event, webhook_payload(fixture)) is None


def test_a_payload_of_another_event_says_which_event_it_looks_like() -> None:
    merged = webhook_payload("pull_request/closed.merged.app.json")
    assert payload_mismatch("issues", merged) == "it has no `issue`; it looks like a pull_request delivery"
    issue = webhook_payload("issues/opened.json")
    assert payload_mismatch("issue_comment", issue) == "it has no `comment`; it looks like an issues delivery"
    comment = webhook_payload("issue_comment/created.json")
    assert payload_mismatch("issues", comment) == "it has `comment`; it looks like an issue_comment delivery"
    assert payload_mismatch("push", {"zen": "x"}) == "it has no `after`, `before`, `commits`, `ref`"
    # Events whose payloads we cannot tell apart by their keys are taken as given, and so is a non-object.
    assert payload_mismatch("label", merged) is None
    assert payload_mismatch("issues", ["not", "an", "object"]) is None

"""bot.core.triage.labels: only labels that exist (and the config allows) ever reach GitHub."""

from __future__ import annotations

import pytest

from bot.core.triage.labels import allowed_labels, labels_to_add
from tests.helpers import api_json as load_api

REPO_LABELS: list[str] = [label["name"] for label in load_api("repos/list-labels.github3py.json")]


def test_fixture_labels() -> None:
    assert "Bug" in REPO_LABELS and "help wanted" in REPO_LABELS and len(REPO_LABELS) == 15


# -- allowed_labels --------------------------------------------------------------------------------


def test_no_config_allows_every_repository_label() -> None:
    assert allowed_labels(REPO_LABELS) == REPO_LABELS


def test_allow_list_is_case_insensitive_and_keeps_repository_spelling() -> None:
    assert allowed_labels(REPO_LABELS, allow=["bug", "ENHANCEMENT", "Help Wanted"]) == [
        "Bug",
        "Enhancement",
        "help wanted",
    ]


def test_allow_list_cannot_add_a_label_the_repository_lacks() -> None:
    assert allowed_labels(REPO_LABELS, allow=["bug", "security"]) == ["Bug"]


def test_deny_list_is_case_insensitive() -> None:
    result = allowed_labels(REPO_LABELS, deny=["duplicate", "INVALID", "Humor"])
    assert "Duplicate" not in result and "Invalid" not in result and "Humor" not in result
    assert len(result) == len(REPO_LABELS) - 3


def test_deny_wins_over_allow() -> None:
    assert allowed_labels(REPO_LABELS, allow=["Bug", "Question"], deny=["bug"]) == ["Question"]


def test_empty_allow_list_allows_nothing() -> None:
    assert allowed_labels(REPO_LABELS, allow=[]) == []


# -- labels_to_add ---------------------------------------------------------------------------------


def test_only_existing_labels_pass() -> None:
    result = labels_to_add(["bug", "security", "needs-triage", "Enhancement"], allowed=REPO_LABELS, current=[])
    assert result == ["Bug", "Enhancement"]


@pytest.mark.parametrize("invented", ["critical", "P0", "bug!", "Bug ", "help-wanted", "", "Bug, Question"])
def test_a_model_invented_label_never_passes(invented: str) -> None:
    result = labels_to_add([invented], allowed=REPO_LABELS, current=[])
    # "Bug " differs from "Bug" only by surrounding space, which is trimmed: it *is* Bug.
    assert result == (["Bug"] if invented.strip() == "Bug" else [])
    assert all(name in REPO_LABELS for name in result)


def test_a_denied_label_never_passes() -> None:
    allowed = allowed_labels(REPO_LABELS, deny=["invalid"])
    assert labels_to_add(["Invalid", "Bug"], allowed=allowed, current=[]) == ["Bug"]


def test_repository_spelling_is_kept() -> None:
    assert labels_to_add(["BUG", "HELP WANTED", "needs more info"], allowed=REPO_LABELS, current=[]) == [
        "Bug",
        "help wanted",
        "Needs More Info",
    ]


def test_labels_already_on_the_issue_are_skipped() -> None:
    current = [label["name"] for label in load_api("issues/list-labels.github3py-187.json")]
    assert "Bug" in current
    assert labels_to_add(["bug", "Question", "help wanted"], allowed=REPO_LABELS, current=current) == ["Question"]


def test_labels_removed_by_humans_are_not_put_back() -> None:
    result = labels_to_add(["Bug", "Question"], allowed=REPO_LABELS, current=[], removed_by_humans=["bug"])
    assert result == ["Question"]


def test_duplicates_are_added_once() -> None:
    assert labels_to_add(["Bug", "bug", " BUG "], allowed=REPO_LABELS, current=[]) == ["Bug"]


@pytest.mark.parametrize(("limit", "expected"), [(5, 5), (2, 2), (0, 0), (-1, 0), (100, 7)])
def test_limit(limit: int, expected: int) -> None:
    chosen = ["Bug", "Enhancement", "Question", "Humor", "help wanted", "in progress", "Needs documentation"]
    result = labels_to_add(chosen, allowed=REPO_LABELS, current=[], limit=limit)
    assert result == chosen[:expected]


def test_default_limit_is_five() -> None:
    assert len(labels_to_add(REPO_LABELS, allowed=REPO_LABELS, current=[])) == 5


def test_limit_counts_only_labels_that_pass() -> None:
    chosen = ["made-up-1", "made-up-2", "Bug", "Question"]
    assert labels_to_add(chosen, allowed=REPO_LABELS, current=[], limit=2) == ["Bug", "Question"]

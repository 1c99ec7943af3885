"""bot.core.triage.label_answers: one way to read a label answer, single or batched. A wrong label is dropped
and recorded, never a reason to ask again; only a structural fault costs an issue (and only that
issue) a single call."""

from __future__ import annotations

from typing import Any

import pytest

from bot.core.triage.label_answers import (
    DENIED,
    NOT_IN_REPOSITORY,
    OVER_LIMIT,
    Dropped,
    LabelAnswer,
    Structural,
    dropped_text,
    read_batch,
    read_item,
    read_labels,
)

REPOSITORY = ["bug", "docs", "Enhancement", "wontfix"]
ALLOWED = ["bug", "docs", "Enhancement"]  # the config denies wontfix
BATCH = [12, 13, 14]


def item(number: object, labels: Any = None, reason: str = "Because.") -> dict[str, Any]:
    return {"number": number, "labels": ["bug"] if labels is None else labels, "reason": reason}


def read(raw: object, numbers: list[int] = BATCH) -> Any:
    return read_batch(raw, numbers, repository=REPOSITORY, allowed=ALLOWED)


# -- label names --------------------------------------------------------------------------------


def test_names_take_the_repositorys_spelling_once_each() -> None:
    assert read_labels([" BUG", "bug", "enhancement"], repository=REPOSITORY, allowed=ALLOWED) == (
        ("bug", "Enhancement"),
        (),
    )


def test_invented_denied_and_surplus_labels_are_dropped_each_with_why() -> None:
    labels, dropped = read_labels(
        ["bug", "pwned", "WONTFIX", "docs", "Enhancement"], repository=REPOSITORY, allowed=ALLOWED, limit=2
    )
    assert labels == ("bug", "docs")
    assert dropped == (
        Dropped("pwned", NOT_IN_REPOSITORY),
        Dropped("wontfix", DENIED),
        Dropped("Enhancement", OVER_LIMIT),
    )
    assert dropped_text(dropped) == (
        "pwned (not in the repository), wontfix (denied by the config), Enhancement (over max_labels)"
    )


def test_a_name_that_is_not_text_is_dropped_not_fatal() -> None:
    labels, dropped = read_labels(["bug", {"name": "docs"}, 7], repository=REPOSITORY, allowed=ALLOWED)
    assert labels == ("bug",) and [entry.why for entry in dropped] == [NOT_IN_REPOSITORY] * 2


# -- one item -----------------------------------------------------------------------------------


def test_an_item_is_read_with_its_reason() -> None:
    answer = read_item({"labels": ["Bug", "x"], "reason": " Crash\n on start "}, repository=REPOSITORY, allowed=ALLOWED)
    assert answer == LabelAnswer(("bug",), (Dropped("x", NOT_IN_REPOSITORY),), "Crash on start")


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("bug", "not an object (got str)"),
        ({"reason": "x"}, "'labels' is not a list (got nothing)"),
        ({"labels": "bug"}, "'labels' is not a list (got str)"),
    ],
)
def test_only_a_missing_list_is_structural(raw: object, problem: str) -> None:
    assert read_item(raw, repository=REPOSITORY, allowed=ALLOWED) == Structural(problem)


def test_a_reason_of_the_wrong_kind_or_length_is_mended() -> None:
    assert read_item({"labels": [], "reason": 5}, repository=REPOSITORY, allowed=ALLOWED) == LabelAnswer()
    long = read_item({"labels": [], "reason": "x" * 900}, repository=REPOSITORY, allowed=ALLOWED)
    assert isinstance(long, LabelAnswer) and len(long.reason) == 600


# -- a batch ------------------------------------------------------------------------------------


def test_a_complete_answer_labels_every_issue() -> None:
    reading = read({"issues": [item(14, ["docs"]), item(12, ["bug", "Enhancement"]), item(13, [], "None.")]})
    assert reading.answers == {
        12: LabelAnswer(("bug", "Enhancement"), (), "Because."),
        13: LabelAnswer((), (), "None."),
        14: LabelAnswer(("docs",), (), "Because."),
    }
    assert (reading.leftovers, reading.problems) == ([], [])


def test_a_wrong_label_keeps_the_item_and_is_recorded() -> None:
    reading = read({"issues": [item(12, ["bug", "pwned", "Wontfix"]), item(13, ["DOCS"]), item(14)]})
    assert reading.leftovers == [] and reading.problems == []
    assert reading.answers[12].labels == ("bug",)
    assert reading.answers[12].dropped == (Dropped("pwned", NOT_IN_REPOSITORY), Dropped("wontfix", DENIED))
    assert reading.answers[13].labels == ("docs",)


def test_eleven_labels_keep_ten() -> None:
    many = [f"l{i}" for i in range(11)]
    reading = read_batch({"issues": [item(12, many)]}, [12], repository=many, allowed=many)
    assert len(reading.answers[12].labels) == 10 and reading.answers[12].dropped == (Dropped("l10", OVER_LIMIT),)


def test_an_issue_left_out_goes_alone_to_a_single_call() -> None:
    reading = read({"issues": [item(12), item(14)]})
    assert sorted(reading.answers) == [12, 14]
    assert (reading.leftovers, reading.problems) == ([13], ["issue #13: no answer"])


def test_a_strangers_number_is_only_a_problem_line() -> None:
    reading = read({"issues": [item(12), item(13), item(99), item(14)]})
    assert sorted(reading.answers) == BATCH and reading.leftovers == []
    assert reading.problems == ["issues[2]: issue #99 is not in this batch (ignored)"]


def test_a_stranger_in_place_of_an_issue_costs_that_issue_only() -> None:
    reading = read({"issues": [item(12), item(31), item(14)]})
    assert reading.leftovers == [13]
    assert reading.problems == ["issues[1]: issue #31 is not in this batch (ignored)", "issue #13: no answer"]


def test_labels_that_are_not_a_list_cost_their_own_issue_only() -> None:
    reading = read({"issues": [item(12), item(13, "bug"), item(14)]})
    assert sorted(reading.answers) == [12, 14]
    assert (reading.leftovers, reading.problems) == ([13], ["issue #13: 'labels' is not a list (got str)"])


def test_an_issue_answered_twice_with_other_labels_goes_to_a_single_call() -> None:
    reading = read({"issues": [item(12, ["bug"]), item(13), item(12, ["docs"]), item(14)]})
    assert sorted(reading.answers) == [13, 14]
    assert (reading.leftovers, reading.problems) == ([12], ["issue #12: answered 2 times with different labels"])


def test_an_issue_answered_twice_alike_is_merged() -> None:
    reading = read({"issues": [item(12, ["bug"]), item(13), item(12, ["BUG"], "Other words."), item(14)]})
    assert reading.leftovers == [] and reading.answers[12].labels == ("bug",)
    assert reading.problems == ["issue #12: answered 2 times alike (merged)"]


def test_extra_fields_and_a_missing_reason_are_fine() -> None:
    reading = read({"issues": [{"number": 12, "labels": ["bug"], "confidence": 0.9}], "summary": "done"}, [12])
    assert reading.answers[12] == LabelAnswer(("bug",), (), "")
    assert reading.problems == ["the answer has unexpected fields: summary (ignored)"]


@pytest.mark.parametrize(
    ("number", "accepted"), [("13", True), ("#13", True), (" 13 ", True), (True, False), (13.0, False), (None, False)]
)
def test_what_counts_as_an_issue_number(number: object, accepted: bool) -> None:
    reading = read({"issues": [item(number)]}, [13])
    assert (13 in reading.answers) is accepted
    if not accepted:
        assert reading.problems == [f"issues[0]: no usable issue number (got {number!r})", "issue #13: no answer"]


def test_an_item_that_is_not_an_object_is_skipped() -> None:
    reading = read({"issues": ["12: bug", item(13), item(14)]})
    assert reading.leftovers == [12]
    assert reading.problems == ["issues[0]: not an object (got str)", "issue #12: no answer"]


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (None, "the answer is not a JSON object (got nothing)"),
        ([item(12)], "the answer is not a JSON object (got list)"),
        ({}, "the answer has no 'issues' list (got nothing)"),
        ({"issues": {"12": item(12)}}, "the answer has no 'issues' list (got dict)"),
    ],
)
def test_an_answer_without_an_issues_list_makes_every_issue_a_leftover(raw: object, problem: str) -> None:
    reading = read(raw)
    assert (reading.answers, reading.leftovers, reading.problems) == ({}, BATCH, [problem])


def test_leftovers_keep_batch_order_and_the_batch_is_deduplicated() -> None:
    reading = read({"issues": [item(13)]}, [14, 12, 13, 14])
    assert reading.leftovers == [14, 12]
    assert reading.problems == ["issue #14: no answer", "issue #12: no answer"]

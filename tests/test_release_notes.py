"""`@app release-notes [since TAG]`: the pure rules (bot/core/commands/release_notes.py, the reply's
rendering), then the command through the real action on the sandboxes: grouped notes for several
merged pull requests with one model call at most, a fallback that never fails the command, and
nothing at all for outsiders."""

from __future__ import annotations

import re
from typing import Any

import pytest
from redis.asyncio import Redis

from bot.core.commands.release_notes import (
    MAX_PULLS,
    Entry,
    Group,
    MergedPull,
    NoteItem,
    NoteLine,
    NotesAnswer,
    SummaryRecord,
    answer_schema,
    entries_text,
    fallback_group,
    merged_since,
    parse_since,
    plan_notes,
)
from bot.core.errors import BudgetExhausted
from bot.core.outcome import OutcomeKind
from bot.core.summary.answer import Risk
from bot.core.views.comments import COMMENT_LIMIT, REPLY_MARKER, SUMMARY_MARKER, release_notes
from bot.sandbox.anthropic import AnthropicSandbox
from bot.sandbox.github import GitHubSandbox
from bot.worker.actions import commands, summarize
from bot.worker.deps import Deps
from tests.helpers import PR_REPO, command_job, merged_pull, seed_merged_pulls

WEB = "https://github.com"


def record(number: int, overview: str, risk: Risk = Risk.LOW, title: str = "") -> SummaryRecord:
    return SummaryRecord(number=number, title=title, overview=overview, changes=["A change"], risk=risk)


# -- the argument ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argument", "expected"),
    [
        ("", (None, True)),
        ("please", (None, True)),
        ("since v1.2.0", ("v1.2.0", True)),
        ("Since 2.0.0rc1.", ("2.0.0rc1", True)),
        (": since release/2026-11", ("release/2026-11", True)),
        ("since pkg@1.0,", ("pkg@1.0", True)),
        ("since", (None, False)),
        ("since `v1`", (None, False)),
        ("since ../../etc", (None, False)),
        ("since " + "v" * 101, (None, False)),
        ("sincerely yours", (None, True)),
    ],
)
def test_parse_since(argument: str, expected: tuple[str | None, bool]) -> None:
    assert parse_since(argument) == expected


# -- which pull requests --------------------------------------------------------------------------


def test_merged_since_keeps_later_merges_once_oldest_first() -> None:
    pulls = [
        MergedPull(5, "e", "2026-11-05T00:00:00Z"),
        MergedPull(3, "c", "2026-11-03T00:00:00Z"),
        MergedPull(1, "a", "2026-10-31T23:59:59Z"),  # before the release
        MergedPull(4, "d", "2026-11-01T00:00:00Z"),  # at the release's commit: in it
        MergedPull(3, "c", "2026-11-03T00:00:00Z"),
    ]
    assert [p.number for p in merged_since(pulls, "2026-11-01T00:00:00Z")] == [3, 5]


# -- grouping without the model -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "summary", "group"),
    [
        ("Add a retry to uploads", None, Group.FEATURES),
        ("feat(cli): a --json flag", None, Group.FEATURES),
        ("fix: crash on empty config", None, Group.FIXES),
        ("Handle the empty config", record(1, "Fixes a crash when the config is empty."), Group.FIXES),
        ("feat!: drop Python 3.8", None, Group.BREAKING),
        ("Refactor the loader", record(1, "Moves code around.", Risk.HIGH), Group.BREAKING),
        ("Drop support for Python 3.8", None, Group.BREAKING),
        ("Update the docs", record(1, "Rewords the guide."), Group.OTHER),
        ("Bump actions/checkout", None, Group.OTHER),
    ],
)
def test_fallback_groups_by_risk_then_words(title: str, summary: SummaryRecord | None, group: Group) -> None:
    assert fallback_group(Entry(1, title, "2026-11-02T00:00:00Z", summary)) is group


def test_plan_uses_the_answer_and_puts_its_mistakes_right() -> None:
    entries = [
        Entry(2, "Add X", "2026-11-03T00:00:00Z", record(2, "Adds X. More words.")),
        Entry(1, "Fix Y", "2026-11-02T00:00:00Z", record(1, "Fixes Y.")),
        Entry(3, "Bump Z", "2026-11-04T00:00:00Z"),  # no summary: its title
        Entry(4, "Tidy", "2026-11-05T00:00:00Z", record(4, "Tidies up.")),
    ]
    answer = NotesAnswer(
        items=[
            NoteItem(number=2, group=Group.FEATURES, line="X is new."),
            NoteItem(number=2, group=Group.OTHER, line="A second opinion, ignored."),
            NoteItem(number=3, group=Group.OTHER, line="Something the model made up about Z."),
            NoteItem(number=99, group=Group.FIXES, line="Not one of them."),
        ]
    )
    lines = plan_notes(entries, answer)
    assert lines == [
        NoteLine(1, Group.FIXES, "Fixes Y."),  # not in the answer: the fallback's group and line
        NoteLine(2, Group.FEATURES, "X is new."),
        NoteLine(3, Group.OTHER, "Bump Z"),  # the model's group, the title's words
        NoteLine(4, Group.OTHER, "Tidies up."),
    ]
    assert [line.text for line in plan_notes(entries, None)][:2] == ["Fixes Y.", "Adds X."]


def test_the_schema_names_only_the_pull_requests() -> None:
    schema = answer_schema([4, 7])
    item = schema["$defs"]["NoteItem"]  # type: ignore[index]
    assert item["properties"]["number"]["enum"] == [4, 7]
    assert item["properties"]["group"] == {
        "$ref": "#/$defs/Group",
        "description": item["properties"]["group"]["description"],
    }


def test_what_the_model_reads_is_bounded() -> None:
    huge = SummaryRecord(number=1, overview="o" * 5000, changes=["c" * 500] * 5, risk_notes="r" * 900, title="t" * 900)
    text = entries_text([Entry(1, "t" * 900, "2026-11-02T00:00:00Z", huge)] * MAX_PULLS)
    assert len(text) <= MAX_PULLS * 900


# -- the reply ------------------------------------------------------------------------------------


def test_the_reply_groups_lines_and_links_each_pull_request() -> None:
    lines = [
        NoteLine(12, Group.FEATURES, "Adds a retry"),
        NoteLine(13, Group.BREAKING, "Drops Python 3.8"),
        NoteLine(14, Group.FEATURES, "Thanks @alice <b>!</b>"),
    ]
    text = release_notes("o/r", lines, since="v1.2.0", since_date="2026-11-01T10:00:00Z", web_root=WEB, model="m")
    assert text.splitlines()[:3] == [
        "### Release notes since `v1.2.0`",
        "",
        "3 pull requests merged since `v1.2.0` (2026-11-01), oldest first.",
    ]
    assert text.index("**Breaking or risky changes**") < text.index("**Features**")
    assert "- Adds a retry ([#12](https://github.com/o/r/pull/12))" in text
    assert "- Thanks @\u2060alice &lt;b&gt;!&lt;/b&gt; ([#14](https://github.com/o/r/pull/14))" in text
    assert "**Fixes**" not in text and "grouped and phrased by `m`" in text


def test_the_reply_links_on_an_enterprise_server() -> None:
    text = release_notes(
        "o/r", [NoteLine(3, Group.OTHER, "x")], since="v1", since_date="2026", web_root="https://ghe.io"
    )
    assert "([#3](https://ghe.io/o/r/pull/3))" in text and "grouped by their risk and words" in text


def test_a_huge_reply_stays_within_the_comment_limit_and_counts_the_rest() -> None:
    lines = [NoteLine(i, Group.OTHER, "word " * 100) for i in range(1, 400)]
    text = release_notes("o/r", lines, since="v1", since_date="2026-11-01", web_root=WEB, more=50)
    assert len(text) < COMMENT_LIMIT - 500
    [left] = re.findall(r"…and (\d+) more pull requests, not listed\.", text)
    assert int(left) + text.count("- word") == 449


# -- the command, through the action --------------------------------------------------------------

RELEASED = "2026-11-01T12:00:00Z"


def seed_history(github: GitHubSandbox) -> None:
    """Four pull requests merged since release v1.0.0, and three that are not in its notes."""
    seed_merged_pulls(
        github,
        [
            merged_pull(10, "Old change", "2026-10-20T09:00:00Z"),  # in v1.0.0
            merged_pull(11, "Add a retry to uploads", "2026-11-02T09:00:00Z"),
            merged_pull(12, "Drop Python 3.8", "2026-11-04T09:00:00Z"),
            merged_pull(13, "Fix the crash on empty configs", "2026-11-03T09:00:00Z"),
            merged_pull(14, "Bump actions/checkout to v5", "2026-11-05T09:00:00Z"),  # never summarised
            merged_pull(15, "Experiment", "2026-11-06T09:00:00Z", base="experiments"),  # not the default branch
        ],
    )
    closed = merged_pull(16, "Abandoned", "2026-11-06T10:00:00Z") | {"merged_at": None, "merged": False}
    github.add_pull(PR_REPO, closed)
    github.add_release(PR_REPO, "v0.9.0", created_at="2026-09-01T00:00:00Z")
    github.add_release(PR_REPO, "v1.0.0", created_at=RELEASED)
    github.add_release(PR_REPO, "v1.1.0-rc1", created_at="2026-11-04T12:00:00Z", prerelease=True)
    github.set_permission(PR_REPO, "mia", "maintain")
    github.set_permission(PR_REPO, "reader", "read")


async def summarise_some(deps: Deps, github: GitHubSandbox, model: AnthropicSandbox) -> None:
    """hookwise summarised #11-#13 when they were merged (their records are kept)."""
    overviews = {
        11: ("Retries uploads that failed with a 502.", "low"),
        12: ("Removes support for Python 3.8.", "high"),
        13: ("Fixes a crash when the config file is empty.", "medium"),
    }
    repo = await deps.github.repo(461842, PR_REPO)
    for number, (overview, risk) in overviews.items():
        model.responder = lambda request, o=overview, r=risk: {
            "overview": o,
            "changes": ["A change"],
            "why": "-",
            "risk": r,
        }
        await summarize.summarize(repo, number, deps=deps, delivery_id=f"merge-{number}", force=False)
    model.requests.clear()


def grouping_model(request: dict[str, Any]) -> dict[str, Any]:
    """A model that groups by the words it is shown and phrases each line itself."""
    text = request["messages"][0]["content"]
    items = []
    for number, block in re.findall(r"^#(\d+) \(merged [^)]*\): (.*)$", text, re.M):
        group = (
            "breaking"
            if "Python" in block
            else "fixes"
            if "Fix" in block
            else "features"
            if "Add" in block
            else "other"
        )
        items.append({"number": int(number), "group": group, "line": f"Model line for #{number}."})
    return {"items": items}


async def run_command(deps: Deps, github: GitHubSandbox, body: str, *, login: str = "mia", name: str = "c") -> Any:
    comment = github.add_comment_as(PR_REPO, 2, login, body)
    repo = await deps.github.repo(461842, PR_REPO)
    job = command_job(name, body, login=login, comment_id=comment["id"])
    outcome = await commands.on_comment(job, repo, deps, job_try=1)
    return outcome, comment, job


def reply_of(github: GitHubSandbox) -> str:
    [reply] = [c["body"] for c in github.comments(PR_REPO, 2) if c["body"].startswith(REPLY_MARKER)]
    return str(reply)


async def test_release_notes_are_grouped_from_the_summaries_with_one_model_call(
    deps: Deps, github: GitHubSandbox, model: AnthropicSandbox
) -> None:
    seed_history(github)
    await summarise_some(deps, github, model)
    model.responder = grouping_model
    outcome, comment, _ = await run_command(deps, github, "@hookwise release-notes")

    assert len(model.requests) == 1
    [request] = model.requests
    assert request["tool_choice"] == {"type": "tool", "name": "record_release_notes"}
    assert "Removes support for Python 3.8." in request["messages"][0]["content"]  # the summaries are read
    text = reply_of(github)
    assert "### Release notes since `v1.0.0`" in text and "4 pull requests merged since `v1.0.0` (2026-11-01)" in text
    link = "https://github.com/C-Saunders/flynn_env_test/pull/"
    assert f"**Breaking or risky changes**\n- Model line for #12. ([#12]({link}12))" in text
    assert f"**Features**\n- Model line for #11. ([#11]({link}11))" in text
    assert f"**Fixes**\n- Model line for #13. ([#13]({link}13))" in text
    assert f"**Other**\n- Bump actions/checkout to v5 ([#14]({link}14))" in text  # no summary: its title
    for absent in ("#10]", "#15]", "#16]"):
        assert absent not in text
    assert github.reactions(PR_REPO, comment["id"]) == ["eyes", "rocket"]
    assert outcome.kind is OutcomeKind.DONE and [u.calls for u in outcome.usage] == [1]


async def test_an_invalid_answer_falls_back_to_the_summaries_after_one_call(
    deps: Deps, github: GitHubSandbox, model: AnthropicSandbox
) -> None:
    seed_history(github)
    await summarise_some(deps, github, model)
    model.responder = None
    model.fail_next("garbage-tool")
    outcome, comment, _ = await run_command(deps, github, "@hookwise release-notes since v1.0.0")
    assert len(model.requests) == 1  # no repair turn
    text = reply_of(github)
    assert "**Breaking or risky changes**\n- Removes support for Python 3.8. ([#12]" in text  # high risk
    assert "**Features**\n- Retries uploads that failed with a 502. ([#11]" in text  # "Add" in its title
    assert "**Fixes**\n- Fixes a crash when the config file is empty. ([#13]" in text
    assert "grouped by their risk and words" in text
    assert github.reactions(PR_REPO, comment["id"]) == ["eyes", "rocket"]
    assert outcome.usage and outcome.usage[0].calls == 1  # what the unusable answer cost is counted


async def test_a_summary_without_a_record_is_read_back_from_its_comment(
    deps: Deps, github: GitHubSandbox, model: AnthropicSandbox, redis: Redis
) -> None:
    seed_history(github)
    model.responder = lambda request: {
        "overview": "Bumps the checkout action.",
        "changes": ["v5"],
        "why": "-",
        "risk": "low",
    }
    repo = await deps.github.repo(461842, PR_REPO)
    await summarize.summarize(repo, 14, deps=deps, delivery_id="merge-14", force=False)
    await redis.delete(*[key async for key in redis.scan_iter("hookwise:summary-record:*")])  # as before records
    model.responder, model.requests[:] = None, []
    model.always_fail(400)  # and the model refuses: the command still answers
    await run_command(deps, github, "@hookwise release-notes")
    text = reply_of(github)
    assert "- Bumps the checkout action. ([#14]" in text
    assert "- Add a retry to uploads ([#11]" in text  # no summary at all: its title
    assert len(model.requests) == 1


async def test_since_a_tag_without_a_release_starts_at_its_commit(
    deps: Deps, github: GitHubSandbox, model: AnthropicSandbox
) -> None:
    seed_history(github)
    github.add_tag(PR_REPO, "v1.0.1", sha="a" * 40, date="2026-11-03T12:00:00Z")
    model.responder = grouping_model
    await run_command(deps, github, "@hookwise release-notes since v1.0.1")
    text = reply_of(github)
    assert "2 pull requests merged since `v1.0.1` (2026-11-03)" in text
    assert "[#12]" in text and "[#14]" in text and "[#11]" not in text and "[#13]" not in text


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ("@hookwise release-notes since v9.9.9", "There is no release or tag `v9.9.9` in this repository."),
        (
            "@hookwise release-notes since",
            "`release-notes` takes an optional tag: `@hookwise release-notes since v1.2.0`.",
        ),
    ],
)
async def test_a_tag_that_is_not_there_is_said_without_a_model_call(
    deps: Deps, github: GitHubSandbox, model: AnthropicSandbox, body: str, says: str
) -> None:
    seed_history(github)
    _, comment, _ = await run_command(deps, github, body)
    assert says in reply_of(github)
    assert model.requests == [] and github.reactions(PR_REPO, comment["id"]) == ["eyes", "rocket"]


async def test_a_repository_without_a_release_is_told_to_name_a_tag(
    deps: Deps, github: GitHubSandbox, model: AnthropicSandbox
) -> None:
    seed_merged_pulls(github, [merged_pull(11, "Add a retry", "2026-11-02T09:00:00Z")])
    github.set_permission(PR_REPO, "mia", "write")
    await run_command(deps, github, "@hookwise release-notes")
    assert "has no release yet" in reply_of(github) and "`@hookwise release-notes since v1.0.0`" in reply_of(github)
    assert model.requests == []


async def test_release_notes_are_refused_to_outsiders(
    deps: Deps, github: GitHubSandbox, model: AnthropicSandbox
) -> None:
    seed_history(github)
    outcome, comment, _ = await run_command(deps, github, "@hookwise release-notes", login="reader")
    assert outcome == outcome.skipped("reader may not run commands (read)")
    assert github.reactions(PR_REPO, comment["id"]) == [] and model.requests == []
    assert [c for c in github.comments(PR_REPO, 2) if c["body"].startswith(REPLY_MARKER)] == []


async def test_a_retry_edits_the_reply_and_reuses_the_answer(
    deps: Deps, github: GitHubSandbox, model: AnthropicSandbox
) -> None:
    seed_history(github)
    model.responder = grouping_model
    *_, job = await run_command(deps, github, "@hookwise release-notes")
    repo = await deps.github.repo(461842, PR_REPO)
    await commands.on_comment(job, repo, deps, job_try=2)
    assert len(model.requests) == 1
    assert len([c for c in github.comments(PR_REPO, 2) if c["body"].startswith(REPLY_MARKER)]) == 1
    again, _, _ = await run_command(deps, github, "@hookwise release-notes", name="c-2")  # within the minute
    assert "ran on this pull request less than a minute ago" in str(github.comments(PR_REPO, 2)[-1]["body"])
    assert len(model.requests) == 1 and again.usage == ()


async def test_help_lists_release_notes(deps: Deps, github: GitHubSandbox) -> None:
    seed_history(github)
    await run_command(deps, github, "@hookwise help")
    assert "- `@hookwise release-notes [since TAG]`: release notes from the summaries" in reply_of(github)
    assert SUMMARY_MARKER not in reply_of(github)


async def test_release_notes_are_filed_in_costs_under_their_own_task(
    deps: Deps, github: GitHubSandbox, model: AnthropicSandbox
) -> None:
    seed_history(github)
    await summarise_some(deps, github, model)
    model.responder = grouping_model
    before = deps.spending.clock() - 3600
    await run_command(deps, github, "@hookwise release-notes")
    rows = [row for row in await deps.spending.rows(before) if row.task == "release-notes"]
    assert [(row.installation_id, row.repository, row.calls) for row in rows] == [(461842, PR_REPO, 1)]
    assert rows[0].output > 0


async def test_release_notes_are_stopped_by_the_budget_before_anything_is_posted(
    deps: Deps, github: GitHubSandbox, model: AnthropicSandbox, redis: Redis
) -> None:
    seed_history(github)
    await summarise_some(deps, github, model)
    await redis.set(f"hookwise:budget:461842:{deps.spending.today()}", deps.spending.tokens_per_day)
    with pytest.raises(BudgetExhausted):
        await run_command(deps, github, "@hookwise release-notes")
    assert model.requests == []
    assert not [c for c in github.comments(PR_REPO, 2) if c["body"].startswith(REPLY_MARKER)]

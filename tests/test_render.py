"""bot.core.views.comments: model text never pings, never injects HTML or a marker, never exceeds the limit."""

from __future__ import annotations

import re

import pytest

from bot.core.summary.answer import PullSummary, Risk
from bot.core.summary.diff_budget import PullFile, fit_diff
from bot.core.views.comments import (
    COMMENT_LIMIT,
    MARKERS,
    REPLY_MARKER,
    SUMMARY_MARKER,
    TRIAGE_MARKER,
    TRUNCATED_NOTE,
    fit,
    has_marker,
    neutralise,
    read_summary_comment,
    summary_comment,
    triage_comment,
)

# -- a small oracle: which `@mentions` would GitHub still see? -------------------------------------
# GitHub never notifies for a mention inside a code span. Code spans (CommonMark) open with a run of
# n backticks and close at the next run of exactly n backticks within the same paragraph; an
# unmatched run is literal text. A mention is live when `@login` is outside every code span and not
# glued to a preceding letter or digit (conservative: `_`, `*` and a literal backtick do not protect).
_BACKTICKS = re.compile(r"`+")
_LIVE_MENTION = re.compile(r"(?<![A-Za-z0-9])@[A-Za-z0-9][A-Za-z0-9-]*(?:/[A-Za-z0-9_.-]+)?")


def _outside_code_spans(markdown: str) -> str:
    """The text of `markdown` with every code span blanked out."""
    kept: list[str] = []
    for block in re.split(r"\n[ \t]*\n", markdown):
        position, out = 0, []
        runs = list(_BACKTICKS.finditer(block))
        index = 0
        while index < len(runs):
            opener = runs[index]
            closer = next((later for later in runs[index + 1 :] if len(later.group()) == len(opener.group())), None)
            if closer is None:
                index += 1
                continue
            out.append(block[position : opener.start()])
            position = closer.end()
            index = runs.index(closer) + 1
        out.append(block[position:])
        kept.append(" ".join(out))
    return "\n\n".join(kept)


def live_mentions(markdown: str) -> list[str]:
    return _LIVE_MENTION.findall(_outside_code_spans(markdown))


def test_oracle_itself() -> None:
    assert live_mentions("hi @alice") == ["@alice"]
    assert live_mentions("hi `@alice`") == []
    assert live_mentions("`a` @alice `b`") == ["@alice"]
    assert live_mentions("``x ` @alice``") == []
    assert live_mentions("`open\n\n@alice`") == ["@alice"]
    assert live_mentions("mail a@b.com") == []


# -- neutralise ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "thanks @alice",
        "@alice at the start",
        "cc @octo-org/core-team for review",
        "(@alice) and [@bob] and **@carol** and @dave, @erin.",
        "@alice/@bob",
        "multi\nline @alice\n@bob",
        "@a-b-c-d-e-f-g-h-i-j-k-l-m-n-o-p-q-r-s-t-u-v-w-x-y-z",
        "see `git blame` then ask @alice",
        "@@alice",
        "<b>@alice</b>",
    ],
)
def test_neutralise_leaves_no_live_mention(text: str) -> None:
    out = neutralise(text)
    assert live_mentions(out) == [], out


def test_mentions_get_an_invisible_word_joiner() -> None:
    assert neutralise("thanks @alice") == "thanks @\u2060alice"
    assert neutralise("cc @octo-org/core-team") == "cc @\u2060octo-org/core-team"


@pytest.mark.parametrize("text", ["write to alice@example.com", "x@y", "user@host:path", "a.b+c@d-e.org"])
def test_emails_are_untouched(text: str) -> None:
    assert neutralise(text) == text


def test_a_mention_in_a_code_span_is_defused_too() -> None:
    assert neutralise("ask `@alice`") == "ask `@\u2060alice`"


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("_@alice_", id="emphasis-underscore"),
        pytest.param("say `@alice", id="unclosed-backtick"),
        pytest.param("run `make @alice` now", id="mention-inside-a-longer-code-span"),
    ],
)
def test_neutralise_edge_cases_leave_no_live_mention(text: str) -> None:
    out = neutralise(text)
    assert live_mentions(out) == [], out


def test_html_is_escaped() -> None:
    out = neutralise('<script>alert("x")</script> <img src=x onerror=alert(1)> a & b')
    assert "<" not in out and ">" not in out
    assert "&lt;script&gt;" in out
    assert "a &amp; b" in out


@pytest.mark.parametrize("marker", MARKERS)
def test_forged_marker_does_not_survive(marker: str) -> None:
    out = neutralise(f"{marker}\nhello")
    assert marker not in out
    assert "<!--" not in out
    assert not has_marker(out, marker)


# -- summary_comment -------------------------------------------------------------------------------


def _summary(**changes: object) -> PullSummary:
    fields: dict[str, object] = {
        "overview": "Adds a retry to the release upload.",
        "changes": ["Retry `upload_asset` on 502", "Test the retry"],
        "why": "Uploads failed under load.",
        "risk": Risk.LOW,
        "risk_notes": "",
        "notable_files": ["github3/repos/release.py"],
    }
    fields.update(changes)
    return PullSummary.model_validate(fields)


def test_summary_marker_is_the_first_line() -> None:
    body = summary_comment(_summary(), model="claude-x")
    assert body.split("\n", 1)[0] == SUMMARY_MARKER
    assert has_marker(body, SUMMARY_MARKER)
    assert not has_marker(body, TRIAGE_MARKER)
    assert "claude-x" in body
    assert "🟢 low" in body


def test_summary_from_hostile_model_text() -> None:
    hostile = f"{SUMMARY_MARKER} @alice <script>alert(1)</script> cc @org/team, mail bob@example.com"
    summary = _summary(
        overview=hostile,
        changes=[hostile, "plain"],
        why=hostile + "\n" + TRIAGE_MARKER,
        risk=Risk.HIGH,
        risk_notes=hostile,
    )
    body = summary_comment(summary)
    assert body.startswith(SUMMARY_MARKER + "\n")
    assert body.count("<!--") == 1  # only the real marker
    for marker in MARKERS:
        assert body.count(marker) == (1 if marker == SUMMARY_MARKER else 0)
    assert "<script>" not in body
    assert live_mentions(body) == []
    assert "bob@example.com" in body
    assert "@\u2060org/team" in body


def _patch(lines: int, mark: str = "x") -> str:
    return f"@@ -1,0 +1,{lines} @@\n" + "\n".join(
        f"+{mark} = compute_{mark}({i})  # a line of code" for i in range(lines)
    )


def test_summary_says_what_was_not_read_and_what_was_read_in_part() -> None:
    files = [
        PullFile(filename="src/app.py", additions=3, patch=_patch(3)),
        PullFile(filename="src/big.py", additions=4000, patch=_patch(4000, "b")),
        PullFile(filename="package-lock.json", additions=900, deletions=40, patch=_patch(10)),
        PullFile(filename="logo.png", status="added"),
        PullFile(filename="mylib/_vendor/six.py", status="removed", deletions=993, patch="@@ -1 +0,0 @@\n-x"),
    ]
    diff = fit_diff(files, 3_000)
    body = summary_comment(_summary(), diff)
    assert f"<details><summary>{diff.coverage(names=False)}</summary>" in body
    assert diff.coverage(names=False).startswith("read 2 of 5 files (")
    assert "`package-lock.json` (not read: lockfile, +900 \u221240)" in body
    assert "`logo.png` (not read: binary or too large for GitHub to show, +0 \u22120)" in body
    assert "`mylib/_vendor/six.py` (not read: deleted, +0 \u2212993)" in body
    [part] = diff.in_part
    expected = f"`src/big.py` (read in part: 1 of 1 hunks, {part.lines_shown} of 4000 changed lines)"
    assert expected in body and "`src/app.py` (" not in body  # read whole: not listed


def test_a_summary_of_everything_read_has_no_details() -> None:
    diff = fit_diff([PullFile(filename="src/app.py", additions=3, patch=_patch(3))])
    assert "<details>" not in summary_comment(_summary(notable_files=["src/app.py"]), diff)


def test_paths_outside_the_pull_request_are_not_named() -> None:
    """A merged PR whose model answer names a file not in the PR gets a summary without it."""
    diff = fit_diff(
        [
            PullFile(filename="github3/repos/release.py", additions=2, patch=_patch(2)),
            PullFile(filename="tests/unit/test_repos_release.py", additions=9, patch=_patch(9)),
        ]
    )
    summary = _summary(
        overview="Retries uploads in `release.py`; see `docs/uploads.md`.",
        changes=["Retry `upload_asset` in `release.py`", "Document it in `docs/uploads.md`", "Test the retry"],
        risk_notes="`github3/session.py` may need the same.",
        notable_files=["github3/repos/release.py", "github3/session.py", "test_repos_release.py"],
    )
    body = summary_comment(summary, diff)
    assert "docs/uploads.md" not in body.split("**Why**")[0].split("**What changed**")[1]  # its bullet is gone
    assert "- Retry `upload_asset` in `release.py`" in body and "- Test the retry" in body
    assert "`docs/uploads.md`" not in body and "see docs/uploads.md." in body  # plain words, not a path
    assert "`github3/session.py`" not in body
    look = next(line for line in body.splitlines() if line.startswith("**Look first at:**"))
    assert look == "**Look first at:** `github3/repos/release.py`, `tests/unit/test_repos_release.py`"


def test_a_notable_file_that_was_not_read_says_so() -> None:
    files = [PullFile(filename="src/app.py", additions=1, patch=_patch(1)), PullFile(filename="certs/ca.pem")]
    body = summary_comment(_summary(notable_files=["certs/ca.pem", "src/app.py"]), fit_diff(files))
    assert "**Look first at:** `certs/ca.pem` (not read), `src/app.py`" in body


def test_closing_links_are_listed() -> None:
    links = ["[#12](https://github.com/o/r/issues/12)", "[acme/lib#3](https://github.com/acme/lib/issues/3)"]
    body = summary_comment(_summary(), closes=links)
    assert (
        "**Closes:** [#12](https://github.com/o/r/issues/12), [acme/lib#3](https://github.com/acme/lib/issues/3)"
        in body
    )
    assert "**Closes:**" not in summary_comment(_summary())


def test_giant_summary_stays_under_the_limit() -> None:
    summary = _summary(
        overview="o" * 1200,
        changes=[f"change {i} " + "word " * 4000 for i in range(12)],
        why="w" * 1500,
        risk_notes="r" * 1200,
        notable_files=[f"{'d/' * 200}file{i}.py" for i in range(10)],
    )
    diff = fit_diff([PullFile(filename=f"f{i}.bin", additions=1) for i in range(3000)])
    body = summary_comment(summary, diff)
    assert len(body) <= COMMENT_LIMIT
    assert body.startswith(SUMMARY_MARKER)
    assert body.endswith(TRUNCATED_NOTE)


def test_giant_summary_of_escapable_text_stays_under_the_limit() -> None:
    """Escaping grows the text (`<` → `&lt;`): the limit holds after escaping."""
    summary = _summary(changes=["<" * 20_000 for _ in range(12)])
    body = summary_comment(summary)
    assert len(body) <= COMMENT_LIMIT
    assert "<<" not in body


def test_shortening_never_revives_a_mention() -> None:
    probe = summary_comment(_summary(changes=["PROBE"]))
    start = probe.index("PROBE")  # where the first bullet's text begins
    cut = COMMENT_LIMIT - len(TRUNCATED_NOTE)
    filler = cut - start - len(" `@alice")
    body = summary_comment(_summary(changes=["x" * filler + " @alice " + "y " * 40_000]))
    assert len(body) <= COMMENT_LIMIT
    assert live_mentions(body) == []


def test_notable_file_names_cannot_break_out() -> None:
    hostile = "src/app.py\n\n@alice <img src=x onerror=alert(1)>"
    diff = fit_diff([PullFile(filename=hostile, additions=1, patch=_patch(1))])
    body = summary_comment(_summary(notable_files=[hostile]), diff)
    assert "**Look first at:** `src/app.py @\u2060alice img src=x onerror=alert(1)`" in body  # kept: a PR path
    assert live_mentions(body) == []
    assert "<img" not in body


def test_a_summary_comment_reads_back_as_its_record() -> None:
    """Release notes read back summaries posted before records were kept."""
    summary = _summary(
        overview="Retries <uploads> for @alice & co.", changes=["Retry `upload_asset`", "Test it"], risk=Risk.HIGH
    )
    body = summary_comment(summary, model="claude-x")
    record = read_summary_comment(body, number=7, title="Retry uploads", merged_at="2026-11-30T12:00:00Z", comment_id=9)
    assert record is not None
    assert (record.number, record.title, record.risk, record.comment_id) == (7, "Retry uploads", Risk.HIGH, 9)
    assert record.overview == "Retries <uploads> for @alice & co."  # as written; made safe again where shown
    assert record.changes == ["Retry `upload_asset`", "Test it"]
    assert read_summary_comment("a human's comment", number=7, title="", merged_at=None, comment_id=1) is None


# -- triage_comment --------------------------------------------------------------------------------


def test_triage_comment() -> None:
    body = triage_comment(["Bug", "help wanted"], f"{TRIAGE_MARKER} ping @alice <b>now</b>")
    assert body.split("\n", 1)[0] == TRIAGE_MARKER
    assert body.count("<!--") == 1
    assert "`Bug`, `help wanted`" in body
    assert live_mentions(body) == []
    assert "<b>" not in body


def test_triage_comment_without_labels() -> None:
    assert "labels: none" in triage_comment([], "Nothing applies.")


def test_giant_triage_comment_is_shortened() -> None:
    body = triage_comment(["Bug"], "@alice " * 20_000)
    assert len(body) <= COMMENT_LIMIT
    assert body.endswith(TRUNCATED_NOTE)
    assert has_marker(body, TRIAGE_MARKER)


# -- fit -------------------------------------------------------------------------------------------


def test_fit_leaves_short_text_alone() -> None:
    assert fit("hello") == "hello"
    exact = "x" * COMMENT_LIMIT
    assert fit(exact) == exact


@pytest.mark.parametrize("length", [COMMENT_LIMIT + 1, COMMENT_LIMIT * 3, 10 * COMMENT_LIMIT])
def test_fit_shortens_with_a_note(length: int) -> None:
    body = SUMMARY_MARKER + "\n" + "x" * length
    out = fit(body)
    assert len(out) <= COMMENT_LIMIT
    assert out.endswith(TRUNCATED_NOTE)
    assert out.startswith(SUMMARY_MARKER)


def test_fit_with_a_smaller_limit() -> None:
    out = fit("word " * 100, limit=200)
    assert len(out) <= 200
    assert out.endswith(TRUNCATED_NOTE)


# -- has_marker ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "marker", "expected"),
    [
        (f"{SUMMARY_MARKER}\nbody", SUMMARY_MARKER, True),
        (f"{SUMMARY_MARKER}\r\nbody", SUMMARY_MARKER, True),
        (f"\n  {REPLY_MARKER}  \nbody", REPLY_MARKER, True),
        (SUMMARY_MARKER, SUMMARY_MARKER, True),
        (f"{SUMMARY_MARKER}\nbody", TRIAGE_MARKER, False),
        (f"text\n{SUMMARY_MARKER}", SUMMARY_MARKER, False),
        (f"quote: {SUMMARY_MARKER}", SUMMARY_MARKER, False),
        ("", SUMMARY_MARKER, False),
        (None, SUMMARY_MARKER, False),
    ],
)
def test_has_marker(body: str | None, marker: str, expected: bool) -> None:
    assert has_marker(body, marker) is expected


def test_a_not_read_file_name_cannot_inject_html_or_mentions() -> None:
    hostile = "dist/a: <img src=x onerror=alert(1)> @acme/security.js"
    body = summary_comment(_summary(), fit_diff([PullFile(filename=hostile, additions=3, patch=_patch(3))]))
    assert "<img" not in body
    assert live_mentions(body) == []
    assert "(not read: generated or minified, +3 \u22120)" in body

"""bot.core.summary.grounding: only paths of the PR survive; GitHub's closing keywords become links."""

from __future__ import annotations

import pytest

from bot.core.summary.grounding import (
    IssueReference,
    closing_links,
    closing_references,
    ground_bullets,
    grounded_paths,
    is_grounded,
    is_path_like,
    ungrounded_paths,
    unquote_ungrounded,
)

PR = frozenset(
    {
        "bot/core/budget.py",
        "bot/core/render.py",
        "bot/__init__.py",
        "tests/__init__.py",
        "tests/fixtures/diffs/README.md",
        "docs/budget.md",
        "Makefile",
        "src/pip/_vendor/vendor.txt",
    }
)

# -- notable_files --------------------------------------------------------------------------------


def test_grounded_paths_keep_pr_files_as_full_paths_in_order() -> None:
    named = [
        "render.py",  # an unambiguous suffix
        "nope/missing.py",  # not in the PR
        "./bot/core/budget.py",  # exact, with a ./
        "__init__.py",  # a suffix of two PR files: ambiguous, dropped
        "core/render.py",  # the same file again
        "b/docs/budget.md",  # git's diff prefix
        "`Makefile`",  # backticked by the model
        "udget.py",  # not at a / boundary
        "bot/core/budget.py:12",  # with a line number
    ]
    assert grounded_paths(named, PR) == ["bot/core/render.py", "bot/core/budget.py", "docs/budget.md", "Makefile"]


def test_grounded_paths_of_nothing() -> None:
    assert grounded_paths([], PR) == []
    assert grounded_paths(["a.py"], frozenset()) == []


# -- what is a path ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "token",
    [
        "bot/core/budget.py",
        "render.py",
        "docs/setup.md",
        "Makefile",
        "pyproject.toml",
        ".gitignore",
        "bot/core/",
        "tests/fixtures/diffs",
        "a.py:12",
        "src/x.ts#L3-L9",
        "Dockerfile",
    ],
)
def test_path_like(token: str) -> None:
    assert is_path_like(token)


@pytest.mark.parametrize(
    "token",
    [
        "parse()",
        "os.path",
        "json.loads",
        "self.config",
        "text/html",
        "origin/main",
        "--dry-run",
        "https://example.com/a.py",
        "*.py",
        "git commit -m",
        "Settings.diff_budget_tokens",
        "a/b",
        "x == y",
        "",
    ],
)
def test_not_path_like(token: str) -> None:
    assert not is_path_like(token)


@pytest.mark.parametrize(
    ("token", "grounded"),
    [
        ("bot/core/budget.py", True),
        ("budget.py", True),  # a suffix of a PR path
        ("__init__.py", True),  # a suffix of several: still a file of the PR
        ("bot/core/", True),  # a directory holding PR files
        ("fixtures/diffs/", True),
        ("tests/fixtures/diffs", True),
        ("bot/core/missing.py", False),
        ("bot/adapters/", False),
        ("other/deep/dir", False),
        ("Makefile", True),
        ("Procfile", False),
    ],
)
def test_grounded(token: str, grounded: bool) -> None:
    assert is_grounded(token, PR) is grounded


# -- bullets ----------------------------------------------------------------------------------------


def test_a_bullet_naming_a_file_outside_the_pr_is_dropped() -> None:
    bullets = [
        "Cuts the diff in `bot/core/budget.py` by rank",
        "Adds `bot/core/tokens.py` for token estimates",  # not a file of the PR
        "Calls `parse()` once per file and uses `os.path`",  # identifiers, not paths
        "Documents the rules in `docs/budget.md` and `render.py`",
        "Moves helpers to `bot/adapters/`",  # a directory with no PR file
    ]
    assert ground_bullets(bullets, PR) == [bullets[0], bullets[2], bullets[3]]
    assert ungrounded_paths(bullets[1], PR) == ["bot/core/tokens.py"]


def test_when_every_bullet_is_ungrounded_they_stay_with_plain_words() -> None:
    bullets = ["Adds `bot/core/tokens.py`", "Rewrites `lib/other.py` and `budget.py`"]
    assert ground_bullets(bullets, PR) == ["Adds bot/core/tokens.py", "Rewrites lib/other.py and `budget.py`"]


def test_unquote_leaves_grounded_paths_and_code_alone() -> None:
    text = "See `budget.py`, `missing/x.py` and `len()`."
    assert unquote_ungrounded(text, PR) == "See `budget.py`, missing/x.py and `len()`."
    assert ground_bullets([], PR) == []


# -- closing keywords -------------------------------------------------------------------------------

REPO = "octo-org/octo-repo"


def _refs(text: str, web_root: str = "https://github.com") -> list[tuple[str, str, int]]:
    return [(r.owner, r.repo, r.number) for r in closing_references(text, REPO, web_root=web_root)]


@pytest.mark.parametrize(
    "keyword", ["close", "closes", "closed", "fix", "fixes", "fixed", "resolve", "resolves", "resolved"]
)
def test_every_keyword_any_case_with_or_without_colon(keyword: str) -> None:
    for text in (f"{keyword} #10", f"{keyword.upper()} #10", f"{keyword.title()}: #10", f"{keyword.upper()}: #10"):
        assert _refs(text) == [("octo-org", "octo-repo", 10)], text


def test_the_forms_of_githubs_docs() -> None:
    # The examples of docs.github.com, "Linking a pull request to an issue using a keyword".
    assert _refs("Closes #10") == [("octo-org", "octo-repo", 10)]
    assert _refs("Fixes octo-org/octo-repo#100") == [("octo-org", "octo-repo", 100)]
    assert _refs("Resolves #10, resolves #123, resolves octo-org/octo-repo#100") == [
        ("octo-org", "octo-repo", 10),
        ("octo-org", "octo-repo", 123),
        ("octo-org", "octo-repo", 100),
    ]


def test_each_issue_needs_its_keyword() -> None:
    assert _refs("Fixes #1, #2 and #3") == [("octo-org", "octo-repo", 1)]


def test_other_repositories_and_urls() -> None:
    text = (
        "closes psf/requests#6000\n"
        "Fixes https://github.com/pypa/pip/issues/12703.\n"
        "Resolves: https://github.com/octo-org/octo-repo/issues/7\n"
        "fixes https://github.com/pypa/pip/pull/5 (a pull request URL: not an issue)\n"
        "fixes https://gitlab.com/a/b/issues/4 (another host)"
    )
    assert _refs(text) == [("psf", "requests", 6000), ("pypa", "pip", 12703), ("octo-org", "octo-repo", 7)]


def test_an_enterprise_web_root() -> None:
    text = "Fixes https://ghe.example.com/team/app/issues/42 and fixes https://github.com/team/app/issues/43"
    assert _refs(text, web_root="https://ghe.example.com/") == [("team", "app", 42)]
    (ref,) = closing_references("fixes #8", "team/app", web_root="https://ghe.example.com")
    assert closing_links([ref], "team/app", web_root="https://ghe.example.com") == [
        "[#8](https://ghe.example.com/team/app/issues/8)"
    ]


def test_deduplicated_in_order() -> None:
    text = "Fixes #3. Closes octo-org/octo-repo#3. fixes OCTO-ORG/Octo-Repo#3. Resolves #2. fixes #3"
    assert _refs(text) == [("octo-org", "octo-repo", 3), ("octo-org", "octo-repo", 2)]


@pytest.mark.parametrize(
    "text",
    [
        "prefixes #5",  # a keyword inside a word
        "unfixed #6",
        "fixes#7",  # no space
        "fixes issue #8",  # a word between
        "See #9",
        "fixes #0",
        "fixes #12abc",
        "Fixes `#10` in code",
        "<!-- Fixes #11 in the PR template -->",
        "```\nfixes #12\n```",
        "  ~~~\n  fixes #13\n  ~~~",
        "fixes-#14",
    ],
)
def test_not_closing_references(text: str) -> None:
    assert _refs(text) == []


def test_text_after_a_code_block_is_read() -> None:
    assert _refs("```\nfixes #1\n```\nFixes #2 and `fixes #3` then closes #4") == [
        ("octo-org", "octo-repo", 2),
        ("octo-org", "octo-repo", 4),
    ]


def test_bounded() -> None:
    text = " ".join(f"fixes #{n}" for n in range(1, 100))
    assert len(closing_references(text, REPO)) == 20
    assert len(closing_references(text, REPO, limit=3)) == 3


def test_links() -> None:
    refs = closing_references("Fixes #12, closes psf/requests#3", "o/r")
    assert refs == [IssueReference("o", "r", 12), IssueReference("psf", "requests", 3)]
    assert closing_links(refs, "o/r") == [
        "[#12](https://github.com/o/r/issues/12)",
        "[psf/requests#3](https://github.com/psf/requests/issues/3)",
    ]
    # Same repository whatever the case the PR body used.
    assert closing_links(closing_references("fixes O/R#5", "o/r"), "o/r") == ["[#5](https://github.com/O/R/issues/5)"]

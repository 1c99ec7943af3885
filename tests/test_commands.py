"""bot.core.commands.grammar: only a line GitHub renders as `@slug <command>` is a command, and only people with
write access (never a bot) may run one, where it makes sense."""

from __future__ import annotations

import pytest

from bot.core.commands.grammar import (
    HELP_DESCRIPTIONS,
    SUMMARIZE_ONLY_ON_PULL_REQUESTS,
    TRIAGE_ONLY_ON_ISSUES,
    WORDS,
    Command,
    CommandKind,
    help_lines,
    may_run,
    parse_commands,
    where_allowed,
)
from tests.helpers import webhook_payload as load_payload

SLUG = "hookwise"
S = CommandKind.SUMMARIZE
T = CommandKind.TRIAGE
H = CommandKind.HELP
R = CommandKind.RELEASE_NOTES
U = CommandKind.UNKNOWN

COMMENT_FIXTURES = [
    "issue_comment/created.json",
    "issue_comment/created.on-pull-request.json",
    "issue_comment/created.on-pull-request.2.json",
    "issue_comment/created.with-organization.json",
    "issue_comment/edited.json",
]


def kinds(body: str, slug: str = SLUG) -> list[CommandKind]:
    return [command.kind for command in parse_commands(body, slug)]


def real_body(relpath: str = "issue_comment/created.json") -> str:
    body = load_payload(relpath)["comment"]["body"]
    assert isinstance(body, str) and body
    return body


def quote_reply(body: str) -> str:
    """What GitHub's "Quote reply" puts in the box: every line quoted, then a blank line."""
    return "\n".join(f"> {line}" if line else ">" for line in body.split("\n")) + "\n\n"


# -- what is a command -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("@hookwise summarize", [S]),
        ("@hookwise triage", [T]),
        ("@hookwise help", [H]),
        ("@hookwise summarise", [S]),
        ("@HookWise SUMMARIZE", [S]),
        ("@HOOKWISE Triage", [T]),
        ("@hookwise[bot] summarize", [S]),
        ("@Hookwise[BOT] help", [H]),
        ("   @hookwise summarize", [S]),
        (" @hookwise summarize", [S]),
        ("@hookwise   \t summarize", [S]),
        ("@hookwise summarize   ", [S]),
        ("@hookwise summarize please, the last one was wrong", [S]),
        ("@hookwise summarize.", [S]),
        ("@hookwise summarize!", [S]),
        ("@hookwise summarize <!-- a note to self -->", [S]),
        ("@hookwise summarize `with code after`", [S]),
        ("Thanks for the fix!\n@hookwise summarize", [S]),
        ("Thanks!\n\n@hookwise triage\n\nCheers", [T]),
        ("- a list item\n@hookwise help", [H]),
        ("# Heading\n@hookwise help", [H]),
        ("Before\n```\ncode\n```\n@hookwise help", [H]),
        ("<details>\n@hookwise help\n</details>", [H]),
    ],
)
def test_commands(body: str, expected: list[CommandKind]) -> None:
    assert kinds(body) == expected


@pytest.mark.parametrize(
    "body",
    [
        # not at the start of the line, or not the first token
        "Please @hookwise summarize",
        "- @hookwise summarize",
        "1. @hookwise summarize",
        "# @hookwise summarize",
        "**@hookwise summarize**",
        "\\@hookwise summarize",
        "[@hookwise summarize](https://example.com)",
        "@hookwise",
        "@hookwise\n summarize",
        "hookwise summarize",
        "@ hookwise summarize",
        # somebody else, or a longer name
        "@hookwiser summarize",
        "@hookwise-bot summarize",
        "@other summarize",
        "@hookwise[bots] summarize",
        "@hookwise[bot]summarize",
        "@hookwise, summarize",
        "@hookwise: summarize",
        "@hookwise\u00a0summarize",
        "@hook wise summarize",
        # the word is not a command word
        "@hookwise summarizer now",
        "@hookwise summarize_all please",
        "@hookwise `summarize`",
        "@hookwise deploy to production",
        # indented too far: indented code, or a continuation line indented 4+
        "    @hookwise summarize",
        "\t@hookwise summarize",
        "  \t@hookwise summarize",
        "Some text\n    @hookwise summarize",
        "Intro\n\n    @hookwise summarize\n    more code",
        # fenced code, any fence, any info string, unclosed to the end
        "```\n@hookwise summarize\n```",
        "```python\n@hookwise summarize\n```",
        "~~~\n@hookwise summarize\n~~~",
        "~~~~ yaml title=x\n@hookwise summarize\n~~~~",
        "````\n```\n@hookwise summarize\n````",
        "```\n~~~\n@hookwise summarize\n```",
        "   ```\n@hookwise summarize\n   ```",
        "```\nnot closed\n@hookwise summarize",
        "~~~\n```\n@hookwise summarize\n",
        "Text\n```\n@hookwise summarize\n```",
        "- item\n  ```\n  @hookwise summarize\n  ```",
        "- ```\n  @hookwise summarize\n  ```",
        "1. ```sh\n   @hookwise summarize\n   ```",
        # quoted, at any depth, and a quoted paragraph's lazy continuation
        "> @hookwise summarize",
        ">@hookwise summarize",
        "   > @hookwise summarize",
        "> > @hookwise summarize",
        ">> > @hookwise summarize",
        "> Can you summarize?\n@hookwise summarize",
        "> Can you summarize?\n    @hookwise summarize",
        # inline code, also across lines of one paragraph
        "`@hookwise summarize`",
        "``@hookwise summarize``",
        "`` `@hookwise summarize` ``",
        "Run `this\n@hookwise summarize` to see",
        "Run ``this\n@hookwise summarize `` to see",
        # HTML comments, over one or several lines, and raw blocks
        "<!-- @hookwise summarize -->",
        "<!--\n@hookwise summarize\n-->",
        "<!--\n\n@hookwise summarize\n\n-->",
        "<!-- not closed\n@hookwise summarize",
        "Text <!-- hidden\n@hookwise summarize\n--> shown",
        "<pre>\n@hookwise summarize\n</pre>",
        "<PRE class=x>\n@hookwise summarize\n</PRE>",
        "",
        "\n\n\n",
    ],
)
def test_not_commands(body: str) -> None:
    assert parse_commands(body, SLUG) == []


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # a fence that closes lets commands after it through
        ("```\n@hookwise summarize\n```\n@hookwise help", [H]),
        ("~~~\n@hookwise summarize\n~~~\n@hookwise triage", [T]),
        # a shorter or different fence does not close; a longer one does
        ("````\n@hookwise summarize\n```\n@hookwise triage\n`````\n@hookwise help", [H]),
        # a closing fence has nothing after it
        ("```\n@hookwise summarize\n``` not a close\n@hookwise triage\n```\n@hookwise help", [H]),
        # a backtick fence's info string holds no backtick: this is inline code, not a fence
        ("```a`b\n@hookwise help", [H]),
        # a quote ends at a blank line
        ("> @hookwise summarize\n\n@hookwise help", [H]),
        ("> quoted\n>\n@hookwise help", [H]),
        # an unmatched backtick is literal; a span cannot cross a blank line
        ("a `stray backtick\n@hookwise help", [H]),
        ("a `x\n\n@hookwise help` y", [H]),
        ("a ``x`\n@hookwise help", [H]),
        # an inline comment that closed, or a comment block that closed, hides nothing more
        ("Text <!-- x --> more\n@hookwise help", [H]),
        ("<!--\nhidden\n-->\n@hookwise help", [H]),
        ("<pre>\n@hookwise summarize\n</pre>\n@hookwise help", [H]),
        # an escaped backtick opens nothing
        ("a \\`x\n@hookwise help `", [H]),
        # indented code ends at a line indented less
        ("\n    code\n@hookwise help", [H]),
    ],
)
def test_markdown_blocks_end(body: str, expected: list[CommandKind]) -> None:
    assert kinds(body) == expected


def test_unknown_word_alone_on_its_line() -> None:
    assert parse_commands("@hookwise deploy", SLUG) == [Command(U, "deploy")]
    assert parse_commands("@hookwise Deploy  ", SLUG) == [Command(U, "Deploy")]
    # with more text it is conversation, not a request
    assert parse_commands("@hookwise deploy this", SLUG) == []
    assert parse_commands("@hookwise thanks!", SLUG) == []


def test_word_is_kept_as_written() -> None:
    assert parse_commands("@HookWise Summarise", SLUG) == [Command(S, "Summarise")]
    assert parse_commands("@hookwise TRIAGE now", SLUG) == [Command(T, "TRIAGE")]


def test_each_command_once_in_order_of_first_appearance() -> None:
    body = (
        "@hookwise triage\n@hookwise help\n@hookwise TRIAGE\n@hookwise summarize\n@hookwise summarise\n@hookwise help"
    )
    assert parse_commands(body, SLUG) == [Command(T, "triage"), Command(H, "help"), Command(S, "summarize")]


def test_unknown_words_once_each() -> None:
    body = "@hookwise deploy\n@hookwise DEPLOY\n@hookwise ship\n@hookwise help"
    assert parse_commands(body, SLUG) == [Command(U, "deploy"), Command(U, "ship"), Command(H, "help")]


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_line_endings(newline: str) -> None:
    body = newline.join(
        ["Hi", "@hookwise summarize", "```", "@hookwise triage", "```", "> @hookwise help", "", "@hookwise deploy", ""]
    )
    assert kinds(body) == [S, U]


def test_every_command_word() -> None:
    assert set(WORDS) == {"summarize", "summarise", "triage", "help", "release-notes"}
    for word, kind in WORDS.items():
        assert parse_commands(f"@{SLUG} {word}", SLUG) == [Command(kind, word)]
        assert parse_commands(f"@{SLUG} {word.upper()}", SLUG) == [Command(kind, word.upper())]


# -- release-notes and its argument -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "argument"),
    [
        ("@hookwise release-notes", ""),
        ("@hookwise release-notes since v1.2.0", "since v1.2.0"),
        ("@HookWise Release-Notes   since   2.0.0rc1  ", "since 2.0.0rc1"),
        ("Thanks!\n\n@hookwise release-notes since v1.2.0.\nCheers", "since v1.2.0."),
        ("@hookwise[bot] release-notes since pkg@1.0", "since pkg@1.0"),
    ],
)
def test_release_notes_keeps_the_rest_of_its_line(body: str, argument: str) -> None:
    [command] = parse_commands(body, SLUG)
    assert (command.kind, command.argument) == (R, argument)


def test_only_release_notes_keeps_an_argument() -> None:
    assert parse_commands("@hookwise summarize please", SLUG) == [Command(S, "summarize")]
    assert kinds("@hookwise release-notes since v1\n@hookwise help") == [R, H]


@pytest.mark.parametrize(
    "body",
    ["`@hookwise release-notes since v1`", "> @hookwise release-notes", "```\n@hookwise release-notes\n```"],
)
def test_release_notes_in_code_or_quotes_is_not_a_command(body: str) -> None:
    assert kinds(body) == []


# -- slugs -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("slug", ["a.b", "my-app", "x+y", "a*b", "(x)", "a|b", "[bot]", "a$", "^a", "a\\d", "a?"])
def test_slug_is_literal_not_a_regex(slug: str) -> None:
    assert kinds(f"@{slug} summarize", slug) == [S]
    assert kinds(f"@{slug}[bot] help", slug) == [H]
    # what the slug would match as a pattern is not the slug
    for impostor in ("aXb", "my-appx", "xxy", "ab", "x", "a", "b", "a1", "aa"):
        if impostor != slug:
            assert parse_commands(f"@{impostor} summarize", slug) == []


def test_slug_case_and_other_apps() -> None:
    assert kinds("@My-App summarize", "my-app") == [S]
    assert kinds("@my-app summarize", "My-App") == [S]
    assert kinds("@my-app summarize", "my-app-2") == []
    assert kinds("@my-app-2 summarize", "my-app") == []


def test_empty_slug_matches_nothing() -> None:
    assert parse_commands("@ summarize\n@summarize help", "") == []


# -- real comments ---------------------------------------------------------------------------------


@pytest.mark.parametrize("relpath", COMMENT_FIXTURES)
def test_real_comments_are_not_commands(relpath: str) -> None:
    assert parse_commands(real_body(relpath), SLUG) == []


@pytest.mark.parametrize("relpath", COMMENT_FIXTURES)
def test_command_added_to_a_real_comment(relpath: str) -> None:
    body = real_body(relpath)
    assert kinds(f"{body}\n@hookwise summarize") == [S]
    assert kinds(f"@hookwise triage\r\n\r\n{body}".replace("\n", "\r\n")) == [T]


@pytest.mark.parametrize("relpath", COMMENT_FIXTURES)
def test_command_in_a_quoted_reply_does_nothing(relpath: str) -> None:
    original = f"{real_body(relpath)}\n\n@hookwise summarize\n@hookwise deploy\n"
    assert kinds(original) == [S, U]
    reply = quote_reply(original) + "I agree with this."
    assert parse_commands(reply, SLUG) == []
    assert parse_commands(quote_reply(reply), SLUG) == []
    # ...while the replier's own command, below the quote, counts
    assert kinds(reply + "\n@hookwise help") == [H]


@pytest.mark.parametrize("relpath", COMMENT_FIXTURES)
def test_command_in_code_inside_a_real_comment(relpath: str) -> None:
    body = real_body(relpath)
    for wrapped in (
        f"{body}\n\n```\n@hookwise summarize\n```",
        f"{body}\n\n    @hookwise summarize",
        f"{body}\n\n`@hookwise summarize`",
        f"{body}\n<!--\n@hookwise summarize\n-->",
    ):
        assert parse_commands(wrapped, SLUG) == []


def test_help_reply_is_not_read_back_as_commands() -> None:
    reply = "\n".join(["<!-- hookwise:reply -->", "Commands:", *help_lines(SLUG)])
    assert parse_commands(reply, SLUG) == []


def test_large_hostile_bodies_finish() -> None:
    # Bounded work: no quadratic backtracking over GitHub's largest comment (65,536 characters).
    unmatched = "".join("`" * n + "x" for n in range(1, 360))
    assert kinds(unmatched + "\n@hookwise help") == [H]  # every run unmatched: all literal
    assert kinds("`x" * 29_999 + "\n@hookwise help`") == []  # the odd one out pairs across the line
    assert kinds("`x" * 30_000 + "\n@hookwise help`") == [H]
    assert kinds("x" + "<!--" * 16_000 + "\n@hookwise help") == [H]  # unclosed inline comments are literal
    assert kinds("<!--" * 16_000 + "\n\n@hookwise help") == []  # an unclosed comment block runs to the end
    assert kinds("> " * 30_000 + "x\n\n@hookwise help") == [H]
    assert kinds("@hookwise help\n" * 4_000) == [H]
    assert kinds("@hookwise " + "a" * 65_000) == [U]


# -- who may run -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("permission", "role_name", "allowed"),
    [
        ("admin", "admin", True),
        ("write", "maintain", True),
        ("write", "write", True),
        ("read", "triage", False),
        ("read", "read", False),
        ("none", None, False),
        ("none", "none", False),
        # custom roles inherit a base role: the base permission decides
        ("write", "security-engineer", True),
        ("admin", "org-owner-ish", True),
        ("read", "contractor", False),
        ("none", "contractor", False),
        # no role reported (older GitHub Enterprise Server): the permission decides
        ("admin", None, True),
        ("write", None, True),
        ("write", "", True),
        ("read", None, False),
        (None, None, False),
        ("", "", False),
        # a built-in role below write is not raised by an inconsistent permission
        ("write", "read", False),
        ("admin", "triage", False),
        # case and stray spaces
        ("WRITE", "Maintain", True),
        ("write", " Admin ", True),
        ("maintain", None, True),
    ],
)
def test_may_run_by_permission(permission: str | None, role_name: str | None, allowed: bool) -> None:
    assert may_run(permission=permission, role_name=role_name, user_type="User", login="octocat", slug=SLUG) is allowed


@pytest.mark.parametrize(
    ("user_type", "login"),
    [
        ("Bot", "dependabot[bot]"),
        ("Bot", "renovate"),
        ("bot", "someone"),
        ("User", "github-actions[bot]"),
        ("User", "Some-App[BOT]"),
        ("Bot", "hookwise[bot]"),
        ("User", "hookwise[bot]"),
        ("User", "HookWise[Bot]"),
    ],
)
def test_bots_never_may_run(user_type: str, login: str) -> None:
    assert not may_run(permission="admin", role_name="admin", user_type=user_type, login=login, slug=SLUG)


def test_a_user_named_like_the_app_may_run() -> None:
    # A person whose login is the slug itself (without [bot]) is a person.
    assert may_run(permission="write", role_name="write", user_type="User", login="hookwise", slug=SLUG)


@pytest.mark.parametrize("relpath", COMMENT_FIXTURES)
def test_may_run_with_real_comment_authors(relpath: str) -> None:
    user = load_payload(relpath)["comment"]["user"]
    for permission, role, allowed in (("admin", "admin", True), ("read", "read", False)):
        result = may_run(permission=permission, role_name=role, user_type=user["type"], login=user["login"], slug=SLUG)
        assert result is allowed


# -- where -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "is_pull_request", "reason"),
    [
        (S, True, None),
        (S, False, SUMMARIZE_ONLY_ON_PULL_REQUESTS),
        (T, False, None),
        (T, True, TRIAGE_ONLY_ON_ISSUES),
        (H, True, None),
        (H, False, None),
        (U, True, None),
        (U, False, None),
    ],
)
def test_where_allowed(kind: CommandKind, is_pull_request: bool, reason: str | None) -> None:
    assert where_allowed(kind, is_pull_request=is_pull_request) == reason


@pytest.mark.parametrize(
    ("relpath", "kind", "reason"),
    [
        ("issue_comment/created.json", S, SUMMARIZE_ONLY_ON_PULL_REQUESTS),
        ("issue_comment/created.json", T, None),
        ("issue_comment/created.on-pull-request.json", S, None),
        ("issue_comment/created.on-pull-request.json", T, TRIAGE_ONLY_ON_ISSUES),
    ],
)
def test_where_allowed_on_real_threads(relpath: str, kind: CommandKind, reason: str | None) -> None:
    is_pull_request = "pull_request" in load_payload(relpath)["issue"]
    assert where_allowed(kind, is_pull_request=is_pull_request) == reason


def test_reasons_are_one_line() -> None:
    for reason in (SUMMARIZE_ONLY_ON_PULL_REQUESTS, TRIAGE_ONLY_ON_ISSUES):
        assert reason and "\n" not in reason


# -- help ------------------------------------------------------------------------------------------


def test_help_lines() -> None:
    lines = help_lines("my-app")
    assert lines == [
        f"- `@my-app summarize`: {HELP_DESCRIPTIONS[S]}",
        f"- `@my-app triage`: {HELP_DESCRIPTIONS[T]}",
        f"- `@my-app release-notes [since TAG]`: {HELP_DESCRIPTIONS[R]}",
        f"- `@my-app help`: {HELP_DESCRIPTIONS[H]}",
    ]
    assert all("\n" not in line for line in lines)
    assert set(HELP_DESCRIPTIONS) == {S, T, R, H}


def test_module_is_pure() -> None:
    import ast
    from pathlib import Path

    import bot.core.commands.grammar
    import bot.core.markdown

    for module in (bot.core.commands.grammar, bot.core.markdown):
        tree = ast.parse(Path(module.__file__ or "").read_text(encoding="utf-8"))
        imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        outside = {name for name in imported if not name.startswith("bot.core.")}
        assert {name.split(".")[0] for name in outside} <= {
            "__future__",
            "re",
            "bisect",
            "collections",
            "dataclasses",
            "enum",
            "functools",
        }


def test_every_command_kind_has_one_spec_and_one_handler() -> None:
    """A command is a spec (bot/core/commands/grammar.py) and a handler (the worker's): a kind without its
    handler, or a spec of a kind twice, fails here before it fails a maintainer."""
    from bot.core.commands.grammar import SPECS
    from bot.worker.actions.commands import HANDLERS

    assert set(HANDLERS) == set(CommandKind)
    assert len({spec.kind for spec in SPECS}) == len(SPECS) == len(CommandKind) - 1  # all but UNKNOWN
    words = [word for spec in SPECS for word in spec.words]
    assert len(words) == len(set(words)) and all(word == word.casefold() for word in words)

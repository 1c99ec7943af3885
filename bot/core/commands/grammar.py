"""What a comment asks hookwise to do, where, and who may ask. Pure.

A command is a line of a comment that GitHub renders as an ordinary line of text beginning with
`@<slug>` (or `@<slug>[bot]`) and a command word: `@hookwise summarize`, `@HookWise triage please`.
The comment is read as markdown, as GitHub renders it (bot/core/markdown.py), so what only *looks*
like a command is not one: a line in code, a quote or an HTML comment, a line that starts inside an
inline code span, or a mention of anybody else (`@hookwiser summarize`, `@other summarize`).

The web process does not know the App's slug (it makes no GitHub call), so it asks
`might_hold_command`, which is this same grammar with any slug: a comment it drops is one no slug
could make a command of, and the worker's `parse_commands` never sees a command the web dropped.

Every command is one `CommandSpec` in `SPECS`: its words, the argument it reads from the rest of its
line (`release-notes since v1.2.0`; bot/core/commands/release_notes.py's `parse_since` reads it), its help
line, where it may run and whether it spends model tokens. The parser, the help text and the "where"
replies are generated from them; the worker's handler for each kind is its one other part
(bot/worker/actions/commands.py: HANDLERS, checked complete by a test). A new command is one spec and
one handler.

Where the markup is ambiguous the parser leans towards "not a command": a missed command costs the
user one more comment, a phantom one costs a model call nobody asked for.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from bot.core.markdown import visible_line_starts


class CommandKind(StrEnum):
    SUMMARIZE = "summarize"
    TRIAGE = "triage"
    HELP = "help"
    RELEASE_NOTES = "release-notes"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Command:
    kind: CommandKind
    word: str  # the command word as written: "Summarise", "deploy", ...
    argument: str = ""  # what follows the word on its line, for the commands that take one


class Where(StrEnum):
    ANYWHERE = "anywhere"
    PULL_REQUESTS = "pull requests"
    ISSUES = "issues"


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """One command: everything about it but its handler (bot/worker/actions/commands.py)."""

    kind: CommandKind
    words: tuple[str, ...]  # what it answers to after the mention, folded; the first is its name
    help: str  # its help line's description
    argument: str = ""  # the grammar of the rest of its line, as help shows it; "": it reads none
    where: Where = Where.ANYWHERE
    uses_model: bool = False  # spends model tokens: checked against the budget, one run a minute

    @property
    def name(self) -> str:
        return self.words[0]


SPECS: tuple[CommandSpec, ...] = (
    CommandSpec(
        CommandKind.SUMMARIZE,
        ("summarize", "summarise"),
        "write this pull request's summary again",
        where=Where.PULL_REQUESTS,
        uses_model=True,
    ),
    CommandSpec(
        CommandKind.TRIAGE, ("triage",), "choose this issue's labels again", where=Where.ISSUES, uses_model=True
    ),
    CommandSpec(
        CommandKind.RELEASE_NOTES,
        ("release-notes",),
        "release notes from the summaries of the pull requests merged since the latest release (or since TAG)",
        argument="[since TAG]",
        uses_model=True,
    ),
    CommandSpec(CommandKind.HELP, ("help",), "list these commands and this repository's hookwise settings"),
)
SPEC: Mapping[CommandKind, CommandSpec] = {spec.kind: spec for spec in SPECS}
# The words hookwise answers to, folded; anything else after the mention is UNKNOWN (see below).
WORDS: Mapping[str, CommandKind] = {word: spec.kind for spec in SPECS for word in spec.words}
MODEL_COMMANDS = frozenset(spec.kind for spec in SPECS if spec.uses_model)
ARGUMENT_CHARS = 200

# -- user-facing text (the lead renders the replies; tests compare against these) -----------------

ONLY_ON: Mapping[Where, str] = {
    Where.PULL_REQUESTS: "`{name}` works on pull requests only.",
    Where.ISSUES: "`{name}` works on issues only, not on pull requests.",
}
SUMMARIZE_ONLY_ON_PULL_REQUESTS = ONLY_ON[Where.PULL_REQUESTS].format(name="summarize")
TRIAGE_ONLY_ON_ISSUES = ONLY_ON[Where.ISSUES].format(name="triage")
WHO_MAY_RUN = "Only people with write, maintain or admin access to this repository can run commands."
HELP_LINE = "- `@{slug} {word}`: {description}"
HELP_DESCRIPTIONS: Mapping[CommandKind, str] = {
    spec.kind: spec.help + (f" ({spec.where} only)" if spec.where is not Where.ANYWHERE else "") for spec in SPECS
}


def help_lines(slug: str) -> list[str]:
    """One markdown list item per command, the command in a code span (so it pings nobody and is
    never read back as a command)."""
    return [
        HELP_LINE.format(
            slug=slug, word=f"{spec.name} {spec.argument}".strip(), description=HELP_DESCRIPTIONS[spec.kind]
        )
        for spec in SPECS
    ]


# -- who may ask, and where ------------------------------------------------------------------------

_WRITE_ROLES = frozenset({"admin", "maintain", "write"})
_BUILTIN_ROLES = frozenset({"admin", "maintain", "write", "triage", "read", "none"})
_WRITE_PERMISSIONS = frozenset({"admin", "maintain", "write"})


def is_bot(login: str, user_type: str) -> bool:
    """A bot account (GitHub's `type: Bot`, or a `name[bot]` login): its comments are never commands."""
    return user_type.casefold() == "bot" or login.casefold().endswith("[bot]")


def may_run(*, permission: str | None, role_name: str | None, user_type: str, login: str, slug: str) -> bool:
    """Whether the comment's author may run a command: write, maintain or admin, and never a bot.

    `permission` and `role_name` are the fields of `GET /repos/{owner}/{repo}/collaborators/{user}/permission`.
    `permission` folds maintain into write and triage into read, so a built-in `role_name` decides;
    a custom role (or none reported, as on older GitHub Enterprise Server) falls back to the base
    `permission` it carries.
    """
    if is_bot(login, user_type) or login.casefold() == f"{slug}[bot]".casefold():
        return False
    role = (role_name or "").strip().casefold()
    if role in _BUILTIN_ROLES:
        return role in _WRITE_ROLES
    return (permission or "").strip().casefold() in _WRITE_PERMISSIONS


def where_allowed(kind: CommandKind, *, is_pull_request: bool) -> str | None:
    """None when `kind` makes sense on this thread, else the one-line reason to reply with."""
    spec = SPEC.get(kind)
    if spec is None or spec.where is Where.ANYWHERE:
        return None
    if (spec.where is Where.PULL_REQUESTS) != is_pull_request:
        return ONLY_ON[spec.where].format(name=spec.name)
    return None


# -- parsing ---------------------------------------------------------------------------------------


def parse_commands(body: str, slug: str) -> list[Command]:
    """The commands in a comment body, each kind once, in order of first appearance.

    A line that is just `@slug <word>` with a word hookwise does not know gives
    `Command(CommandKind.UNKNOWN, word)` (once per distinct word), so the bot can answer with help;
    an unknown word followed by more text is conversation, not a command.
    """
    if not slug:
        return []
    return _parse(body, re.escape(slug))


def might_hold_command(body: str) -> bool:
    """Whether some App's slug would make a command of a line of `body` (the web's cheap test)."""
    return bool(_parse(body, _ANY_SLUG))


# A GitHub login or App slug: letters, digits, `-` (and `.`/`_` to be generous): a superset of
# every real slug, so `might_hold_command` is never stricter than `parse_commands`.
_ANY_SLUG = r"[\w.-]+"


def _parse(body: str, slug_pattern: str) -> list[Command]:
    if "@" not in body:
        return []
    pattern = _command_pattern(slug_pattern)
    found: list[Command] = []
    seen: set[tuple[CommandKind, str]] = set()
    for line in visible_line_starts(body):
        match = pattern.match(line)
        if match is None:
            continue
        word, rest = match["word"], match["rest"]
        kind = WORDS.get(word.casefold())
        if kind is None:
            if rest.strip():
                continue
            kind, key = CommandKind.UNKNOWN, word.casefold()
        else:
            key = ""
        if (kind, key) not in seen:
            seen.add((kind, key))
            takes = kind in SPEC and bool(SPEC[kind].argument)
            argument = " ".join(rest.split())[:ARGUMENT_CHARS] if takes else ""
            found.append(Command(kind, word, argument))
    return found


@lru_cache(maxsize=64)
def _command_pattern(slug_pattern: str) -> re.Pattern[str]:
    # The word is letters, digits, `_` and `-`; whatever follows must not continue it
    # (`@hookwise summarizer` is not `summarize`), but may be punctuation or more text.
    return re.compile(
        rf"^ {{0,3}}@{slug_pattern}(?:\[bot\])?[ \t]+(?P<word>[^\W\d_][\w-]*)(?![\w-])(?P<rest>.*)$",
        re.IGNORECASE,
    )

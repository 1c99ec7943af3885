"""What a comment asks hookwise to do, where, and who may ask. Pure.

A command is a line of a comment that GitHub renders as an ordinary line of text beginning with
`@<slug>` (or `@<slug>[bot]`) and a command word: `@hookwise summarize`, `@HookWise triage please`.
The comment is read as markdown (CommonMark, as GitHub renders it), so what only *looks* like a
command is not one:

- lines inside fenced code (``` or ~~~, unclosed fences run to the end), indented code (4+ columns
  of indentation, which also rules out any line indented that far), `<pre>` blocks, and HTML
  comments (`<!-- ... -->`, over several lines too);
- quoted lines (`>` at any depth) and the lines that continue a quoted paragraph without a `>` of
  their own (markdown's "lazy continuation": they render inside the quote), so quoting somebody's
  command never runs it again;
- a line whose start lies inside an inline code span (`` `@hookwise summarize` ``), even one that
  opened on an earlier line of the same paragraph;
- a mention of anybody else (`@hookwiser summarize`, `@other summarize`).

Where the markup is ambiguous the parser leans towards "not a command": a missed command costs the
user one more comment, a phantom one costs a model call nobody asked for.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum


class CommandKind(StrEnum):
    SUMMARIZE = "summarize"
    TRIAGE = "triage"
    HELP = "help"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Command:
    kind: CommandKind
    word: str  # the command word as written: "Summarise", "deploy", ...


# The words hookwise answers to, folded; anything else after the mention is UNKNOWN (see below).
WORDS: Mapping[str, CommandKind] = {
    "summarize": CommandKind.SUMMARIZE,
    "summarise": CommandKind.SUMMARIZE,
    "triage": CommandKind.TRIAGE,
    "help": CommandKind.HELP,
}

# -- user-facing text (the lead renders the replies; tests compare against these) -----------------

SUMMARIZE_ONLY_ON_PULL_REQUESTS = "`summarize` works on pull requests only."
TRIAGE_ONLY_ON_ISSUES = "`triage` works on issues only, not on pull requests."
WHO_MAY_RUN = "Only people with write, maintain or admin access to this repository can run commands."
HELP_LINE = "- `@{slug} {word}`: {description}"
HELP_DESCRIPTIONS: Mapping[CommandKind, str] = {
    CommandKind.SUMMARIZE: "write this pull request's summary again (pull requests only)",
    CommandKind.TRIAGE: "choose this issue's labels again (issues only)",
    CommandKind.HELP: "list these commands and this repository's hookwise settings",
}


def help_lines(slug: str) -> list[str]:
    """One markdown list item per command, the command in a code span (so it pings nobody and is
    never read back as a command)."""
    return [
        HELP_LINE.format(slug=slug, word=kind.value, description=description)
        for kind, description in HELP_DESCRIPTIONS.items()
    ]


# -- who may ask, and where ------------------------------------------------------------------------

_WRITE_ROLES = frozenset({"admin", "maintain", "write"})
_BUILTIN_ROLES = frozenset({"admin", "maintain", "write", "triage", "read", "none"})
_WRITE_PERMISSIONS = frozenset({"admin", "maintain", "write"})


def may_run(*, permission: str | None, role_name: str | None, user_type: str, login: str, slug: str) -> bool:
    """Whether the comment's author may run a command: write, maintain or admin, and never a bot.

    `permission` and `role_name` are the fields of `GET /repos/{owner}/{repo}/collaborators/{user}/permission`.
    `permission` folds maintain into write and triage into read, so a built-in `role_name` decides;
    a custom role (or none reported, as on older GitHub Enterprise Server) falls back to the base
    `permission` it carries.
    """
    folded_login = login.casefold()
    if user_type.casefold() == "bot" or folded_login.endswith("[bot]") or folded_login == f"{slug}[bot]".casefold():
        return False
    role = (role_name or "").strip().casefold()
    if role in _BUILTIN_ROLES:
        return role in _WRITE_ROLES
    return (permission or "").strip().casefold() in _WRITE_PERMISSIONS


def where_allowed(kind: CommandKind, *, is_pull_request: bool) -> str | None:
    """None when `kind` makes sense on this thread, else the one-line reason to reply with."""
    if kind is CommandKind.SUMMARIZE and not is_pull_request:
        return SUMMARIZE_ONLY_ON_PULL_REQUESTS
    if kind is CommandKind.TRIAGE and is_pull_request:
        return TRIAGE_ONLY_ON_ISSUES
    return None


# -- parsing ---------------------------------------------------------------------------------------


def parse_commands(body: str, slug: str) -> list[Command]:
    """The commands in a comment body, each kind once, in order of first appearance.

    A line that is just `@slug <word>` with a word hookwise does not know gives
    `Command(CommandKind.UNKNOWN, word)` (once per distinct word), so the bot can answer with help;
    an unknown word followed by more text is conversation, not a command.
    """
    if not slug or "@" not in body:
        return []
    pattern = _command_pattern(slug)
    found: list[Command] = []
    seen: set[tuple[CommandKind, str]] = set()
    for line in _visible_line_starts(body):
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
            found.append(Command(kind, word))
    return found


def _command_pattern(slug: str) -> re.Pattern[str]:
    # The word is letters, digits, `_` and `-`; whatever follows must not continue it
    # (`@hookwise summarizer` is not `summarize`), but may be punctuation or more text.
    return re.compile(
        rf"^ {{0,3}}@{re.escape(slug)}(?:\[bot\])?[ \t]+(?P<word>[^\W\d_][\w-]*)(?![\w-])(?P<rest>.*)$",
        re.IGNORECASE,
    )


_FENCE = re.compile(r"(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_FENCE_CLOSE = re.compile(r"^(?P<indent>[ ]*)(?P<fence>`{3,}|~{3,})[ \t]*$")
_LIST_MARKER = re.compile(r"^ {0,3}(?:[-+*]|\d{1,9}[.)])(?:[ \t]+|$)")
_LIST_ITEMS = re.compile(r" {0,3}(?:[-+*]|\d{1,9}[.)])[ \t]+(?:(?:[-+*]|\d{1,9}[.)])[ \t]+)*")
_QUOTE = re.compile(r"^ {0,3}>")
_QUOTES = re.compile(r"(?: {0,3}> ?)+")
_HEADING_OR_BREAK = re.compile(r"^ {0,3}(?:#{1,6}(?:[ \t]|$)|(?:[-*_=][ \t]*){3,}$)")
_COMMENT_BLOCK = re.compile(r"^ {0,3}<!--")
_RAW_BLOCK = re.compile(r"^ {0,3}<(pre|script|style|textarea)(?:[ \t>]|$)", re.IGNORECASE)
_ESCAPABLE = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")


def _columns(line: str) -> int:
    """Width of the line's leading whitespace, tabs to the next multiple of 4 (CommonMark)."""
    width = 0
    for char in line:
        if char == " ":
            width += 1
        elif char == "\t":
            width += 4 - width % 4
        else:
            break
    return width


def _is_blank(line: str) -> bool:
    return not line.strip(" \t")


def _unquote(line: str) -> str:
    """A quoted line's content, every level of `>` taken off."""
    quotes = _QUOTES.match(line)
    return line[quotes.end() :] if quotes else line


def _paragraphs(body: str) -> Iterator[list[str]]:
    """Runs of consecutive lines that render as ordinary paragraph text (or a list item's), in order.

    Everything else - code, quotes, HTML comment and raw blocks, headings, blank lines - is
    dropped; those lines never hold a command, and a code span cannot reach across them.
    """
    lines = body.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    fence: tuple[str, int, int] | None = None  # (character, length, most indentation of its closer)
    block_end: re.Pattern[str] | None = None  # end of an HTML comment or raw block
    quoted = False  # the previous line was quoted paragraph text: this one may continue it lazily
    group: list[str] = []
    for line in lines:
        if fence is not None:
            close = _FENCE_CLOSE.match(line)
            if (
                close
                and close["fence"][0] == fence[0]
                and len(close["fence"]) >= fence[1]
                and len(close["indent"]) <= fence[2]
            ):
                fence = None
            continue
        if block_end is not None:
            if block_end.search(line):
                block_end = None
            continue
        if _is_blank(line):
            quoted = False
            if group:
                yield group
                group = []
            continue
        if _QUOTE.match(line):
            content = _unquote(line)
            quoted = not _is_blank(content) and not _FENCE.match(content) and not _HEADING_OR_BREAK.match(content)
            if group:
                yield group
                group = []
            continue
        if _columns(line) >= 4:
            # A lazy continuation of a quote or a paragraph; otherwise indented code.
            if group and not quoted:
                group.append(line)
            continue
        opened = _open_fence(line)
        if opened is not None:
            fence, quoted = opened, False
        elif _COMMENT_BLOCK.match(line):
            quoted = False
            if "-->" not in line[line.index("<!--") + 4 :]:
                block_end = re.compile("-->")
        elif raw := _RAW_BLOCK.match(line):
            quoted = False
            end = re.compile(rf"</{raw[1]}>", re.IGNORECASE)
            if not end.search(line, raw.end()):
                block_end = end
        elif quoted:
            continue  # renders inside the quote above it
        elif _HEADING_OR_BREAK.match(line):
            pass
        else:
            if _LIST_MARKER.match(line) and group:
                yield group  # a new list item: a code span cannot reach into it
                group = []
            group.append(line)
            continue
        if group:
            yield group
            group = []
    if group:
        yield group


def _open_fence(line: str) -> tuple[str, int, int] | None:
    """The fence a line opens, at the top level or inside (nested) list items."""
    items = _LIST_ITEMS.match(line)
    offset = items.end() if items else 0
    opened = _FENCE.match(line, offset)
    if opened is None or (opened["fence"][0] == "`" and "`" in opened["info"]):
        return None
    return opened["fence"][0], len(opened["fence"]), 3 + offset


def _visible_line_starts(body: str) -> Iterator[str]:
    """Each paragraph line as rendered, HTML comments taken out; a line that begins inside a code
    span is left out."""
    for group in _paragraphs(body.replace("\0", "\ufffd")):  # CommonMark does the same to NUL
        text = "\n".join(group)
        code, comments = _inline_spans(text)
        masked = _mask(text, comments)
        start = 0
        for line in group:
            end = start + len(line)
            if _columns(line) < 4:
                visible = masked[start:end]
                first = start + len(visible) - len(visible.lstrip(" \t\0"))
                if first < end and not _inside(first, code):
                    yield visible.replace("\0", "")
            start = end + 1


def _inline_spans(text: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """The code spans and HTML comments of one paragraph, as sorted, disjoint [start, end) ranges.

    CommonMark: a run of n backticks opens a code span that ends at the next run of exactly n
    backticks (an unmatched run is literal); an HTML comment runs from `<!--` to the next `-->`;
    whichever starts first wins. Linear: each closer is found by bisecting precomputed runs.
    """
    runs: dict[int, list[int]] = {}
    for run in re.finditer(r"`+", text):
        runs.setdefault(run.end() - run.start(), []).append(run.start())
    code: list[tuple[int, int]] = []
    comments: list[tuple[int, int]] = []
    comment_closes = True  # False once no `-->` remains after some `<!--`
    i, size = 0, len(text)
    while i < size:
        char = text[i]
        if char == "\\" and i + 1 < size and text[i + 1] in _ESCAPABLE:
            i += 2
        elif char == "`":
            j = i
            while j < size and text[j] == "`":
                j += 1
            starts = runs.get(j - i, [])
            k = bisect_right(starts, i)
            if k < len(starts):
                close = starts[k] + (j - i)
                code.append((i, close))
                i = close
            else:
                i = j
        elif char == "<" and comment_closes and text.startswith("<!--", i):
            end = text.find("-->", i + 4)
            if end < 0:
                comment_closes = False
                i += 4
            else:
                comments.append((i, end + 3))
                i = end + 3
        else:
            i += 1
    return code, comments


def _mask(text: str, spans: Sequence[tuple[int, int]]) -> str:
    """`text` with every character inside `spans` but newlines turned into NUL (same length)."""
    pieces: list[str] = []
    position = 0
    for start, end in spans:
        pieces.append(text[position:start])
        pieces.append(re.sub(r"[^\n]", "\0", text[start:end]))
        position = end
    pieces.append(text[position:])
    return "".join(pieces)


def _inside(position: int, spans: Sequence[tuple[int, int]]) -> bool:
    k = bisect_right(spans, (position, 1 << 62)) - 1
    return k >= 0 and spans[k][0] <= position < spans[k][1]

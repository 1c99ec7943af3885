"""Which lines of a GitHub comment render as ordinary text. Pure.

Read as CommonMark, as GitHub renders it: lines inside fenced code (``` or ~~~, unclosed fences run
to the end), indented code, `<pre>` blocks and HTML comments (over several lines too) are not
visible text; nor are quoted lines (`>` at any depth) and the lines that continue a quoted
paragraph without a `>` of their own (markdown's "lazy continuation"); nor a line whose start lies
inside an inline code span, even one that opened on an earlier line of the same paragraph.
`visible_line_starts` yields the rest, HTML comments masked out. bot/core/commands/grammar.py reads
commands from them.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterator, Sequence

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


def visible_line_starts(body: str) -> Iterator[str]:
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

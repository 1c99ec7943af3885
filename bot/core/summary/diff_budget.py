"""What of a pull request's diff the model reads, within a token budget. Pure: stdlib and pydantic.

The summary can only be as good as what the model is shown, so the budget reads what says most
about intent first and says exactly what it left out:

1. Files that say nothing about intent are listed by name with their line counts, never sent:
   paths the repository excludes, deleted files, lockfiles, generated and minified files, vendored
   trees, certificates and keys, data blobs (by name, and by content: mostly base64 or hex, or
   lines of over 1,000 characters), binary files and patches GitHub does not give.
2. The rest is ranked: source (and build or config files) before tests before docs; within each,
   modified and added before renamed; then larger changes first.
3. When everything fits, everything is sent. Otherwise, in passes:
   - breadth: every file in rank order gets its first hunk (up to `FIRST_HUNK_CAP` tokens, cut
     at a line boundary when the hunk is larger, never before its first changed line), from a
     quarter of the budget (up to half if one changed line of every file needs it) - or 60 % when
     the change is mechanical (10 files or more, 80 % of their hunks of 8 changed lines or
     fewer: a formatter run), so that such a change still shows a little of every file;
   - whole: in rank order, each file whole where it fits (a file at most half the budget, so one
     giant file cannot take it all);
   - depth: in rank order, the next hunks of the rest, whole, while they fit;
   - leftovers: the next hunk of a file is cut at a line boundary into what remains.
   A line is never cut; every cut is said where it is (in the file's header and at the cut).
4. Tokens are counted with `bot.core.tokens.estimate_tokens`, whose counts add up over
   newline-joined parts; the text sent is re-counted and is within the budget.

The result carries the prompt text (`text`), the bounded list of files not shown
(`not_shown_text`), the coverage line (`coverage`) and, per file, what was read.
"""

from __future__ import annotations

import bisect
import enum
import fnmatch
import itertools
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict

from bot.core.tokens import estimate_tokens, features

# -- sizes --------------------------------------------------------------------------------------
# A diff costs, with its context lines, a median of ~17 estimated tokens a changed line and ~25 at
# the 75th percentile (70 real commits of pip, requests and clipboard.js with 100-2,000 changed
# lines; small scattered edits cost most, up to ~60, for their context). 40k tokens read a
# 1,500-changed-line PR whole at 25 a line: bench/diff_budget.py shows it on the fixtures.
DEFAULT_DIFF_BUDGET_TOKENS = 40_000
# The hard ceiling for one summary call (system prompt, description, commits, file lists and diff
# together). The diff gets what the rest leaves, never more than it asked for: `diff_budget`.
DEFAULT_PROMPT_CEILING_TOKENS = 60_000

BREADTH_SHARE = 0.25  # of the budget, for the first hunk of every file...
BREADTH_MOST = 0.5  # ...or up to half, if that is what a changed line of every file takes...
MECHANICAL_BREADTH_SHARE = 0.6  # ...and more when the change is mechanical (a formatter run):
MECHANICAL_FILES = 10  # at least this many files,
MECHANICAL_HUNK_LINES = 8  # most (80 %) of their hunks this small
FIRST_HUNK_CAP = 300  # tokens of a file's first hunk in the breadth pass (~20-25 diff lines), less with many files
BREADTH_SEARCH_FILES = 400  # up to this many files, the breadth cap is searched for; past it, shared out
PER_FILE_SHARE = 0.5  # of the budget, at most, for one file read whole
MIN_CUT_LINES = 5  # a leftover cut shows at least this many more lines, or is not made
NOT_SHOWN_LISTED = 60  # files listed by name in the prompt; the rest are counted by reason
COVERAGE_NAMED = 3  # files named on the coverage line
MAX_LONG_LINE = 1000  # a patch line longer than this is minified or generated
DATA_SHARE = 0.4  # a patch whose characters are this much base64 or hex is data

MINUS = "\u2212"  # the minus sign of `+12 −3`
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


class Reason(enum.StrEnum):
    """Why a file was not shown to the model (user-facing: the summary comment lists them)."""

    EXCLUDED = "excluded by the repository's config"
    DELETED = "deleted"
    LOCKFILE = "lockfile"
    GENERATED = "generated or minified"
    VENDORED = "vendored"
    KEY = "certificate or key"
    DATA = "data blob"
    BINARY = "binary or too large for GitHub to show"
    BUDGET = "over the budget"


class PullFile(BaseModel):
    """One entry of GitHub's `GET /repos/{owner}/{repo}/pulls/{number}/files`, the fields read."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    filename: str
    status: str = "modified"  # added, removed, modified, renamed, copied, changed, unchanged
    additions: int = 0
    deletions: int = 0
    patch: str | None = None  # absent for binary files and diffs too large for GitHub
    previous_filename: str | None = None  # renamed and copied files

    @property
    def changed_lines(self) -> int:
        return self.additions + self.deletions


@dataclass(frozen=True, slots=True)
class ShownFile:
    """A file the model was shown, whole or in part."""

    path: str
    status: str
    previous_path: str | None
    additions: int
    deletions: int
    hunks_shown: int  # a hunk cut at a line boundary counts as shown
    hunks_total: int
    lines_shown: int  # changed (+/−) lines in what was shown
    lines_total: int  # changed lines of the file (GitHub's additions + deletions)
    whole: bool  # every line of the patch was shown


@dataclass(frozen=True, slots=True)
class NotShownFile:
    """A file listed by name only."""

    path: str
    status: str
    additions: int
    deletions: int
    reason: Reason


@dataclass(frozen=True, slots=True)
class BudgetedDiff:
    """What the model reads of a pull request, and what it does not."""

    shown: tuple[ShownFile, ...] = ()  # in rank order, as in `text`
    not_shown: tuple[NotShownFile, ...] = ()  # cut for the budget first (rank order), then the rest in PR order
    text: str = ""  # the diff block of the prompt (untrusted: the caller fences it)
    tokens: int = 0  # estimate_tokens(text)
    budget: int = 0
    pr_paths: frozenset[str] = field(default=frozenset(), repr=False)  # every path, renamed files' old ones too

    @property
    def files_total(self) -> int:
        return len(self.shown) + len(self.not_shown)

    @property
    def lines_total(self) -> int:
        return sum(f.lines_total for f in self.shown) + sum(f.additions + f.deletions for f in self.not_shown)

    @property
    def lines_shown(self) -> int:
        return sum(min(f.lines_shown, f.lines_total) for f in self.shown)

    @property
    def in_part(self) -> tuple[ShownFile, ...]:
        return tuple(f for f in self.shown if not f.whole)

    @property
    def read_paths(self) -> frozenset[str]:
        """Paths the model was shown (whole or in part)."""
        return frozenset(f.path for f in self.shown)

    def share_read(self) -> int:
        """Percent of changed lines shown, rounded down (100 only when nothing was left out)."""
        total = self.lines_total
        if total == 0 or self.lines_shown >= total:
            return 100
        return self.lines_shown * 100 // total

    def coverage(self, *, names: bool = True) -> str:
        """`read 37 of 40 files (92 % of changed lines); not read: …`, bounded; without `names`,
        only the part before `; not read` (paths are untrusted text: a comment renders them itself)."""
        share = self.share_read()
        percent = "<1" if share == 0 and self.lines_shown else str(share)
        parts = f"{percent} % of changed lines"
        if self.in_part:
            parts += f"; {len(self.in_part)} in part"
        line = f"read {len(self.shown)} of {self.files_total} files ({parts})"
        if not self.not_shown or not names:
            return line
        named = [f"{_short(_shown(f.path))} ({f.reason})" for f in self.not_shown[:COVERAGE_NAMED]]
        rest = self.not_shown[COVERAGE_NAMED:]
        if rest:
            named.append(f"and {len(rest)} more ({_by_reason(rest)})")
        return f"{line}; not read: " + ", ".join(named)

    def not_shown_text(self, limit: int = NOT_SHOWN_LISTED) -> str:
        """The prompt's list of files not shown, one a line with reason and line counts; bounded."""
        if not self.not_shown:
            return "none"
        listed = self.not_shown[:limit]
        lines = [f"{_shown(f.path)} ({f.reason}, {_counts(f.additions, f.deletions)})" for f in listed]
        rest = self.not_shown[limit:]
        if rest:
            added, deleted = sum(f.additions for f in rest), sum(f.deletions for f in rest)
            lines.append(f"… and {len(rest)} more ({_by_reason(rest)}; {_counts(added, deleted)})")
        return "\n".join(lines)


def diff_budget(
    requested: int = DEFAULT_DIFF_BUDGET_TOKENS, *, ceiling: int = DEFAULT_PROMPT_CEILING_TOKENS, rest: int = 0
) -> int:
    """Tokens the diff may take: what was asked for, within what the ceiling leaves after `rest`
    (the estimated tokens of everything else in the call)."""
    return max(0, min(requested, ceiling - rest))


def all_paths(files: Iterable[PullFile]) -> frozenset[str]:
    """Every path of the pull request, renamed and copied files' previous paths included."""
    paths: set[str] = set()
    for f in files:
        paths.add(f.filename)
        if f.previous_filename:
            paths.add(f.previous_filename)
    return frozenset(paths)


# -- what a file is -----------------------------------------------------------------------------

_LOCKFILES = frozenset(
    {
        "package-lock.json",
        "npm-shrinkwrap.json",
        "yarn.lock",
        "pnpm-lock.yaml",
        "bun.lockb",
        "bun.lock",
        "deno.lock",
        "poetry.lock",
        "Pipfile.lock",
        "uv.lock",
        "pdm.lock",
        "pixi.lock",
        "conda-lock.yml",
        "Cargo.lock",
        "go.sum",
        "go.work.sum",
        "Gemfile.lock",
        "composer.lock",
        "mix.lock",
        "flake.lock",
        "packages.lock.json",
        "paket.lock",
        "pubspec.lock",
        "Podfile.lock",
        "Package.resolved",
        "Cartfile.resolved",
        "gradle.lockfile",
        "shard.lock",
        "rebar.lock",
        ".terraform.lock.hcl",
        "cabal.project.freeze",
    }
)
_VENDORED = re.compile(
    r"(^|/)(vendor|vendors|_vendor|vendored|third_party|third-party|thirdparty|node_modules|bower_components|Pods)/"
)
# What a vendored tree holds, at its top (pip's `_vendor/vendor.txt`, Go's `vendor/modules.txt`):
# small, and it says what was vendored or unvendored, so it is read.
_VENDOR_MANIFEST = re.compile(r"(^|/)(vendor|_vendor)/[^/]+\.(txt|json|toml|ya?ml)$")
_GENERATED = re.compile(
    r"(^|/)(dist|build|__generated__|generated|\.yarn/releases)/"
    r"|_pb2(_grpc)?\.pyi?$|\.pb\.(go|cc|h)$|\.generated\.\w+$|\.g\.dart$|\.freezed\.dart$|\.snap$"
    r"|\.min\.(js|mjs|css)$|[.-]bundle\.js$|\.map$|(^|/)\.pnp\.c?js$"
)
_KEY_SUFFIXES = (".pem", ".crt", ".cer", ".key", ".csr", ".p12", ".pfx", ".der", ".p7b", ".p7c", ".jks", ".keystore")
_KEY_NAMES = frozenset({"id_rsa", "id_dsa", "id_ecdsa", "id_ed25519", "known_hosts", "authorized_keys"})
_DATA_SUFFIXES = (".svg", ".pdf", ".ico", ".woff", ".woff2", ".ttf", ".otf", ".eot", ".bin", ".dat", ".pickle", ".pkl")
_KEY_MARKER = re.compile(r"-----BEGIN [A-Z0-9 ]*(CERTIFICATE|PRIVATE KEY|PUBLIC KEY|CERTIFICATE REQUEST)-----")
_FILE_START = re.compile(r"@@ -\d+(?:,\d+)? \+1[, ]")  # a first hunk at the top of the new file
_GENERATED_MARKER = re.compile(
    r"@generated|Code generated .{0,80}DO NOT EDIT|do not edit.{0,40}generated", re.IGNORECASE
)

_TEST = re.compile(
    r"(^|/)(tests?|__tests__|spec|specs|testing|e2e)/"
    r"|(^|/)(test_[^/]*|[^/]*_test\.\w+|[^/]*\.(test|spec)\.\w+|conftest\.py|[^/]*Tests?\.(java|kt|cs|swift))$"
)
_DOC = re.compile(
    r"(^|/)(docs?|documentation|news|changelog\.d|changes)/"
    r"|\.(md|mdx|rst|txt|adoc|asciidoc|rdoc|org)$"
    r"|(^|/)(README|CHANGELOG|CHANGES|HISTORY|NEWS|AUTHORS|CONTRIBUTING|CODE_OF_CONDUCT|LICEN[CS]E|NOTICE)[^/]*$",
    re.IGNORECASE,
)
_SOURCE, _TESTS, _DOCS = 0, 1, 2


def _kind(path: str) -> int:
    if _TEST.search(path):
        return _TESTS
    if _DOC.search(path):
        return _DOCS
    return _SOURCE


def _reason_by_name(change: PullFile, exclude_paths: Sequence[str]) -> Reason | None:
    path = change.filename
    name = path.rsplit("/", 1)[-1]
    lower = name.lower()
    if any(fnmatch.fnmatch(path, pattern) for pattern in exclude_paths):
        return Reason.EXCLUDED
    if change.status == "removed":
        return Reason.DELETED
    if name in _LOCKFILES:
        return Reason.LOCKFILE
    if _VENDORED.search(path) and not _VENDOR_MANIFEST.search(path):
        return Reason.VENDORED
    if _GENERATED.search(path):
        return Reason.GENERATED
    if lower.endswith(_KEY_SUFFIXES) or name in _KEY_NAMES:
        return Reason.KEY
    if lower.endswith(_DATA_SUFFIXES):
        return Reason.DATA
    return None


def _reason_by_content(patch: str) -> Reason | None:
    if _FILE_START.match(patch) and _GENERATED_MARKER.search("\n".join(patch[:2000].split("\n")[1:8])):
        return Reason.GENERATED  # the marker generators write at the top of the file
    if max(map(len, patch.split("\n"))) > MAX_LONG_LINE:
        return Reason.GENERATED
    counts = features(patch)
    share = (counts["blob"] + counts["hex"]) / max(len(patch), 1)
    if share >= DATA_SHARE:
        return Reason.KEY if _KEY_MARKER.search(patch) else Reason.DATA
    return None


def reason_not_shown(change: PullFile, exclude_paths: Sequence[str] = ()) -> Reason | None:
    """Why `change` is listed by name only, or None when its patch is worth reading."""
    reason = _reason_by_name(change, exclude_paths)
    if reason is not None:
        return reason
    if change.patch is None:
        if change.changed_lines == 0 and change.status in {"renamed", "copied", "unchanged"}:
            return None  # a pure rename: nothing to read, the header says it
        return Reason.BINARY
    return _reason_by_content(change.patch) if change.patch else None


# -- hunks --------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Hunk:
    lines: list[str]
    tokens: int
    changed: int
    # Cumulative token cost of the first k lines, k = 1..: computed only as far as a question needs
    # (a 400-file PR asks about a few lines of each hunk, not all of them).
    _line_costs: list[int] = field(default_factory=list)

    @classmethod
    def of(cls, lines: list[str]) -> _Hunk:
        changed = sum(1 for line in lines[1:] if line[:1] in "+-" and line)
        return cls(lines, _cost("\n".join(lines)), changed)

    def prefix_cost(self, count: int) -> int:
        """Token cost of the first `count` lines (1 <= count <= len(lines))."""
        costs = self._line_costs
        while len(costs) < count:
            self._cost_next()
        return costs[count - 1]

    def lines_within(self, cap: int) -> int:
        """How many first lines cost at most `cap` together."""
        costs = self._line_costs
        while len(costs) < len(self.lines) and (not costs or costs[-1] <= cap):
            self._cost_next()
        return bisect.bisect_right(costs, cap)  # the costs only grow: those not computed are over `cap`

    def _cost_next(self) -> None:
        costs = self._line_costs
        costs.append((costs[-1] if costs else 0) + _cost(self.lines[len(costs)]))

    def changed_in(self, count: int) -> int:
        return sum(1 for line in self.lines[1:count] if line[:1] in "+-" and line)

    @property
    def first_changed(self) -> int:
        """Lines up to and with the first changed one (the least worth showing of a hunk)."""
        return next((i + 1 for i, line in enumerate(self.lines) if i and line[:1] in "+-" and line), len(self.lines))


def _cost(text: str) -> int:
    """Tokens of one newline-joined part: its estimate and one for the joint (estimates add up)."""
    return estimate_tokens(text) + 1


def _hunks(patch: str) -> list[_Hunk]:
    hunks: list[list[str]] = []
    for line in patch.split("\n"):
        if line.startswith("@@") or not hunks:
            hunks.append([line])
        else:
            hunks[-1].append(line)
    while hunks and hunks[-1] == [""]:
        hunks.pop()
    return [_Hunk.of(lines) for lines in hunks]


# -- the fill -----------------------------------------------------------------------------------


def _counts(additions: int, deletions: int) -> str:
    return f"+{additions} {MINUS}{deletions}"


def _shown(path: str) -> str:
    """A path on one line: a file name may hold a newline or other control characters (git allows
    them), which must not start a line of their own in the prompt."""
    return _CONTROL.sub("\ufffd", path)


def _status(change: PullFile) -> str:
    if change.previous_filename and change.status in {"renamed", "copied"}:
        return f"{change.status} from {_shown(change.previous_filename)}"
    return _shown(change.status)


def _header(change: PullFile, shown: tuple[int, int, int] | None = None) -> str:
    """`--- path (modified, +12 −3)`, and what was shown when it was not the whole file."""
    head = f"--- {_shown(change.filename)} ({_status(change)}, {_counts(change.additions, change.deletions)}"
    if not change.patch:
        return head + ", no content changes)"
    if shown is None:
        return head + ")"
    hunks, total, lines = shown
    return head + f"; shown in part: {hunks} of {total} hunks, {lines} of {change.changed_lines} changed lines)"


def _omitted_note(hunks: list[_Hunk], first: int) -> str:
    which = f"hunk {first + 1}" if first + 1 == len(hunks) else f"hunks {first + 1}-{len(hunks)}"
    return f"… [{which} not shown]"


def _cut_note(hunk: _Hunk, shown_lines: int) -> str:
    more, changed = len(hunk.lines) - shown_lines, hunk.changed - hunk.changed_in(shown_lines)
    return f"… [hunk cut here: {more} more lines, {changed} of them changed]"


@dataclass(slots=True)
class _Candidate:
    """A file worth reading, and how much of it is taken: `full` whole hunks (a prefix), then
    `partial` lines of the next one (its @@ line included; 0 for none)."""

    change: PullFile
    hunks: list[_Hunk]
    full: int = 0
    partial: int = 0
    taken: bool = False
    _sums: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._sums = [0, *itertools.accumulate(h.tokens for h in self.hunks)]

    def lines_shown(self, full: int, partial: int) -> int:
        shown = sum(h.changed for h in self.hunks[:full])
        return shown + (self.hunks[full].changed_in(partial) if partial else 0)

    def notes(self, full: int, partial: int) -> tuple[str, str | None, str | None]:
        """The header, the note where a hunk was cut, the note on the hunks left out."""
        if full == len(self.hunks):
            return _header(self.change), None, None
        shown_hunks = full + (1 if partial else 0)
        header = _header(self.change, (shown_hunks, len(self.hunks), self.lines_shown(full, partial)))
        cut = _cut_note(self.hunks[full], partial) if partial else None
        omitted = _omitted_note(self.hunks, shown_hunks) if shown_hunks < len(self.hunks) else None
        return header, cut, omitted

    def cost(self, full: int, partial: int) -> int:
        """Tokens of this file's part of the text in state (full, partial); 0 when nothing is shown."""
        if self.hunks and full == 0 and partial == 0:
            return 0
        cost = sum(_cost(note) for note in self.notes(full, partial) if note is not None) + self._sums[full]
        if partial:
            cost += self.hunks[full].prefix_cost(partial)
        return cost

    @property
    def current(self) -> int:
        return self.cost(self.full, self.partial) if self.taken else 0

    @property
    def whole(self) -> bool:
        return self.full == len(self.hunks)

    def render(self) -> tuple[str, ShownFile]:
        change, hunks, full, partial = self.change, self.hunks, self.full, self.partial
        header, cut, omitted = self.notes(full, partial)
        parts = [header, *("\n".join(h.lines) for h in hunks[:full])]
        if partial and cut:
            parts += ["\n".join(hunks[full].lines[:partial]), cut]
        if omitted:
            parts.append(omitted)
        shown = ShownFile(
            path=change.filename,
            status=change.status,
            previous_path=change.previous_filename,
            additions=change.additions,
            deletions=change.deletions,
            hunks_shown=full + (1 if partial else 0),
            hunks_total=len(hunks),
            lines_shown=self.lines_shown(full, partial),
            lines_total=change.changed_lines if hunks else 0,
            whole=full == len(hunks),
        )
        return "\n".join(parts), shown


def _first_hunk(candidate: _Candidate, cap: int) -> tuple[int, int]:
    """The state showing `candidate`'s first hunk within `cap` tokens of it: whole, or cut at a
    line - though never before its first changed line (context alone says nothing)."""
    first = candidate.hunks[0]
    if first.tokens <= cap:
        return (1, 0)
    lines = min(max(first.lines_within(cap), first.first_changed + 1), len(first.lines) - 1)
    return (0, lines) if lines >= 2 else (1, 0)


def _rank(candidate: _Candidate) -> tuple[int, int, str]:
    """Source, tests, docs; modified and added before renamed; larger changes first."""
    change = candidate.change
    renamed = 1 if change.status in {"renamed", "copied"} else 0
    return (_kind(change.filename) * 2 + renamed, -change.changed_lines, change.filename)


class _Fill:
    def __init__(self, candidates: list[_Candidate], budget: int) -> None:
        self.candidates = candidates
        self.budget = budget
        self.remaining = budget

    def move(self, candidate: _Candidate, full: int, partial: int, cap: int | None = None) -> bool:
        """Take `candidate` to state (full, partial) if it fits; True when it did."""
        new = candidate.cost(full, partial)
        delta = new - candidate.current
        if delta > self.remaining or (cap is not None and new > cap):
            return False
        candidate.full, candidate.partial, candidate.taken = full, partial, True
        self.remaining -= delta
        return True

    def mechanical(self) -> bool:
        """Many files of small hunks: a formatter run, a rename across the tree, type hints."""
        hunks = [h.changed for c in self.candidates for h in c.hunks]
        small = sum(1 for changed in hunks if changed <= MECHANICAL_HUNK_LINES)
        return len(self.candidates) >= MECHANICAL_FILES and small >= 0.8 * len(hunks)

    def breadth(self) -> None:
        """Every file's first hunk, up to FIRST_HUNK_CAP tokens of it, from BREADTH_SHARE of the
        budget; with many files, the largest cap at which they all fit (at least one changed line
        each), and in rank order while the share lasts when not even that fits."""
        reserve = int(self.budget * (MECHANICAL_BREADTH_SHARE if self.mechanical() else BREADTH_SHARE))
        least = sum(c.cost(*_first_hunk(c, 0)) for c in self.candidates)  # a changed line of each
        reserve = max(reserve, min(least, int(self.budget * BREADTH_MOST)))
        if len(self.candidates) <= BREADTH_SEARCH_FILES:
            low, high = 0, FIRST_HUNK_CAP
            while low < high:  # the largest cap whose first hunks all fit the share
                middle = (low + high + 1) // 2
                if sum(c.cost(*_first_hunk(c, middle)) for c in self.candidates) <= reserve:
                    low = middle
                else:
                    high = middle - 1
            cap = low
        else:  # too many files to search: an even share of what the least leaves
            cap = max(0, (reserve - least) // len(self.candidates))
        for candidate in self.candidates:
            state = _first_hunk(candidate, cap)
            spent = candidate.cost(*state)
            if spent <= reserve and self.move(candidate, *state):
                reserve -= spent

    def whole(self, cap: int) -> None:
        """In rank order, each file whole where it fits (a file at most `cap`)."""
        for candidate in self.candidates:
            if not candidate.whole:
                self.move(candidate, len(candidate.hunks), 0, cap)

    def depth(self) -> None:
        """In rank order, the next hunks of the rest, whole, while they fit."""
        for candidate in self.candidates:
            while not candidate.whole and self.move(candidate, candidate.full + 1, 0):
                pass

    def leftovers(self) -> None:
        """What is left: the next hunk of each file in rank order, cut at a line boundary."""
        for candidate in self.candidates:
            if candidate.whole or self.move(candidate, candidate.full + 1, 0):
                continue
            full, hunk = candidate.full, candidate.hunks[candidate.full]
            # The notes cost the most with one line shown (their counts only shrink); +2 for digits.
            fixed = candidate.cost(full, 1) - hunk.prefix_cost(1) + 2
            lines = min(hunk.lines_within(self.remaining + candidate.current - fixed), len(hunk.lines) - 1)
            least = max(candidate.partial + MIN_CUT_LINES, candidate.hunks[full].first_changed + 1, 2)
            while lines >= least and not self.move(candidate, full, lines):
                lines -= 1


def fit_diff(
    files: Sequence[PullFile], budget_tokens: int = DEFAULT_DIFF_BUDGET_TOKENS, exclude_paths: Sequence[str] = ()
) -> BudgetedDiff:
    """Choose what of each file the model reads, within `budget_tokens` (the rules: this module's doc)."""
    listed: list[NotShownFile] = []
    candidates: list[_Candidate] = []
    for change in files:
        reason = reason_not_shown(change, exclude_paths)
        if reason is None:
            candidates.append(_Candidate(change, _hunks(change.patch) if change.patch else []))
        else:
            listed.append(NotShownFile(change.filename, change.status, change.additions, change.deletions, reason))
    candidates.sort(key=_rank)

    fill = _Fill([c for c in candidates if c.hunks], budget_tokens)
    for candidate in candidates:  # a pure rename costs its header only: certain and cheap
        if not candidate.hunks:
            fill.move(candidate, 0, 0)
    if sum(c.cost(len(c.hunks), 0) for c in fill.candidates) <= fill.remaining:  # everything fits
        for candidate in fill.candidates:
            fill.move(candidate, len(candidate.hunks), 0)
    else:
        fill.breadth()
        fill.whole(int(budget_tokens * PER_FILE_SHARE))
        fill.depth()
        fill.leftovers()

    texts: list[str] = []
    shown: list[ShownFile] = []
    over: list[NotShownFile] = []
    for candidate in candidates:
        change = candidate.change
        if candidate.taken:
            text, file = candidate.render()
            texts.append(text)
            shown.append(file)
        else:
            over.append(NotShownFile(change.filename, change.status, change.additions, change.deletions, Reason.BUDGET))
    text = "\n\n".join(texts)
    return BudgetedDiff(
        shown=tuple(shown),
        not_shown=tuple(over + listed),
        text=text,
        tokens=estimate_tokens(text),
        budget=budget_tokens,
        pr_paths=all_paths(files),
    )


def _short(path: str, limit: int = 60) -> str:
    return path if len(path) <= limit else "…" + path[-(limit - 1) :]


def _by_reason(files: Sequence[NotShownFile]) -> str:
    counts = Counter(f.reason for f in files)
    return ", ".join(f"{count} {reason}" for reason, count in counts.most_common())

"""Cut a pull request's diff to a fixed budget before it reaches the model. Pure.

Cost per event is bounded here: whatever the size of the PR, the prompt stays under a budget.
Files that say nothing about intent go first (lockfiles, generated, minified, binary, paths the
repository excludes); then the largest patches are cut to a common cap, so many small files
survive whole and no single giant file eats the budget.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

CHARS_PER_TOKEN = 4
# Below this many characters a cut patch tells the model nothing; leave the file out instead.
MIN_USEFUL_PATCH = 400
CUT_NOTE = "\n… [patch cut to fit the budget]"
# The rest of a summary request, bounded too, so the whole prompt has a fixed ceiling (~12k tokens).
BODY_CHARS = 6_000
COMMITS_CHARS = 4_000
SKIPPED_CHARS = 3_000
CLIP_NOTE = "\n… [cut]"

_LOCKFILES = frozenset(
    {
        "package-lock.json",
        "npm-shrinkwrap.json",
        "yarn.lock",
        "pnpm-lock.yaml",
        "bun.lockb",
        "poetry.lock",
        "Pipfile.lock",
        "uv.lock",
        "pdm.lock",
        "Cargo.lock",
        "go.sum",
        "Gemfile.lock",
        "composer.lock",
        "mix.lock",
        "flake.lock",
        "packages.lock.json",
        "pubspec.lock",
        "Podfile.lock",
    }
)
_GENERATED = re.compile(
    r"(^|/)(dist|build|vendor|node_modules|__generated__|generated)/"
    r"|_pb2(_grpc)?\.pyi?$|\.pb\.go$|\.generated\.\w+$|\.snap$|\.min\.(js|css)$|\.map$"
)


@dataclass(frozen=True, slots=True)
class FileChange:
    filename: str
    status: str = "modified"
    additions: int = 0
    deletions: int = 0
    patch: str | None = None  # GitHub omits it for binary files and very large diffs


@dataclass(frozen=True, slots=True)
class BudgetedDiff:
    included: list[tuple[str, str]] = field(default_factory=list)  # (path, patch) in PR order
    skipped: list[str] = field(default_factory=list)  # "path: reason"
    shortened: list[str] = field(default_factory=list)  # paths whose patch was cut

    def chars(self) -> int:
        return sum(len(patch) for _, patch in self.included)


def _noise_reason(change: FileChange, excluded: Sequence[str]) -> str | None:
    name = change.filename.rsplit("/", 1)[-1]
    if any(fnmatch.fnmatch(change.filename, pattern) for pattern in excluded):
        return "excluded by the repository's config"
    if name in _LOCKFILES:
        return "lockfile"
    if _GENERATED.search(change.filename):
        return "generated or minified"
    if change.patch is None:
        return "binary or too large for GitHub to show"
    if change.patch and max(len(line) for line in change.patch.splitlines() or [""]) > 1000:
        return "generated or minified"
    return None


def _common_cap(sizes: list[int], budget: int) -> int:
    """The largest cap c with sum(min(size, c)) <= budget (water-filling)."""
    if sum(sizes) <= budget:
        return max(sizes, default=0)
    remaining, count = budget, len(sizes)
    for size in sorted(sizes):
        share = remaining // count
        if size > share:
            return share
        remaining -= size
        count -= 1
    return remaining


def _too_thin(sizes: list[int], budget: int) -> bool:
    """True when the patches do not all fit and the common cap is too small to tell anything."""
    return sum(sizes) > budget and _common_cap(sizes, budget) < MIN_USEFUL_PATCH


def fit_diff(changes: Sequence[FileChange], budget_tokens: int, excluded: Sequence[str] = ()) -> BudgetedDiff:
    """Choose what of each file's patch the model reads, within `budget_tokens`."""
    result = BudgetedDiff()
    candidates: list[FileChange] = []
    for change in changes:
        reason = _noise_reason(change, excluded)
        if reason:
            result.skipped.append(f"{change.filename}: {reason}")
        else:
            candidates.append(change)

    budget = budget_tokens * CHARS_PER_TOKEN
    # Leave out the largest files whole while the common cap would be too small to be useful.
    kept = sorted(candidates, key=lambda change: len(change.patch or ""))
    while kept and _too_thin([len(c.patch or "") for c in kept], budget):
        dropped = kept.pop()
        result.skipped.append(f"{dropped.filename}: too large for the budget")
    cap = _common_cap([len(c.patch or "") for c in kept], budget)
    keep = {change.filename for change in kept}
    for change in changes:
        if change.filename not in keep:
            continue
        patch = change.patch or ""
        if len(patch) > cap:
            patch = patch[: max(cap - len(CUT_NOTE), 0)] + CUT_NOTE
            result.shortened.append(change.filename)
        result.included.append((change.filename, patch))
    return result


def clip(text: str, limit: int) -> str:
    """`text` within `limit` characters, saying where it was cut."""
    return text if len(text) <= limit else text[: max(limit - len(CLIP_NOTE), 0)] + CLIP_NOTE

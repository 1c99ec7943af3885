"""The bounds of a summary request's text other than the diff. Pure.

The diff has its own budget, in tokens (bot/core/diff_budget.py); the PR's description, its
commit messages and the list of files not shown are clipped here, so the rest of a call is bounded
too and the whole call stays under SUMMARY_MAX_INPUT_TOKENS (docs/summary-budget.md).
"""

from __future__ import annotations

BODY_CHARS = 6_000
COMMITS_CHARS = 4_000
SKIPPED_CHARS = 3_000
CLIP_NOTE = "\n… [cut]"


def clip(text: str, limit: int) -> str:
    """`text` within `limit` characters, saying where it was cut."""
    return text if len(text) <= limit else text[: max(limit - len(CLIP_NOTE), 0)] + CLIP_NOTE

"""The bounds of a summary request's text other than the diff. Pure.

The diff has its own budget, in tokens (bot/core/summary/diff_budget.py); the PR's description, its
commit messages and the list of files not shown are clipped here, in characters and in estimated
tokens (emoji or CJK text costs 1.5-3 tokens a character), so the rest of a call is bounded
whatever it is written in, and the whole call stays under SUMMARY_MAX_INPUT_TOKENS
(docs/summary-budget.md).
"""

from __future__ import annotations

from bot.core.text import CLIP_NOTE, clip

__all__ = ["CLIP_NOTE", "clip"]

TITLE_CHARS = 256  # GitHub's own limit on a title
BODY_CHARS, BODY_TOKENS = 6_000, 1_500
COMMITS_CHARS, COMMITS_TOKENS = 4_000, 1_000
SKIPPED_CHARS, SKIPPED_TOKENS = 3_000, 1_000

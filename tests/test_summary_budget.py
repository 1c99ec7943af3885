"""The whole summary call stays under SUMMARY_MAX_INPUT_TOKENS whatever the PR is written in: the
text around the diff is clipped in tokens too, so even the smallest ceiling allowed
(MIN_PROMPT_CEILING_TOKENS) leaves the diff a real part of the call."""

from __future__ import annotations

import base64
import random

import pytest

from bot.adapters.github import PullDetails
from bot.config import MIN_PROMPT_CEILING_TOKENS
from bot.core.repo_config import parse_config
from bot.core.summary import bounds as budget
from bot.core.summary.diff_budget import BudgetedDiff, PullFile
from bot.core.tokens import estimate_tokens
from bot.worker.actions.summarize import _question, fit_question, question_tokens
from bot.worker.deps import Deps

_RANDOM = random.Random(9)
TEXTS = {
    "prose": "The quick brown fox jumps over the lazy dog, again and again. " * 400,
    "cjk": "漢字仮名交じり文の例です。" * 2_000,
    "emoji": "🙂🚀✨" * 8_000,
    "base64": base64.b64encode(_RANDOM.randbytes(30_000)).decode(),
    "hex": _RANDOM.randbytes(20_000).hex(),
}


@pytest.mark.parametrize("kind", sorted(TEXTS))
def test_clip_holds_in_characters_and_in_tokens(kind: str) -> None:
    clipped = budget.clip(TEXTS[kind], budget.BODY_CHARS, tokens=budget.BODY_TOKENS)
    assert len(clipped) <= budget.BODY_CHARS and estimate_tokens(clipped) <= budget.BODY_TOKENS
    assert clipped.endswith(budget.CLIP_NOTE)
    # Cut at the nearer of the two limits, not far before it.
    assert len(clipped) == budget.BODY_CHARS or estimate_tokens(clipped) > 0.9 * budget.BODY_TOKENS
    assert budget.clip("short", 100, tokens=100) == "short"


@pytest.mark.parametrize("kind", sorted(TEXTS))
def test_the_smallest_ceiling_leaves_the_diff_room_whatever_the_pr_is_written_in(deps: Deps, kind: str) -> None:
    text = TEXTS[kind]
    config = parse_config(f"instructions: {text[:2000]!r}\n").config  # the longest instructions allowed
    pull = PullDetails(2, text[:300], text, True, "0" * 40, "someone")
    commits = [text] * 50
    files = [PullFile(filename=f"src/{text[:40]}{i}.py", additions=300, patch="+x = 1\n" * 300) for i in range(400)]

    fixed = question_tokens(_question("o/r", pull, commits, BudgetedDiff(), config, deps))
    assert fixed <= 0.6 * MIN_PROMPT_CEILING_TOKENS  # ~10k at worst: 2,000 characters of emoji as instructions
    diff, question = fit_question(
        files,
        lambda d: _question("o/r", pull, commits, d, config, deps),
        diff_tokens=40_000,
        ceiling=MIN_PROMPT_CEILING_TOKENS,
    )
    assert question_tokens(question) <= MIN_PROMPT_CEILING_TOKENS
    assert diff.tokens >= 5_000 and diff.not_shown  # the diff got a real part; what did not fit is listed

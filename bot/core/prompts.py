"""Prompt templates, read from `prompts/` once, filled with data clearly fenced as untrusted. Pure
apart from `load`.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from string import Template

# In a checkout (and an editable install): the repository's prompts/. In an installed wheel: the
# copy pyproject.toml's data-files puts under the environment's share/.
_CANDIDATES = (Path(__file__).resolve().parents[2] / "prompts", Path(sys.prefix) / "share" / "hookwise" / "prompts")
PROMPTS_DIR = next((path for path in _CANDIDATES if path.is_dir()), _CANDIDATES[0])
_FENCE_BREAK = re.compile(r"</?\s*untrusted", re.IGNORECASE)


def fence(text: str | None) -> str:
    """Untrusted text cannot close (or open) the tag that marks it as data."""
    return _FENCE_BREAK.sub(lambda match: match.group(0).replace("<", "‹"), text or "")


def instructions_block(instructions: str) -> str:
    """The repository's own extra instructions (from its config, which only people who can push
    to the default branch can change), as a paragraph of the system prompt."""
    text = instructions.strip()
    return f"\nThe maintainers of this repository add these instructions:\n{text}\n" if text else ""


@dataclass(frozen=True, slots=True)
class PromptPair:
    system: Template
    user: Template


@dataclass(frozen=True, slots=True)
class Prompts:
    summary: PromptPair
    triage: PromptPair
    # The repository's label list: its own system block after triage's system text, so the label
    # list is part of the cached prefix while the issue (which varies) stays in the user turn.
    triage_labels: Template
    release_notes: PromptPair

    @classmethod
    def load(cls, directory: Path = PROMPTS_DIR) -> Prompts:
        def pair(name: str) -> PromptPair:
            return PromptPair(
                Template((directory / f"{name}.system.md").read_text(encoding="utf-8")),
                Template((directory / f"{name}.user.md").read_text(encoding="utf-8")),
            )

        labels = Template((directory / "triage.labels.md").read_text(encoding="utf-8"))
        return cls(
            summary=pair("summary"), triage=pair("triage"), triage_labels=labels, release_notes=pair("release_notes")
        )

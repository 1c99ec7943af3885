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
# What reads as a tag to a model: `<untrusted` or `</untrusted`, also with a space or an invisible
# character after `<`, a full-width or small `<`, or the HTML entity.
_INVISIBLE = re.compile("[\u00ad\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff]")
_TAG_LIKE = re.compile(r"(<|＜|﹤|&lt;|&#0*60;|&#x0*3c;)(?=[\s/]*untrusted)", re.IGNORECASE)


def fence(text: str | None) -> str:
    """Untrusted text (issue and pull-request titles and bodies, commit messages, examples,
    release-note entries) as it may go between `<untrusted>` tags: it can neither close nor open
    one. The one fence every untrusted text gets."""
    return _TAG_LIKE.sub("‹", _INVISIBLE.sub("", text or ""))


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

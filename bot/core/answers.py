"""The shapes of the model's answers, validated before anything reaches GitHub."""

from __future__ import annotations

import enum

from pydantic import BaseModel, ConfigDict, Field


class Risk(enum.StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class PullSummary(BaseModel):
    """What a merged pull request changed and why, as the summary comment shows it."""

    model_config = ConfigDict(extra="forbid")

    overview: str = Field(description="One or two sentences: what this pull request does.", max_length=1200)
    changes: list[str] = Field(
        description="The main changes, one short bullet each, most important first.",
        min_length=1,
        max_length=12,
    )
    why: str = Field(description="Why the change was made, from the description and commits.", max_length=1500)
    risk: Risk = Field(description="How risky the change is for users of the project.")
    risk_notes: str = Field(
        default="", description="What could break or needs a follow-up; empty when nothing.", max_length=1200
    )
    notable_files: list[str] = Field(
        default_factory=list, description="Paths a reviewer should look at first.", max_length=10
    )


class LabelChoice(BaseModel):
    """Which of the repository's labels apply to a new issue; possibly none."""

    model_config = ConfigDict(extra="forbid")

    labels: list[str] = Field(description="Names of labels that apply, only from the list given.", max_length=10)
    reason: str = Field(
        default="", description="One sentence on why these labels (or none) apply.", max_length=600
    )  # asked for only where a triage comment shows it (bot/core/triage.py: wants_reason)

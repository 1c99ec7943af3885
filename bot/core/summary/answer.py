"""The shape of a summary answer, validated before anything reaches GitHub."""

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

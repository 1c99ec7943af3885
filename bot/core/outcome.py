"""What a handler did, as a value. Pure.

Handlers return an `Outcome`; the worker merges it into the job's provenance record (what ran,
what it did, what the model cost). Retrying and failing are the worker's verdicts, not handlers'.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict


class OutcomeKind(enum.StrEnum):
    DONE = "done"
    SKIPPED = "skipped"
    RETRYING = "retrying"
    FAILED = "failed"


class ModelUsage(BaseModel):
    """One AI step's model calls and tokens (a repair turn is a second call of the same step)."""

    model_config = ConfigDict(frozen=True)

    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0
    calls: int = 1

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens + self.cache_write_tokens + self.cache_read_tokens


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: OutcomeKind
    detail: str = ""
    comment_id: int | None = None
    labels: tuple[str, ...] = ()
    usage: tuple[ModelUsage, ...] = field(default=())

    @classmethod
    def done(
        cls,
        detail: str,
        *,
        comment_id: int | None = None,
        labels: tuple[str, ...] | list[str] = (),
        usage: tuple[ModelUsage, ...] | ModelUsage | None = None,
    ) -> Outcome:
        spent = (usage,) if isinstance(usage, ModelUsage) else (usage or ())
        return cls(OutcomeKind.DONE, detail, comment_id, tuple(labels), spent)

    @classmethod
    def skipped(cls, detail: str) -> Outcome:
        return cls(OutcomeKind.SKIPPED, detail)

    def with_usage(self, *usage: ModelUsage) -> Outcome:
        return Outcome(self.kind, self.detail, self.comment_id, self.labels, (*self.usage, *usage))

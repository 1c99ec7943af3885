"""What a handler did, as a value. Pure.

Handlers return an `Outcome`; the worker merges it into the job's provenance record (what ran,
what it did, what the model cost). Retrying and failing are the worker's verdicts, not handlers'.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace

from pydantic import BaseModel, ConfigDict


class OutcomeKind(enum.StrEnum):
    DONE = "done"
    SKIPPED = "skipped"
    RETRYING = "retrying"
    FAILED = "failed"
    # Handed on: a new issue registered for a triage batch. The batch job writes this delivery's
    # final record (and marks it done or failed) once the issue is labelled or judged skipped.
    WAITING = "waiting"


class ModelUsage(BaseModel):
    """One AI step's model calls and tokens (a repair turn is a second call of the same step)."""

    model_config = ConfigDict(frozen=True)

    model: str
    provider: str = "anthropic"  # where the model ran (bot/core/model/providers.py); older records: the Claude API
    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0
    calls: int = 1
    cost_usd: float = 0.0  # priced per call when it was made (bot/core/costs/pricing.py), then summed
    estimated_calls: int = 0  # calls whose answer carried no usage: their tokens are estimates

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens + self.cache_write_tokens + self.cache_read_tokens

    def __add__(self, other: ModelUsage) -> ModelUsage:
        """Two calls of one step (a repair turn); the model named is the later call's."""
        return ModelUsage(
            model=other.model,
            provider=other.provider,
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cache_write_tokens=self.cache_write_tokens + other.cache_write_tokens,
            cache_read_tokens=self.cache_read_tokens + other.cache_read_tokens,
            calls=self.calls + other.calls,
            cost_usd=self.cost_usd + other.cost_usd,
            estimated_calls=self.estimated_calls + other.estimated_calls,
        )

    def share(self, parts: int, index: int) -> ModelUsage:
        """Part `index` (0-based) of `parts` equal parts of this usage: what one issue of a batch
        of `parts` is charged in its record. The parts add up to the whole, tokens exactly (the
        remainder goes to the first parts), so history's per-issue figures sum to the real call."""
        parts = max(parts, 1)

        def cut(total: int) -> int:
            return total // parts + (1 if index < total % parts else 0)

        return ModelUsage(
            model=self.model,
            provider=self.provider,
            input_tokens=cut(self.input_tokens),
            output_tokens=cut(self.output_tokens),
            cache_write_tokens=cut(self.cache_write_tokens),
            cache_read_tokens=cut(self.cache_read_tokens),
            calls=self.calls,
            cost_usd=self.cost_usd / parts,
            estimated_calls=self.estimated_calls,
        )


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: OutcomeKind
    detail: str = ""
    comment_id: int | None = None
    labels: tuple[str, ...] = ()
    usage: tuple[ModelUsage, ...] = field(default=())
    batch_size: int = 0  # answered in one model call with this many issues (0: not batched)
    reply: str = ""  # markdown a command answers with, when the action has something to tell (shadow triage)

    @classmethod
    def done(
        cls,
        detail: str,
        *,
        comment_id: int | None = None,
        labels: tuple[str, ...] | list[str] = (),
        usage: tuple[ModelUsage, ...] | ModelUsage | None = None,
        reply: str = "",
    ) -> Outcome:
        spent = (usage,) if isinstance(usage, ModelUsage) else (usage or ())
        return cls(OutcomeKind.DONE, detail, comment_id, tuple(labels), spent, reply=reply)

    @classmethod
    def skipped(cls, detail: str) -> Outcome:
        return cls(OutcomeKind.SKIPPED, detail)

    @classmethod
    def waiting(cls, detail: str) -> Outcome:
        return cls(OutcomeKind.WAITING, detail)

    def with_usage(self, *usage: ModelUsage) -> Outcome:
        return replace(self, usage=(*self.usage, *usage))

    def in_batch(self, size: int) -> Outcome:
        """This outcome, as one issue's of a batched answer of `size` issues."""
        return replace(self, batch_size=size)

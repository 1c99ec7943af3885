"""Where a job waits before it runs, and which services it needs. Pure.

- `lane`: a maintainer's command goes before bulk work of the same installation (the fair queue,
  bot/adapters/store/fairness.py); forgetting an uninstalled installation's data goes straight to
  the queue (it must happen within a minute, whatever backlog or outage there is).
- `needs`: the dependencies a job cannot start without (bot/core/operations/breaker.py). A job whose
  dependency's breaker is open waits for it before it reads anything; the model is named per task
  (`ANTHROPIC_MODEL_TRIAGE`, `ANTHROPIC_MODEL_SUMMARY`). A command may or may not call the model:
  it is checked at the call.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import assert_never

from bot.core.ingress.job import CommandJob, ConfigJob, ForgetJob, Job, LabelJob, SummaryJob, TriageJob
from bot.core.operations.breaker import Dependency


class Lane(enum.StrEnum):
    COMMAND = "c"  # before the installation's bulk work
    BULK = "b"  # round robin with every other installation's
    DIRECT = "d"  # straight to arq's queue, no fair share


def lane(job: Job) -> Lane:
    match job:
        case CommandJob():
            return Lane.COMMAND
        case ForgetJob():
            return Lane.DIRECT
        case SummaryJob() | TriageJob() | ConfigJob() | LabelJob():
            return Lane.BULK
        case _:
            assert_never(job)


def needs(job: Job, github: Dependency, model: Callable[[str], Dependency]) -> tuple[Dependency, ...]:
    """The dependencies `job` needs before it starts; `model(task)` is the model of a task."""
    match job:
        case SummaryJob():
            return (github, model("summary"))
        case TriageJob() | CommandJob() | ConfigJob() | LabelJob():
            return (github,)
        case ForgetJob():
            return ()
        case _:
            assert_never(job)

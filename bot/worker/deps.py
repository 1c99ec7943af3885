"""What a handler needs, built once per worker process in arq's `on_startup`."""

from __future__ import annotations

from dataclasses import dataclass

from bot.adapters.github import GitHubApp
from bot.adapters.llm import LLM
from bot.adapters.store.config_cache import ConfigStore
from bot.adapters.store.cooldowns import Cooldowns
from bot.adapters.store.costs import CostLedger
from bot.adapters.store.effects import Effects
from bot.adapters.store.permissions import Permissions
from bot.adapters.store.triage_queue import TriageQueue
from bot.core.prompts import Prompts

# The diff a summary may read, in tokens; with the PR text and instructions a summary request
# stays under ~12k input tokens however large the pull request is.
DIFF_BUDGET_TOKENS = 8_000


@dataclass(frozen=True, slots=True)
class Models:
    """The model of each AI step (`ANTHROPIC_MODEL_TRIAGE`, `ANTHROPIC_MODEL_SUMMARY`)."""

    triage: str
    summary: str


@dataclass(frozen=True, slots=True)
class Deps:
    github: GitHubApp
    llm: LLM
    prompts: Prompts
    effects: Effects
    configs: ConfigStore
    permissions: Permissions
    cooldowns: Cooldowns
    meter: CostLedger  # the cost ledger and daily budget: checked before, counted after each model call
    models: Models
    triage_queue: TriageQueue  # micro-batched triage; `batching` False sends every issue alone
    batching: bool = True
    diff_budget_tokens: int = DIFF_BUDGET_TOKENS

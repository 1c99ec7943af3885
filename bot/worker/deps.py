"""What a handler needs, built once per worker process in arq's `on_startup`."""

from __future__ import annotations

from dataclasses import dataclass

from bot.adapters.github import GitHubApp
from bot.adapters.llm import LLM
from bot.adapters.store.agreement import AgreementStore
from bot.adapters.store.config_cache import ConfigStore
from bot.adapters.store.cooldowns import Cooldowns
from bot.adapters.store.effects import Effects
from bot.adapters.store.permissions import Permissions
from bot.core.prompts import Prompts

# The diff a summary may read, in tokens; with the PR text and instructions a summary request
# stays under ~12k input tokens however large the pull request is.
DIFF_BUDGET_TOKENS = 8_000


@dataclass(frozen=True, slots=True)
class Deps:
    github: GitHubApp
    llm: LLM
    prompts: Prompts
    effects: Effects
    configs: ConfigStore
    permissions: Permissions
    cooldowns: Cooldowns
    agreement: AgreementStore
    diff_budget_tokens: int = DIFF_BUDGET_TOKENS

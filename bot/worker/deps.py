"""What a handler needs, built once per worker process in arq's `on_startup`."""

from __future__ import annotations

from dataclasses import dataclass

from bot.adapters.github import GitHubApp
from bot.adapters.llm import LLM, ModelClient
from bot.adapters.store.agreement import AgreementStore
from bot.adapters.store.config_cache import ConfigStore
from bot.adapters.store.cooldowns import Cooldowns
from bot.adapters.store.costs import Spending
from bot.adapters.store.effects import Effects
from bot.adapters.store.forget import Forgetter
from bot.adapters.store.permissions import Permissions
from bot.adapters.store.summaries import SummaryRecords
from bot.adapters.store.triage_queue import TriageQueue
from bot.core.prompts import Prompts
from bot.core.summary.diff_budget import DEFAULT_DIFF_BUDGET_TOKENS, DEFAULT_PROMPT_CEILING_TOKENS
from bot.core.summary.grounding import GITHUB_WEB
from bot.core.tokens import forget_estimates
from bot.worker.learning import Learning


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
    spending: Spending  # the cost ledger and the daily budget: checked before, counted after each model call
    models: Models
    triage_queue: TriageQueue  # micro-batched triage; `batching` False sends every issue alone
    agreement: AgreementStore
    learning: Learning  # the agreement records' figures and examples, a minute per repository
    summaries: SummaryRecords
    forgetter: Forgetter  # deletes an uninstalled installation's data (bot/worker/actions/forget.py)
    batching: bool = True
    # SUMMARY_DIFF_TOKENS and SUMMARY_MAX_INPUT_TOKENS: what a summary's diff may take, and the
    # hard ceiling of the whole call (docs/summary-budget.md).
    diff_budget_tokens: int = DEFAULT_DIFF_BUDGET_TOKENS
    max_input_tokens: int = DEFAULT_PROMPT_CEILING_TOKENS
    web_url: str = GITHUB_WEB  # GITHUB_URL: links to issues and pull requests

    def forget_caches(self) -> None:
        """Empty what this process keeps in memory about repositories (ETags, configs, agreement
        figures and examples, token estimates of diff lines): after a forget, here or in another
        worker (bot/worker/heartbeat.py watches the forget epoch)."""
        self.github.forget_caches()
        self.configs.forget()
        self.learning.forget()
        forget_estimates()

    def model(self, installation_id: int, repository: str, task: str) -> ModelClient:
        """The model as one job's task asks it: every call checked against the installation's
        budget before it and filed in the cost ledger after it (the tasks `costs` lists:
        summary, triage, triage-batch, release-notes)."""
        return ModelClient(self.llm, self.spending.meter(installation_id, repository, task))

"""The one settings object: every environment variable of the operating contract, read once.

`Settings()` reads the environment and a `.env` file in the working directory. Each process then
asks for what it needs (`web_settings`, `worker_settings`), so a missing value fails the start with
one line naming the variable instead of failing a job an hour later.
"""

from __future__ import annotations

import enum
from pathlib import Path

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.core.costs.pricing import ModelPrice, parse_model_prices, price_table
from bot.core.durations import parse_duration
from bot.core.model.providers import Provider
from bot.core.operations import retry
from bot.core.operations.breaker import Dependency, model_breaker
from bot.core.summary.diff_budget import DEFAULT_DIFF_BUDGET_TOKENS, DEFAULT_PROMPT_CEILING_TOKENS
from bot.core.text import first_error
from bot.core.triage import batch

DEFAULT_MODEL = "claude-haiku-5-5"
# A summary call's parts other than the diff (system prompt, tool schema, the description, commits
# and list of files not shown, clipped in tokens, and the repository's instructions) take ~10k
# tokens at worst, so a ceiling this high always leaves the diff a real part of the call
# (tests/test_summary_budget.py measures it on prose, CJK, emoji, base64 and hex).
MIN_PROMPT_CEILING_TOKENS = 20_000
"""Small and fast: a summary of a budgeted diff and a choice among existing labels do not need more."""


class LogLevel(enum.StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class LogFormat(enum.StrEnum):
    TEXT = "text"
    JSON = "json"


class ConfigError(Exception):
    """A setting is missing or malformed; the message is the one line the operator sees."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        case_sensitive=True,
        extra="ignore",
        frozen=True,
    )

    APP_ID: int | None = None
    PRIVATE_KEY: SecretStr | None = None
    PRIVATE_KEY_PATH: Path | None = None
    WEBHOOK_SECRET: SecretStr | None = None
    WEBHOOK_PATH: str = "/api/github/webhooks"
    HOST: str = "0.0.0.0"
    PORT: int = Field(default=3000, ge=0, le=65535)
    REDIS_URL: str = "redis://localhost:6379"
    GITHUB_API_URL: str = "https://api.github.com"
    GITHUB_URL: str = "https://github.com"  # the web root: the manifest flow of `setup`, and links
    # The SDK reads these itself from the environment; they are here too so a `.env` file works.
    ANTHROPIC_API_KEY: SecretStr | None = None
    ANTHROPIC_BASE_URL: str | None = None
    ANTHROPIC_MODEL: str = DEFAULT_MODEL
    ANTHROPIC_MODEL_TRIAGE: str | None = None  # None: ANTHROPIC_MODEL (see model_for)
    ANTHROPIC_MODEL_SUMMARY: str | None = None
    # Where the model runs (bot/core/model/providers.py, docs/providers.md): the Claude API, Amazon Bedrock,
    # Google Vertex AI, or any server answering the Messages API at ANTHROPIC_BASE_URL.
    MODEL_PROVIDER: Provider = Provider.ANTHROPIC
    # Bedrock: what the SDK's Bedrock client and botocore read (here too so a `.env` file works).
    # AWS_BEARER_TOKEN_BEDROCK (a Bedrock API key) instead of SigV4-signed AWS credentials.
    AWS_REGION: str | None = None
    AWS_DEFAULT_REGION: str | None = None
    AWS_PROFILE: str | None = None
    AWS_ACCESS_KEY_ID: SecretStr | None = None
    AWS_SECRET_ACCESS_KEY: SecretStr | None = None
    AWS_SESSION_TOKEN: SecretStr | None = None
    AWS_BEARER_TOKEN_BEDROCK: SecretStr | None = None
    ANTHROPIC_BEDROCK_BASE_URL: str | None = None
    # Vertex: what the SDK's Vertex client and google-auth read. Without GOOGLE_APPLICATION_CREDENTIALS
    # the application default credentials are used (gcloud's login, or the metadata server).
    CLOUD_ML_REGION: str | None = None
    ANTHROPIC_VERTEX_PROJECT_ID: str | None = None
    ANTHROPIC_VERTEX_BASE_URL: str | None = None
    GOOGLE_APPLICATION_CREDENTIALS: Path | None = None
    MODEL_TOKENS_PER_DAY: int = Field(default=2_000_000, ge=0)  # per installation and UTC day; 0 = no limit
    # Strict tools (constrained decoding) for the models the table says offer them (bot/core/model/facts.py);
    # 0 sends every model plain tools, e.g. behind a gateway that refuses `strict`. Answers are
    # validated either way.
    MODEL_STRICT_TOOLS: bool = True
    # Prices override (USD per million tokens), e.g. "claude-haiku-5-5=0.1/0.5" (bot/core/costs/pricing.py).
    MODEL_PRICES: str = ""
    # Micro-batched triage: up to this many new issues of one repository per model call, a lone
    # issue waiting at most TRIAGE_BATCH_WAIT_S for company; 1 (or a wait of 0) turns batching off.
    TRIAGE_BATCH_MAX: int = Field(default=batch.MAX_BATCH, ge=1, le=batch.MAX_BATCH)
    TRIAGE_BATCH_WAIT_S: float = Field(default=batch.MAX_WAIT_S, ge=0, le=60)
    # The summary's diff budget and the hard ceiling of one summary call (docs/summary-budget.md).
    SUMMARY_DIFF_TOKENS: int = Field(default=DEFAULT_DIFF_BUDGET_TOKENS, ge=1_000, le=150_000)
    SUMMARY_MAX_INPUT_TOKENS: int = Field(
        default=DEFAULT_PROMPT_CEILING_TOKENS, ge=MIN_PROMPT_CEILING_TOKENS, le=190_000
    )
    # How long a job whose failure is transient keeps being retried before it is a dead letter
    # (bot/core/operations/retry.py): `45m`, `6h`, `2d`; 1 minute to 3 days.
    RETRY_FOR: str = "6h"
    LOG_LEVEL: LogLevel = LogLevel.INFO
    LOG_FORMAT: LogFormat = LogFormat.TEXT
    DRY_RUN: bool = False
    STATUS_PASSWORD: SecretStr | None = None  # enables GET /status (HTTP Basic, any user name)

    @field_validator("LOG_LEVEL", mode="before")
    @classmethod
    def _lower_level(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("LOG_FORMAT", mode="before")
    @classmethod
    def _text_unless_json(cls, value: object) -> object:
        # Probot's variable: `json` means JSON lines; anything else is the default text.
        return "json" if isinstance(value, str) and value.strip().lower() == "json" else "text"

    @field_validator("WEBHOOK_PATH")
    @classmethod
    def _absolute_path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must start with /")
        return value

    @field_validator("REDIS_URL")
    @classmethod
    def _redis_scheme(cls, value: str) -> str:
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        return value

    @field_validator("MODEL_PROVIDER", mode="before")
    @classmethod
    def _lower_provider(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator(
        "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "CLOUD_ML_REGION", "ANTHROPIC_VERTEX_PROJECT_ID"
    )
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @field_validator(
        "GITHUB_API_URL", "GITHUB_URL", "ANTHROPIC_BASE_URL", "ANTHROPIC_BEDROCK_BASE_URL", "ANTHROPIC_VERTEX_BASE_URL"
    )
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/") if value else value

    @field_validator("ANTHROPIC_MODEL")
    @classmethod
    def _model_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must name a model")
        return value.strip()

    @field_validator("ANTHROPIC_MODEL_TRIAGE", "ANTHROPIC_MODEL_SUMMARY")
    @classmethod
    def _task_model(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @field_validator("MODEL_PRICES")
    @classmethod
    def _prices(cls, value: str) -> str:
        parse_model_prices(value)  # a PriceOverrideError (a ValueError) says which entry is wrong
        return value

    @field_validator("RETRY_FOR")
    @classmethod
    def _retry_for(cls, value: str) -> str:
        seconds = parse_duration(value).total_seconds()  # a ValueError names what was expected
        if not retry.MIN_RETRY_FOR_S <= seconds <= retry.MAX_RETRY_FOR_S:
            raise ValueError(f"must be from 1m to 3d, got {value!r}")
        return value.strip()

    @property
    def retry_for_s(self) -> float:
        return parse_duration(self.RETRY_FOR).total_seconds()

    @field_validator("STATUS_PASSWORD")
    @classmethod
    def _password_not_blank(cls, value: SecretStr | None) -> SecretStr | None:
        return value if value is not None and value.get_secret_value() else None

    def model_for(self, task: str) -> str:
        """The model of one AI step (`triage` or `summary`): its own setting, else ANTHROPIC_MODEL."""
        chosen = {"triage": self.ANTHROPIC_MODEL_TRIAGE, "summary": self.ANTHROPIC_MODEL_SUMMARY}.get(task)
        return chosen or self.ANTHROPIC_MODEL

    def prices(self) -> dict[str, ModelPrice]:
        """The price table: the documented defaults with MODEL_PRICES applied."""
        return price_table(self.MODEL_PRICES)

    @property
    def batching(self) -> bool:
        return self.TRIAGE_BATCH_MAX > 1 and self.TRIAGE_BATCH_WAIT_S > 0

    # -- what each process needs ---------------------------------------------------------------

    def webhook_secrets(self) -> list[bytes]:
        """The accepted secrets (a comma-separated list allows rotation without downtime)."""
        raw = self.WEBHOOK_SECRET.get_secret_value() if self.WEBHOOK_SECRET else ""
        return [part.strip().encode() for part in raw.split(",") if part.strip()]

    def private_key(self) -> str:
        """The App's PEM key, from `PRIVATE_KEY` (literal `\\n` accepted) or `PRIVATE_KEY_PATH`."""
        if self.PRIVATE_KEY is not None:
            pem = self.PRIVATE_KEY.get_secret_value().replace("\\n", "\n").strip()
        elif self.PRIVATE_KEY_PATH is not None:
            try:
                pem = self.PRIVATE_KEY_PATH.read_text().strip()
            except OSError as exc:
                raise ConfigError(f"PRIVATE_KEY_PATH: cannot read {self.PRIVATE_KEY_PATH}: {exc.strerror}") from exc
        else:
            raise ConfigError("PRIVATE_KEY or PRIVATE_KEY_PATH: required for the worker")
        if "PRIVATE KEY-----" not in pem:
            raise ConfigError("PRIVATE_KEY: not a PEM private key")
        return pem + "\n"

    def check_web(self) -> None:
        if not self.webhook_secrets():
            raise ConfigError("WEBHOOK_SECRET: required for the web server")

    def check_worker(self) -> None:
        if self.APP_ID is None:
            raise ConfigError("APP_ID: required for the worker")
        self.private_key()

    # -- where the model runs ---------------------------------------------------------------------

    def bedrock_region(self) -> str | None:
        """The AWS region as the SDK's Bedrock client finds it: AWS_REGION, AWS_DEFAULT_REGION, then
        the AWS profile's configured region (read from ~/.aws/config by botocore, no network)."""
        region = self.AWS_REGION or self.AWS_DEFAULT_REGION
        if region is None:
            try:
                import botocore.session

                found = botocore.session.Session(profile=self.AWS_PROFILE).get_config_variable("region")
            except Exception:  # a profile that is not there, or no botocore: no region from it
                found = None
            region = str(found) if found else None
        return region

    def check_model(self) -> None:
        """What MODEL_PROVIDER needs, checked at the start of the worker, `receive` and `demo`, so a
        missing key stops the start with one line naming the first missing setting instead of
        failing every job. (The web process never talks to the model.)"""
        provider = self.MODEL_PROVIDER
        if provider is Provider.ANTHROPIC:
            if self.ANTHROPIC_API_KEY is None or not self.ANTHROPIC_API_KEY.get_secret_value().strip():
                raise ConfigError("ANTHROPIC_API_KEY: required for the worker (the key of the Claude API)")
        elif provider is Provider.BEDROCK:
            if self.bedrock_region() is None:
                raise ConfigError(
                    "AWS_REGION: required for MODEL_PROVIDER=bedrock (or AWS_DEFAULT_REGION, or a region in the "
                    "AWS profile)"
                )
            if self.AWS_BEARER_TOKEN_BEDROCK is None:
                if self.AWS_ACCESS_KEY_ID is not None and self.AWS_SECRET_ACCESS_KEY is None:
                    raise ConfigError("AWS_SECRET_ACCESS_KEY: required with AWS_ACCESS_KEY_ID")
                if self.AWS_SECRET_ACCESS_KEY is not None and self.AWS_ACCESS_KEY_ID is None:
                    raise ConfigError("AWS_ACCESS_KEY_ID: required with AWS_SECRET_ACCESS_KEY")
        elif provider is Provider.VERTEX:
            if self.CLOUD_ML_REGION is None:
                raise ConfigError("CLOUD_ML_REGION: required for MODEL_PROVIDER=vertex (e.g. global or us-east5)")
            if self.ANTHROPIC_VERTEX_PROJECT_ID is None:
                raise ConfigError("ANTHROPIC_VERTEX_PROJECT_ID: required for MODEL_PROVIDER=vertex")
            path = self.GOOGLE_APPLICATION_CREDENTIALS
            if path is not None and not path.is_file():
                raise ConfigError(f"GOOGLE_APPLICATION_CREDENTIALS: no file at {path}")
        elif provider is Provider.COMPATIBLE and self.ANTHROPIC_BASE_URL is None:
            raise ConfigError(
                "ANTHROPIC_BASE_URL: required for MODEL_PROVIDER=compatible (the server's address, e.g. "
                "http://localhost:11434 for Ollama)"
            )

    def model_endpoint(self) -> str:
        """Where the model is reached, as a URL (its host names the model's circuit breaker)."""
        if self.MODEL_PROVIDER is Provider.BEDROCK:
            region = self.AWS_REGION or self.AWS_DEFAULT_REGION or "us-east-1"
            return self.ANTHROPIC_BEDROCK_BASE_URL or f"https://bedrock-runtime.{region}.amazonaws.com"
        if self.MODEL_PROVIDER is Provider.VERTEX:
            region = self.CLOUD_ML_REGION or "global"
            host = "aiplatform.googleapis.com" if region == "global" else f"{region}-aiplatform.googleapis.com"
            return self.ANTHROPIC_VERTEX_BASE_URL or f"https://{host}"
        return self.ANTHROPIC_BASE_URL or "https://api.anthropic.com"

    def model_dependency(self, model: str) -> Dependency:
        """The breaker of `model` here: one per provider, host and model (the worker's guard and
        retries, and the status page, name the same one)."""
        return model_breaker(self.model_endpoint(), model, self.MODEL_PROVIDER.value)

    @property
    def model_region(self) -> str:
        """The region the model's prices depend on (Vertex's CLOUD_ML_REGION; Bedrock's is in the id)."""
        return (self.CLOUD_ML_REGION or "") if self.MODEL_PROVIDER is Provider.VERTEX else ""


def load_settings(**overrides: object) -> Settings:
    """Build Settings, turning pydantic's report into the one line the contract promises."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError(first_error(exc, whole="settings")) from exc

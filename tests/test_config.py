"""bot.config.load_settings: every contract variable, from keyword overrides and from the environment."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.config import DEFAULT_MODEL, ConfigError, LogLevel, Settings, load_settings

NAMES = tuple(Settings.model_fields)


@pytest.fixture(autouse=True)
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """No setting leaks in from the developer's environment or a stray `.env` in the cwd."""
    for name in NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    yield tmp_path


@pytest.fixture(scope="module")
def pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode()


def _env(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    for name, value in values.items():
        monkeypatch.setenv(name, value)


# -- defaults --------------------------------------------------------------------------------------


def test_defaults() -> None:
    settings = load_settings()
    assert settings.WEBHOOK_PATH == "/api/github/webhooks"
    assert (settings.HOST, settings.PORT) == ("0.0.0.0", 3000)
    assert settings.REDIS_URL == "redis://localhost:6379"
    assert settings.GITHUB_API_URL == "https://api.github.com"
    assert settings.ANTHROPIC_MODEL == DEFAULT_MODEL
    assert settings.LOG_LEVEL is LogLevel.INFO
    assert settings.DRY_RUN is False
    assert settings.APP_ID is None


def test_the_summary_budget_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """New names, not in the contract: the diff budget and the ceiling of one summary call."""
    settings = load_settings()
    assert (settings.SUMMARY_DIFF_TOKENS, settings.SUMMARY_MAX_INPUT_TOKENS) == (40_000, 60_000)
    _env(monkeypatch, SUMMARY_DIFF_TOKENS="20000", SUMMARY_MAX_INPUT_TOKENS="30000")
    settings = load_settings()
    assert (settings.SUMMARY_DIFF_TOKENS, settings.SUMMARY_MAX_INPUT_TOKENS) == (20_000, 30_000)


def test_a_stray_env_file_elsewhere_does_not_count(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / ".env").write_text("PORT=9999\n")
    assert load_settings().PORT == 3000


def test_env_file_in_the_working_directory_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("WEBHOOK_SECRET=from-dotenv\nPORT=4000\nDRY_RUN=1\n")
    settings = load_settings()
    assert settings.webhook_secrets() == [b"from-dotenv"]
    assert settings.PORT == 4000
    assert settings.DRY_RUN is True


def test_environment_wins_over_env_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("PORT=4000\n")
    monkeypatch.setenv("PORT", "5000")
    assert load_settings().PORT == 5000


# -- WEBHOOK_SECRET --------------------------------------------------------------------------------


def test_missing_webhook_secret_stops_the_web_server() -> None:
    settings = load_settings()
    with pytest.raises(ConfigError, match=r"^WEBHOOK_SECRET\b"):
        settings.check_web()


@pytest.mark.parametrize("value", ["", " ", ",", " , ,"])
def test_blank_webhook_secret_stops_the_web_server(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="WEBHOOK_SECRET"):
        load_settings(WEBHOOK_SECRET=value).check_web()
    monkeypatch.setenv("WEBHOOK_SECRET", value)
    with pytest.raises(ConfigError, match="WEBHOOK_SECRET"):
        load_settings().check_web()


def test_comma_separated_secrets_by_keyword() -> None:
    settings = load_settings(WEBHOOK_SECRET="new-secret, old-secret ,")
    settings.check_web()
    assert settings.webhook_secrets() == [b"new-secret", b"old-secret"]


def test_comma_separated_secrets_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBHOOK_SECRET", "new-secret,old-secret")
    settings = load_settings()
    settings.check_web()
    assert settings.webhook_secrets() == [b"new-secret", b"old-secret"]


def test_secret_is_not_shown_in_repr() -> None:
    settings = load_settings(WEBHOOK_SECRET="hunter2")
    assert "hunter2" not in repr(settings)
    assert "hunter2" not in str(settings)


# -- PORT and the other checked values -------------------------------------------------------------


def test_port_abc_by_keyword() -> None:
    with pytest.raises(ConfigError, match=r"^PORT\b"):
        load_settings(PORT="abc")


def test_port_abc_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "abc")
    with pytest.raises(ConfigError, match=r"^PORT\b") as caught:
        load_settings()
    assert "\n" not in str(caught.value)  # one line


@pytest.mark.parametrize("value", ["-1", "65536", "3000.5", ""])
def test_port_out_of_range(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", value)
    with pytest.raises(ConfigError, match=r"^PORT\b"):
        load_settings()


def test_port_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "8080")
    monkeypatch.setenv("HOST", "127.0.0.1")
    settings = load_settings()
    assert (settings.HOST, settings.PORT) == ("127.0.0.1", 8080)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WEBHOOK_PATH", "api/github/webhooks"),
        ("REDIS_URL", "localhost:6379"),
        ("GITHUB_API_URL", "ghe.example.com/api/v3"),
        ("ANTHROPIC_BASE_URL", "api.anthropic.com"),
        ("ANTHROPIC_MODEL", "   "),
        ("LOG_LEVEL", "verbose"),
        ("APP_ID", "abc"),
        ("DRY_RUN", "maybe"),
        ("SUMMARY_DIFF_TOKENS", "lots"),
        ("SUMMARY_DIFF_TOKENS", "500"),
        ("SUMMARY_MAX_INPUT_TOKENS", "8000"),
        ("SUMMARY_MAX_INPUT_TOKENS", "1000000"),
    ],
)
def test_malformed_values_name_the_variable(name: str, value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match=rf"^{name}\b"):
        load_settings(**{name: value})
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=rf"^{name}\b"):
        load_settings()


def test_github_enterprise_url_loses_its_trailing_slash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_API_URL", "https://ghe.example.com/api/v3/")
    assert load_settings().GITHUB_API_URL == "https://ghe.example.com/api/v3"


@pytest.mark.parametrize("url", ["redis://r:6379/0", "rediss://user:pw@r:6380", "unix:///tmp/redis.sock"])
def test_redis_urls(url: str) -> None:
    assert load_settings(REDIS_URL=url).REDIS_URL == url


# -- LOG_LEVEL and DRY_RUN -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "level"),
    [("debug", LogLevel.DEBUG), ("DEBUG", LogLevel.DEBUG), ("Info", LogLevel.INFO), ("WARNING", LogLevel.WARNING)],
)
def test_log_level_is_case_insensitive(value: str, level: LogLevel, monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings(LOG_LEVEL=value).LOG_LEVEL is level
    monkeypatch.setenv("LOG_LEVEL", value)
    assert load_settings().LOG_LEVEL is level


@pytest.mark.parametrize(("value", "expected"), [("1", True), ("true", True), ("0", False), ("false", False)])
def test_dry_run(value: str, expected: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings(DRY_RUN=value).DRY_RUN is expected
    monkeypatch.setenv("DRY_RUN", value)
    assert load_settings().DRY_RUN is expected


# -- the worker: APP_ID and the private key --------------------------------------------------------


def test_missing_app_id_stops_the_worker(pem: str) -> None:
    with pytest.raises(ConfigError, match=r"^APP_ID\b"):
        load_settings(PRIVATE_KEY=pem).check_worker()


def test_missing_private_key_stops_the_worker() -> None:
    with pytest.raises(ConfigError, match="PRIVATE_KEY"):
        load_settings(APP_ID="12345").check_worker()


def test_private_key_with_literal_backslash_n_by_keyword(pem: str) -> None:
    one_line = pem.strip().replace("\n", "\\n")
    assert "\n" not in one_line
    settings = load_settings(APP_ID="12345", PRIVATE_KEY=one_line)
    settings.check_worker()
    assert settings.APP_ID == 12345
    assert settings.private_key() == pem.strip() + "\n"


def test_private_key_with_literal_backslash_n_from_the_environment(pem: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _env(monkeypatch, APP_ID="12345", PRIVATE_KEY=pem.strip().replace("\n", "\\n"))
    settings = load_settings()
    settings.check_worker()
    assert settings.private_key() == pem.strip() + "\n"


def test_private_key_with_real_newlines(pem: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _env(monkeypatch, APP_ID="1", PRIVATE_KEY=pem)
    assert load_settings().private_key() == pem.strip() + "\n"


def test_private_key_path(pem: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key_file = tmp_path / "app.private-key.pem"
    key_file.write_text(pem)
    settings = load_settings(APP_ID="1", PRIVATE_KEY_PATH=str(key_file))
    settings.check_worker()
    assert settings.private_key() == pem.strip() + "\n"

    _env(monkeypatch, APP_ID="1", PRIVATE_KEY_PATH=str(key_file))
    assert load_settings().private_key() == pem.strip() + "\n"


def test_private_key_path_that_does_not_exist(tmp_path: Path) -> None:
    settings = load_settings(APP_ID="1", PRIVATE_KEY_PATH=str(tmp_path / "missing.pem"))
    with pytest.raises(ConfigError, match=r"^PRIVATE_KEY_PATH\b"):
        settings.check_worker()


def test_private_key_that_is_not_a_pem() -> None:
    with pytest.raises(ConfigError, match=r"^PRIVATE_KEY\b"):
        load_settings(APP_ID="1", PRIVATE_KEY="not a key").check_worker()


def test_web_does_not_need_worker_settings() -> None:
    load_settings(WEBHOOK_SECRET="s").check_web()


def test_worker_does_not_need_the_webhook_secret(pem: str) -> None:
    load_settings(APP_ID="7", PRIVATE_KEY=pem).check_worker()


def test_settings_are_frozen() -> None:
    settings = load_settings()
    with pytest.raises(Exception):  # noqa: B017 - pydantic raises ValidationError
        settings.PORT = 1

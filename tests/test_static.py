"""Types, lint and the layers are part of the test command: `mypy --strict` and ruff on bot/,
tests/ and bench/, and import-linter's contracts (pyproject.toml) on the import graph."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e  # mypy, ruff and import-linter processes

ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_mypy_strict_is_clean() -> None:
    result = _run("mypy", "--strict", "bot", "tests", "bench")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_is_clean() -> None:
    result = _run("ruff", "check", "bot", "tests", "bench")
    assert result.returncode == 0, result.stdout + result.stderr


def test_imports_point_inward() -> None:
    """The core imports no I/O library; the web never loads arq, anthropic or gidgethub; nothing
    in the product imports the sandbox; composition roots, web and worker, adapters, core."""
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run([str(lint_imports)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_web_process_never_loads_the_ai_sdk() -> None:
    code = "import sys, bot.web.app, bot.web.serve; print('anthropic' in sys.modules, 'arq' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.stdout.split() == ["False", "False"], result.stderr

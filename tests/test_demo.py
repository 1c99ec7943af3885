"""`python -m bot demo`, the README's first command, runs end to end on this machine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e  # `python -m bot demo` processes

ROOT = Path(__file__).resolve().parent.parent


def test_demo_shows_a_summary_labels_a_command_and_the_triage_agreement(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key not in ("REDIS_URL", "ANTHROPIC_API_KEY")}
    env["PYTHONPATH"] = str(ROOT)
    env["TMPDIR"] = str(tmp_path)  # where its web and worker logs go while it runs
    result = subprocess.run(
        [sys.executable, "-m", "bot", "demo"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "started a throwaway redis-server" in out
    assert "202 queued" in out and "200 duplicate" in out and "401" in out
    assert "has 1 hookwise comment(s)" in out and "<!-- hookwise:summary -->" in out
    assert "label requests sent: [{'labels': ['documentation']}]" in out  # hookwise's triage
    assert "labels: ['bug', 'question']" in out  # after the maintainer's correction
    assert "exact match 0.00 (0/1)" in out  # the agreement report
    assert "most corrected: documentation 1 (1 removed), question 1 (1 added)" in out
    assert "reactions on maintainer-mia's command: eyes, rocket" in out
    assert "reactions on passer-by's command: none" in out
    # It prints no log folder, and deletes the one it used: nothing it named is gone.
    assert "Logs:" not in out and "hookwise-demo-" not in out + result.stderr
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith("hookwise-demo-")] == []


@pytest.mark.parametrize(
    ("provider", "model"),
    [("bedrock", "global.anthropic.claude-haiku-4-5-20251001-v1:0"), ("vertex", "claude-haiku-4-5@20251001"),
     ("compatible", "qwen3:8b")],
)  # fmt: skip
def test_the_demo_runs_through_each_provider(tmp_path: Path, provider: str, model: str) -> None:
    env = {key: value for key, value in os.environ.items() if key not in ("REDIS_URL", "ANTHROPIC_API_KEY")}
    env["PYTHONPATH"] = str(ROOT)
    result = subprocess.run(
        [sys.executable, "-m", "bot", "demo", "--provider", provider],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert f"MODEL_PROVIDER={provider}" in out
    assert "has 1 hookwise comment(s)" in out and "label requests sent: [{'labels': ['documentation']}]" in out
    assert "reactions on maintainer-mia's command: eyes, rocket" in out
    assert f"provider={provider} model={model}" in out  # history names where the model ran

"""The README says what the project does: its config example parses to the defaults, and CI runs
exactly the README's test command."""

from __future__ import annotations

import re
from pathlib import Path

from bot.core.repo_config import DEFAULTS, parse_config

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_the_readme_config_example_is_the_defaults() -> None:
    [block] = [text for text in re.findall(r"```yaml\n(.*?)```", README, re.S) if text.startswith("summaries:")]
    result = parse_config(block)
    assert result.problem is None and result.config == DEFAULTS


def test_every_yaml_example_in_the_readme_is_a_valid_config() -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", README, re.S)
    assert len(blocks) >= 2
    for block in blocks:
        assert parse_config(block).problem is None, block


def test_ci_runs_exactly_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert f"\n{ci}\n" in README
    assert ci.endswith("python -m pytest")


def test_the_readme_demo_command_is_there() -> None:
    assert re.search(r"^python3 -m venv .venv && .* -m bot demo$", README, re.M)


def test_procfile_runs_web_and_worker() -> None:
    lines = (ROOT / "Procfile").read_text().splitlines()
    assert lines == ["web: python -m bot web", "worker: python -m bot worker"]


def test_the_readme_starts_short_and_links_only_to_files_that_exist() -> None:
    assert len(README.splitlines()) < 250
    assert README.index("## The two commands") < README.index("docs/status.png") < README.index("## Configuration")
    for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", README):  # relative links, anchors dropped
        assert (ROOT / target).exists(), target
    architecture = (ROOT / "docs" / "architecture.md").read_text()
    for anchor in re.findall(r"\]\(docs/architecture\.md#([^)]+)\)", README):
        headings = re.findall(r"^#+ (.+)$", architecture, re.M)
        slugs = {re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-") for h in headings}
        assert anchor in slugs, anchor


def test_every_setting_and_every_command_is_in_the_readme() -> None:
    import argparse

    from bot.__main__ import build_parser
    from bot.config import Settings

    table = README[README.index("| variable | meaning | default |") :]
    for name in Settings.model_fields:
        assert f"`{name}`" in table, name
    [commands] = [
        action.choices for action in build_parser()._actions if isinstance(action, argparse._SubParsersAction)
    ]
    assert {"web", "worker", "demo", "history", "replay", "redeliver", "costs", "accuracy", "setup", "receive"} <= set(
        commands
    )
    for command in commands:
        assert f"python -m bot {command}" in README, command

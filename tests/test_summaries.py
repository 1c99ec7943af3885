"""Summaries worth reading, through the real action (the unit tier: the worker's Deps over the
sandboxes): real-shaped diffs (tests/fixtures/diffs, with their licences) read by the diff budget,
claims grounded in the PR's files, closing keywords as links, and the record release notes use."""

from __future__ import annotations

import json
import re
from typing import Any

from bot.adapters.github import Repo
from bot.core.commands.release_notes import SummaryRecord
from bot.core.summary.diff_budget import PullFile
from bot.core.tokens import estimate_tokens
from bot.core.views.comments import SUMMARY_MARKER
from bot.sandbox.anthropic import AnthropicSandbox, fake_tool_input
from bot.sandbox.github import GitHubSandbox
from bot.worker.actions import summarize
from bot.worker.deps import Deps
from tests.fixtures.diffs import synthetic
from tests.helpers import MERGED, PR_NUMBER, PR_REPO, github_files, seed_merged_pr, summary_job

MINUS = "\u2212"


def answer(**fields: Any) -> Any:
    """A model that answers a valid summary with these fields."""

    def respond(request: dict[str, Any]) -> dict[str, Any]:
        return {**fake_tool_input(request["tools"][0]["input_schema"]), **fields}

    return respond


async def summarise(deps: Deps, github: GitHubSandbox, files: list[PullFile], **pull: Any) -> str:
    """Summarise the merged PR with `files` (and `pull`'s fields, `commits` its messages): the comment."""
    seed_merged_pr(github, github_files(files))
    if pull:
        commits = pull.pop("commits", None)
        merged = json.loads(MERGED)["pull_request"] | pull
        recorded = [{"sha": merged["merge_commit_sha"], "commit": {"message": message}} for message in commits or []]
        github.add_pull(PR_REPO, merged, files=github_files(files), commits=recorded)
    repo = await deps.github.repo(461842, PR_REPO)
    await summarize.on_merged(summary_job("s"), repo, deps, job_try=1)
    [comment] = github.comments(PR_REPO, PR_NUMBER)
    return str(comment["body"])


def the_prompt(model: AnthropicSandbox) -> str:
    [request] = model.requests
    return str(request["messages"][0]["content"])


def section(prompt: str, name: str) -> str:
    [found] = re.findall(rf'<untrusted name="{name}">\n(.*?)\n</untrusted>', prompt, re.S)
    return str(found)


def headers(prompt: str) -> dict[str, str]:
    """Each file of the diff the model read, and its header's parenthesis."""
    return dict(re.findall(r"^--- (\S+) \((.*)\)$", section(prompt, "diff"), re.M))


# -- what the model reads -------------------------------------------------------------------------


async def test_an_unvendoring_pr_lists_deleted_files_by_name_and_reads_the_rest_whole(
    deps: Deps, github: GitHubSandbox, model: AnthropicSandbox
) -> None:
    files = synthetic.load("pip-unvendor-charset-normalizer.json")  # pip fb71f4c (MIT)
    deleted = [f for f in files if f.status == "removed"]
    body = await summarise(deps, github, files)
    prompt = the_prompt(model)
    read = headers(prompt)
    not_shown = section(prompt, "files not shown")
    assert len(deleted) == 14
    for gone in deleted:
        assert f"{gone.filename} (deleted, +0 {MINUS}{gone.deletions})" in not_shown
        assert gone.filename not in read
        assert f"`{gone.filename}` (not read: deleted, +0 {MINUS}{gone.deletions})" in body
    for kept in ("pyproject.toml", "src/pip/_vendor/vendor.txt"):
        assert "shown in part" not in read[kept]  # modified files whole
    assert "What you are shown of the diff: read " in prompt


async def test_the_88_deleted_files_of_an_unvendoring_cost_nothing(
    deps: Deps, github: GitHubSandbox, model: AnthropicSandbox
) -> None:
    files = synthetic.unvendor()  # 88 vendored files deleted, 12 of the package's own modified
    body = await summarise(deps, github, files)
    read = headers(the_prompt(model))
    assert set(read) == {f.filename for f in files if f.status == "modified"}
    assert all("shown in part" not in header for header in read.values())
    # The deleted lines count among the changed lines (19,000 of them): what was read is <1 % of them.
    assert "<details><summary>read 12 of 100 files (&lt;1 % of changed lines)</summary>" in body
    assert body.count("(not read: deleted, +0 ") == 50 and "- …and 38 more" in body  # 50 listed, the rest counted


async def test_a_ca_bundle_is_named_not_sent(deps: Deps, github: GitHubSandbox, model: AnthropicSandbox) -> None:
    files = synthetic.load("certifi-2022.05.18.json")  # certifi e713282 (MPL-2.0)
    body = await summarise(deps, github, files)
    prompt = the_prompt(model)
    assert "BEGIN CERTIFICATE" not in prompt and "MII" not in section(prompt, "diff")
    assert "certifi/cacert.pem (certificate or key, +" in section(prompt, "files not shown")
    assert "`certifi/cacert.pem` (not read: certificate or key, +" in body
    assert "certifi/__init__.py" in headers(prompt)


async def test_regenerated_test_keys_are_named_not_sent(
    deps: Deps, github: GitHubSandbox, model: AnthropicSandbox
) -> None:
    files = synthetic.load("requests-regenerate-test-certs.json")  # requests 9ebebde (Apache-2.0)
    body = await summarise(deps, github, files)
    prompt = the_prompt(model)
    assert "PRIVATE KEY" not in prompt and "CERTIFICATE-----" not in prompt
    keys = [f for f in files if f.filename.endswith((".key", ".pem", ".crt", ".csr"))]
    assert keys and all(f"`{f.filename}` (not read: " in body for f in keys)


async def test_a_formatter_run_shows_a_little_of_every_file(
    deps: Deps, github: GitHubSandbox, model: AnthropicSandbox
) -> None:
    files = synthetic.formatter_run(files=120, hunks=12)  # bigger than the budget reads whole
    await summarise(deps, github, files)
    read = headers(the_prompt(model))
    assert set(read) == {f.filename for f in files}  # every file, if only its first hunks
    assert any("shown in part" in header for header in read.values())


async def test_pips_black_run_is_read_whole(deps: Deps, github: GitHubSandbox, model: AnthropicSandbox) -> None:
    files = synthetic.load("pip-black-26.json")  # pip 7917669 (MIT): 40 files, 1,147 changed lines
    body = await summarise(deps, github, files)
    read = headers(the_prompt(model))
    assert len(read) == 40 and all("shown in part" not in header for header in read.values())
    assert "<details>" not in body  # nothing left out


async def test_a_mid_size_change_is_read_whole(deps: Deps, github: GitHubSandbox, model: AnthropicSandbox) -> None:
    files = synthetic.load("pip-resumable-downloads.json")  # pip 4c2e8ea (MIT): 11 files, 541 lines
    body = await summarise(deps, github, files)
    prompt = the_prompt(model)
    assert f"What you are shown of the diff: read {len(files)} of {len(files)} files (100 % of changed lines)" in prompt
    assert all("shown in part" not in header for header in headers(prompt).values())
    assert "<details>" not in body


async def test_a_1500_line_feature_is_read_whole_within_the_ceiling(
    deps: Deps, github: GitHubSandbox, model: AnthropicSandbox
) -> None:
    files = synthetic.mid_size()
    await summarise(deps, github, files)
    prompt = the_prompt(model)
    assert "(100 % of changed lines)" in prompt
    [request] = model.requests
    sent = estimate_tokens(request["system"]) + estimate_tokens(prompt) + estimate_tokens(json.dumps(request["tools"]))
    assert sent <= deps.max_input_tokens


# -- what the comment claims ----------------------------------------------------------------------


async def test_a_file_the_model_names_outside_the_pr_is_left_out(
    deps: Deps, github: GitHubSandbox, model: AnthropicSandbox
) -> None:
    """The recorded github3.py PR changes `github3/repos/release.py` and its test; the model also
    names `github3/session.py` and `docs/uploads.md`, which it is not."""
    model.responder = answer(
        overview="Retries asset uploads in `release.py`.",
        changes=["Retry `upload_asset` in `release.py`", "Document it in `docs/uploads.md`"],
        risk_notes="`github3/session.py` may want the same.",
        notable_files=["github3/repos/release.py", "github3/session.py"],
    )
    seed_merged_pr(github)
    repo = await deps.github.repo(461842, PR_REPO)
    await summarize.on_merged(summary_job("s-grounded"), repo, deps, job_try=1)
    [comment] = github.comments(PR_REPO, PR_NUMBER)
    body = comment["body"]
    assert "**Look first at:** `github3/repos/release.py`\n" in body
    assert "session.py`" not in body and "docs/uploads.md" not in body
    assert "- Retry `upload_asset` in `release.py`" in body


async def test_closing_keywords_in_the_description_and_commits_become_links(
    deps: Deps, github: GitHubSandbox, model: AnthropicSandbox
) -> None:
    body_text = "Fixes #12 and resolves acme/lib#3.\n\n<!-- closes #99 (a template's example) -->"
    files = synthetic.load("pip-resumable-downloads.json")
    body = await summarise(deps, github, files, body=body_text, commits=["Retry downloads\n\nCloses: #14"])
    links = next(line for line in body.splitlines() if line.startswith("**Closes:**"))
    assert links == (
        "**Closes:** [#12](https://github.com/C-Saunders/flynn_env_test/issues/12), "
        "[acme/lib#3](https://github.com/acme/lib/issues/3), "
        "[#14](https://github.com/C-Saunders/flynn_env_test/issues/14)"
    )


async def test_the_posted_summary_is_kept_for_release_notes(deps: Deps, github: GitHubSandbox) -> None:
    seed_merged_pr(github)
    repo: Repo = await deps.github.repo(461842, PR_REPO)
    outcome = await summarize.on_merged(summary_job("s-record"), repo, deps, job_try=1)
    [record] = (await deps.summaries.get_many(PR_REPO, [PR_NUMBER])).values()
    assert isinstance(record, SummaryRecord)
    assert (record.number, record.title, record.comment_id) == (PR_NUMBER, "Adds README.", outcome.comment_id)
    assert record.merged_at == "2018-11-18T18:54:32Z" and record.changes
    [comment] = github.comments(PR_REPO, PR_NUMBER)
    assert comment["body"].startswith(SUMMARY_MARKER)

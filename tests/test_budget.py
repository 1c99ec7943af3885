"""bot.core.budget.fit_diff: noise goes first, then the largest patches are cut; the budget always holds."""

from __future__ import annotations

import pytest

from bot.core.budget import CHARS_PER_TOKEN, CUT_NOTE, MIN_USEFUL_PATCH, FileChange, fit_diff
from tests.helpers import api_json as load_api


def _patch(lines: int, width: int = 40, mark: str = "x") -> str:
    """A realistic unified-diff patch of about `lines * (width + 2)` characters."""
    body = "\n".join(f"+{mark * width}" for _ in range(lines))
    return f"@@ -1,0 +1,{lines} @@\n{body}"


def _github_files() -> list[FileChange]:
    files = load_api("pulls/list-files.github3py-235.json")
    return [FileChange(f["filename"], f["status"], f["additions"], f["deletions"], f.get("patch")) for f in files]


def _skipped_reasons(result: object) -> dict[str, str]:
    return dict(entry.split(": ", 1) for entry in result.skipped)  # type: ignore[attr-defined]


# -- noise -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "patch", "reason"),
    [
        ("package-lock.json", _patch(20), "lockfile"),
        ("web/yarn.lock", _patch(20), "lockfile"),
        ("poetry.lock", _patch(20), "lockfile"),
        ("Cargo.lock", _patch(20), "lockfile"),
        ("go.sum", _patch(20), "lockfile"),
        ("static/app.min.js", _patch(20), "generated or minified"),
        ("static/app.min.css", _patch(20), "generated or minified"),
        ("static/app.js.map", _patch(20), "generated or minified"),
        ("dist/bundle.js", _patch(20), "generated or minified"),
        ("src/vendor/lib.c", _patch(20), "generated or minified"),
        ("api/service_pb2.py", _patch(20), "generated or minified"),
        ("api/service.pb.go", _patch(20), "generated or minified"),
        ("tests/__snapshots__/ui.snap", _patch(20), "generated or minified"),
        ("src/one_line.js", "@@ -1 +1 @@\n+" + "a" * 5000, "generated or minified"),
        ("docs/logo.png", None, "binary or too large for GitHub to show"),
    ],
)
def test_noise_is_skipped_with_a_reason(filename: str, patch: str | None, reason: str) -> None:
    keep = FileChange("src/app.py", patch=_patch(20))
    result = fit_diff([keep, FileChange(filename, patch=patch)], 10_000)
    assert _skipped_reasons(result) == {filename: reason}
    assert [path for path, _ in result.included] == ["src/app.py"]


def test_excluded_globs() -> None:
    changes = [
        FileChange("docs/guide.md", patch=_patch(20)),
        FileChange("docs/api/index.md", patch=_patch(20)),
        FileChange("fixtures/big.json", patch=_patch(20)),
        FileChange("src/app.py", patch=_patch(20)),
    ]
    result = fit_diff(changes, 10_000, excluded=["docs/*", "*.json"])
    reasons = _skipped_reasons(result)
    assert reasons == {
        "docs/guide.md": "excluded by the repository's config",
        "docs/api/index.md": "excluded by the repository's config",
        "fixtures/big.json": "excluded by the repository's config",
    }
    assert [path for path, _ in result.included] == ["src/app.py"]


def test_exclusion_wins_over_other_reasons() -> None:
    result = fit_diff([FileChange("package-lock.json", patch=None)], 1000, excluded=["*.json"])
    assert result.skipped == ["package-lock.json: excluded by the repository's config"]


def test_empty_pull_request() -> None:
    result = fit_diff([], 1000)
    assert (result.included, result.skipped, result.shortened) == ([], [], [])
    assert result.chars() == 0


# -- within budget ---------------------------------------------------------------------------------


def test_within_budget_everything_is_whole_in_pr_order() -> None:
    changes = [FileChange(f"src/m{i}.py", patch=_patch(10 + 5 * i, mark=str(i))) for i in range(6)]
    assert all(len(c.patch or "") >= MIN_USEFUL_PATCH for c in changes)
    result = fit_diff(changes, 100_000)
    assert result.included == [(c.filename, c.patch) for c in changes]
    assert result.skipped == [] and result.shortened == []


def test_recorded_github3py_files_fit_whole() -> None:
    changes = _github_files()
    assert [c.filename for c in changes] == ["github3/repos/release.py", "tests/unit/test_repos_release.py"]
    result = fit_diff(changes, 4000)
    assert result.included == [(c.filename, c.patch) for c in changes]
    assert result.skipped == [] and result.shortened == []


def test_recorded_github3py_files_under_a_tight_budget() -> None:
    changes = _github_files()
    sizes = {c.filename: len(c.patch or "") for c in changes}
    budget_tokens = 300  # 1200 characters, less than the 1531 they take
    result = fit_diff(changes, budget_tokens)
    assert result.chars() <= budget_tokens * CHARS_PER_TOKEN
    assert result.shortened == ["tests/unit/test_repos_release.py"]  # the larger one
    included = dict(result.included)
    assert included["github3/repos/release.py"] == changes[0].patch  # the smaller one stays whole
    cut = included["tests/unit/test_repos_release.py"]
    assert cut.endswith(CUT_NOTE)
    assert changes[1].patch is not None and changes[1].patch.startswith(cut[: -len(CUT_NOTE)])
    assert len(cut) < sizes["tests/unit/test_repos_release.py"]


def test_small_patches_within_budget_are_kept_whole() -> None:
    changes = [
        FileChange("README.md", patch="@@ -1 +1 @@\n-Hello\n+Hello, world"),
        FileChange("src/app.py", patch="@@ -10 +10 @@\n-    return 1\n+    return 2"),
    ]
    result = fit_diff(changes, 1000)
    assert result.included == [(c.filename, c.patch) for c in changes]
    assert result.skipped == []


# -- over budget -----------------------------------------------------------------------------------


def test_over_budget_the_largest_patch_is_cut_first() -> None:
    small = [FileChange(f"src/small{i}.py", patch=_patch(12, mark=str(i))) for i in range(3)]
    giant = FileChange("src/giant.py", patch=_patch(3000, mark="g"))
    changes = [small[0], giant, small[1], small[2]]
    budget_tokens = 2000
    result = fit_diff(changes, budget_tokens)

    assert result.shortened == ["src/giant.py"]
    assert [path for path, _ in result.included] == [c.filename for c in changes]  # PR order kept
    included = dict(result.included)
    for change in small:
        assert included[change.filename] == change.patch
    assert included["src/giant.py"].endswith(CUT_NOTE)
    assert result.chars() <= budget_tokens * CHARS_PER_TOKEN


def test_two_large_patches_are_cut_to_a_common_cap() -> None:
    changes = [FileChange("a.py", patch=_patch(500, mark="a")), FileChange("b.py", patch=_patch(900, mark="b"))]
    budget_tokens = 1000
    result = fit_diff(changes, budget_tokens)
    assert result.shortened == ["a.py", "b.py"]
    lengths = [len(patch) for _, patch in result.included]
    assert abs(lengths[0] - lengths[1]) <= 1
    assert result.chars() <= budget_tokens * CHARS_PER_TOKEN


@pytest.mark.parametrize("budget_tokens", [100, 150, 500, 1234, 8000, 50_000])
def test_total_stays_within_budget(budget_tokens: int) -> None:
    changes = [FileChange(f"src/f{i}.py", patch=_patch(5 + (i * 37) % 400, mark="abcdefg"[i % 7])) for i in range(60)]
    original = {c.filename: c.patch or "" for c in changes}
    result = fit_diff(changes, budget_tokens)
    assert result.chars() <= budget_tokens * CHARS_PER_TOKEN  # the cut notes included
    for path, patch in result.included:
        if path in result.shortened:
            assert patch.endswith(CUT_NOTE)
            assert original[path].startswith(patch[: -len(CUT_NOTE)])
            assert len(patch) >= MIN_USEFUL_PATCH
        else:
            assert patch == original[path]
    accounted = {p for p, _ in result.included} | set(_skipped_reasons(result))
    assert accounted == {c.filename for c in changes}


def test_a_budget_too_small_for_anything_drops_the_files_with_a_reason() -> None:
    changes = [FileChange("a.py", patch=_patch(100)), FileChange("b.py", patch=_patch(200))]
    result = fit_diff(changes, 50)  # 200 characters: below a useful patch
    assert result.included == []
    assert _skipped_reasons(result) == {"a.py": "too large for the budget", "b.py": "too large for the budget"}


def test_huge_number_of_files() -> None:
    """GitHub lists at most 3000 files; the budget holds and every file is accounted for."""
    changes = [FileChange(f"pkg/m{i:04}.py", patch=_patch(10 + i % 50, mark="xyz"[i % 3])) for i in range(3000)]
    changes += [FileChange(f"vendor/dep{i}.go", patch=_patch(10)) for i in range(50)]
    budget_tokens = 8000
    result = fit_diff(changes, budget_tokens)
    assert 0 < result.chars() <= budget_tokens * CHARS_PER_TOKEN
    assert len(result.included) + len(result.skipped) == len(changes)
    assert all(len(patch) >= MIN_USEFUL_PATCH for _, patch in result.included)
    reasons = _skipped_reasons(result)
    assert all(reasons[f"vendor/dep{i}.go"] == "generated or minified" for i in range(50))

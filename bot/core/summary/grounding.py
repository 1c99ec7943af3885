"""Keep the summary to what the pull request holds, and find the issues it closes. Pure, stdlib only.

Paths. The model names files in `notable_files` and, in backticks, in its bullets. A path that is
not a file of the pull request is a claim nobody can check, so:

- `grounded_paths` keeps the notable files that are files of the PR - the exact path, or a suffix
  of exactly one PR path at a `/` boundary (`budget.py` for `bot/core/summary/bounds.py`) - as the PR's
  full path, each once, in the model's order.
- `ground_bullets` drops a bullet whose backticked path is not a file of the PR. A backticked
  token is a path when it has no spaces, no `://`, no brackets or globs, and either ends in a
  common file extension (`render.py`, `docs/setup.md`), is a well-known extensionless file name
  (`Makefile`), ends in `/` (a directory), or has two or more `/` (`tests/fixtures/diffs`). So
  `parse()`, `os.path`, `text/html`, `origin/main` and `--dry-run` are not paths. A directory is
  grounded when a PR file is under it; a file when it is a PR path or a suffix of one (several
  `__init__.py` are all files of the PR). If every bullet would go, none is dropped: the summary
  needs its bullets (`PullSummary.changes` has at least one), so they are all kept with the
  backticks around the ungrounded paths removed, which leaves plain words rather than something
  that reads as a file of the PR (`unquote_ungrounded` does the same for any other text).

Closing references. GitHub closes an issue when the PR description or a commit message says
`KEYWORD #N` or `KEYWORD OWNER/REPO#N`, with the keywords close, closes, closed, fix, fixes, fixed,
resolve, resolves, resolved - any case, optionally followed by a colon (`Closes: #10`, `CLOSES #10`)
- and each issue needs its own keyword (`Fixes #1, #2` closes #1 only). Full issue URLs of the
GitHub instance (`Fixes https://github.com/o/r/issues/3`) count too. Text in code spans, fenced
code blocks and HTML comments is not read (GitHub does not read it either, and PR templates keep
their examples there). Source: docs.github.com, "Linking a pull request to an issue", section
"Linking a pull request to an issue using a keyword".
"""

from __future__ import annotations

import functools
import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

# -- paths --------------------------------------------------------------------------------------

PATH_EXTENSIONS = frozenset(
    """
    py pyi pyx pxd ipynb js jsx mjs cjs ts tsx mts cts vue svelte astro go rs java kt kts scala groovy
    gradle clj ex exs erl hrl hs ml mli fs fsx cs vb swift m mm c h cc cpp cxx hh hpp hxx inc zig nim
    rb rake gemspec php pl pm lua r jl dart elm sh bash zsh fish ps1 bat cmd sql graphql gql proto thrift
    html htm css scss sass less styl xml xsd xsl svg json jsonc json5 yaml yml toml ini cfg conf env
    properties lock md mdx rst adoc txt tex csv tsv tf tfvars hcl nix bzl bazel cmake mk dockerfile
    pem crt key csr patch diff
    """.split()
)
PATH_NAMES = frozenset(
    """
    Makefile GNUmakefile Dockerfile Containerfile Procfile Gemfile Rakefile Jenkinsfile Vagrantfile
    Brewfile Pipfile Justfile CMakeLists.txt LICENSE LICENCE NOTICE README CHANGELOG CODEOWNERS
    .gitignore .gitattributes .gitmodules .dockerignore .editorconfig .npmrc .nvmrc .env .envrc
    """.split()
)
_BACKTICKED = re.compile(r"`([^`\n]{1,300})`")
_LOCATION = re.compile(r"(?::\d+(?:[:-]\d+)?|#L\d+(?:-L?\d+)?)$")  # `a.py:12`, `a.py#L3-L9`
_NOT_A_PATH = re.compile(r"\s|://|[()\[\]{}<>*?|;,'\"=$]|^-")


def _normalise(path: str) -> str:
    path = path.strip().strip("`").strip()
    path = _LOCATION.sub("", path)
    while path.startswith(("./", "/")):
        path = path.removeprefix(".").removeprefix("/")
    return path


def _is_file_name(name: str) -> bool:
    """`render.py`, `.gitignore`-like names with a known extension, or a well-known file name."""
    if name in PATH_NAMES:
        return True
    stem, dot, extension = name.rpartition(".")
    return bool(dot and stem and extension.lower() in PATH_EXTENSIONS)


def is_path_like(token: str) -> bool:
    """True when a backticked token reads as a file or directory path (see the module's rules)."""
    token = _normalise(token)
    if not token or _NOT_A_PATH.search(token):
        return False
    if token.endswith("/"):
        return len(token) > 1
    return _is_file_name(token.rsplit("/", 1)[-1]) or token.count("/") >= 2


def _matches(token: str, pr_paths: Collection[str]) -> list[str]:
    """PR paths that `token` names: the path itself, or paths it is a `/`-boundary suffix of."""
    if token in pr_paths:
        return [token]
    for prefix in ("a/", "b/"):  # git's diff prefixes
        if token.startswith(prefix) and token[2:] in pr_paths:
            return [token[2:]]
    return [path for path in pr_paths if path.endswith("/" + token)]


def is_grounded(token: str, pr_paths: Collection[str]) -> bool:
    """True when the path-like `token` is a file of the PR, or a directory holding one."""
    token = _normalise(token)
    if token.endswith("/") or not _is_file_name(token.rsplit("/", 1)[-1]):  # perhaps a directory
        directory = token.rstrip("/") + "/"
        if any(path.startswith(directory) or ("/" + directory) in path for path in pr_paths):
            return True
    return bool(_matches(token.rstrip("/"), pr_paths))


def grounded_paths(paths: Iterable[str], pr_paths: Collection[str]) -> list[str]:
    """The model's `paths` that are files of the PR, as the PR's full paths: exact, or an
    unambiguous suffix of one; each once, in the model's order."""
    kept: list[str] = []
    for raw in paths:
        found = _matches(_normalise(raw), pr_paths)
        if len(found) == 1 and found[0] not in kept:
            kept.append(found[0])
    return kept


def ungrounded_paths(text: str, pr_paths: Collection[str]) -> list[str]:
    """The backticked path-like tokens of `text` that are not files of the PR."""
    return [token for token in _BACKTICKED.findall(text) if is_path_like(token) and not is_grounded(token, pr_paths)]


def unquote_ungrounded(text: str, pr_paths: Collection[str]) -> str:
    """`text` with the backticks around ungrounded paths removed (the words stay)."""

    def _plain(match: re.Match[str]) -> str:
        token = match.group(1)
        return token if is_path_like(token) and not is_grounded(token, pr_paths) else match.group(0)

    return _BACKTICKED.sub(_plain, text)


def ground_bullets(bullets: Sequence[str], pr_paths: Collection[str]) -> list[str]:
    """The bullets whose backticked paths are all files of the PR; when that would be none, all
    of them, with the ungrounded paths' backticks removed."""
    kept = [bullet for bullet in bullets if not ungrounded_paths(bullet, pr_paths)]
    if kept or not bullets:
        return kept
    return [unquote_ungrounded(bullet, pr_paths) for bullet in bullets]


# -- closing references -------------------------------------------------------------------------

GITHUB_WEB = "https://github.com"
MAX_REFERENCES = 20

_KEYWORD = r"(?<![\w-])(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)"
_OWNER = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})"
_REPO = r"[A-Za-z0-9._-]{1,100}"
_SHORT_REFERENCE = rf"(?:(?P<owner>{_OWNER})/(?P<repo>{_REPO}))?#(?P<number>\d{{1,9}})(?![\w-])"
# HTML comments, fenced code blocks (to their closing fence or the end), inline code spans.
_IGNORED = re.compile(
    r"<!--.*?(?:-->|\Z)|^ {0,3}(`{3,}|~{3,}).*?(?:^ {0,3}\1|\Z)|(`+)[^`]*?\2", re.DOTALL | re.MULTILINE
)


@dataclass(frozen=True, slots=True)
class IssueReference:
    """An issue a closing keyword names: `owner/repo` and its number."""

    owner: str
    repo: str
    number: int

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.owner.lower(), self.repo.lower(), self.number)

    def url(self, web_root: str = GITHUB_WEB) -> str:
        return f"{web_root.rstrip('/')}/{self.owner}/{self.repo}/issues/{self.number}"

    def label(self, repository: str) -> str:
        """`#12` in `repository` itself, `owner/repo#3` elsewhere."""
        same = f"{self.owner}/{self.repo}".lower() == repository.lower()
        return f"#{self.number}" if same else f"{self.owner}/{self.repo}#{self.number}"


@functools.lru_cache(maxsize=8)
def _pattern(web_root: str) -> re.Pattern[str]:
    host = web_root.rstrip("/").partition("://")[2] or web_root.rstrip("/")
    root = rf"https?://{re.escape(host)}"
    url = rf"{root}/(?P<url_owner>{_OWNER})/(?P<url_repo>{_REPO})/issues/(?P<url_number>\d{{1,9}})(?![\w/-])"
    return re.compile(rf"{_KEYWORD}(?:\s*:\s*|\s+)(?:{_SHORT_REFERENCE}|{url})", re.IGNORECASE)


def closing_references(
    text: str, repository: str, *, web_root: str = GITHUB_WEB, limit: int = MAX_REFERENCES
) -> list[IssueReference]:
    """The issues `text` closes by GitHub's keywords, each once, in order; `repository` is the
    PR's `owner/repo` (for `#12`), `web_root` the GitHub instance's web address (for URLs)."""
    owner, _, repo = repository.partition("/")
    found: list[IssueReference] = []
    seen: set[tuple[str, str, int]] = set()
    readable = _IGNORED.sub(" ", text)
    for match in _pattern(web_root).finditer(readable):
        if match.group("number"):
            ref_owner, ref_repo = match.group("owner") or owner, match.group("repo") or repo
            number = int(match.group("number"))
        else:
            ref_owner, ref_repo = match.group("url_owner"), match.group("url_repo")
            number = int(match.group("url_number"))
        if ref_repo.endswith(".git"):
            ref_repo = ref_repo[:-4]
        reference = IssueReference(ref_owner, ref_repo, number)
        if number > 0 and reference.key not in seen:
            seen.add(reference.key)
            found.append(reference)
            if len(found) >= limit:
                break
    return found


def closing_links(references: Iterable[IssueReference], repository: str, *, web_root: str = GITHUB_WEB) -> list[str]:
    """Markdown links: `[#12](https://github.com/o/r/issues/12)`, `[o/r#3](…)` for other repositories."""
    return [f"[{reference.label(repository)}]({reference.url(web_root)})" for reference in references]

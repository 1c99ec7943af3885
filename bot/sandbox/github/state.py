"""The sandbox GitHub's state: one App, its installations and repositories, in plain dicts; seeding
from real payloads, the simulated humans, the webhook deliveries log, and inspection for tests."""

from __future__ import annotations

import base64
import copy
import hashlib
import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from cryptography.hazmat.primitives import serialization

from bot.sandbox.manifest import ManifestSandbox

if TYPE_CHECKING:
    from bot.sandbox.github.failures import Injected, Pause, _Injection


DOCS = "https://docs.github.com/rest"
JSON_CT = "application/json; charset=utf-8"
COMMENT_MAX = 65536
RATE_LIMIT = 5000
REACTIONS = ("+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes")
# GitHub's legacy `permission` field knows only admin/write/read/none; `role_name` is exact.
LEGACY_PERMISSION = {
    "admin": "admin",
    "maintain": "write",
    "write": "write",
    "triage": "read",
    "read": "read",
    "none": "none",
}
SECONDARY_RATE_LIMIT_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
    "If you reach out to GitHub Support for help, please include the request ID {request_id}."
)

JSONDict = dict[str, Any]


def _iso(moment: datetime) -> str:
    """GitHub's timestamp format: UTC, seconds precision, ``Z`` suffix."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _now() -> datetime:
    return datetime.now(UTC)


def _node_id(kind: str, number: int) -> str:
    """An opaque, stable, GitHub-looking GraphQL node id."""
    return f"{kind}_kwDO" + base64.urlsafe_b64encode(number.to_bytes(8, "big")).decode().rstrip("=")


def _git_blob_sha(data: bytes) -> str:
    """The sha GitHub reports for file contents is the git blob id."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


class _ApiError(Exception):
    """Raised inside handlers; the middleware turns it into GitHub's JSON error response."""

    def __init__(self, status: int, message: str, *, extra: JSONDict | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body: JSONDict = {"message": message, **(extra or {}), "documentation_url": DOCS}


def _not_found() -> _ApiError:
    return _ApiError(404, "Not Found")


def _validation_failed(resource: str, field_name: str, code: str, message: str = "") -> _ApiError:
    """GitHub's 422 shape; gidgethub maps ``missing_field``/``invalid`` codes to InvalidField."""
    error: JSONDict = {"resource": resource, "code": code, "field": field_name}
    if message:
        error["message"] = message
    return _ApiError(422, "Validation Failed", extra={"errors": [error]})


@dataclass
class RecordedRequest:
    """What the sandbox saw and answered, in arrival order; tests assert on these."""

    method: str
    path: str
    query: dict[str, str]
    status: int
    json: Any
    at: float = field(default_factory=time.monotonic)  # when it was answered (monotonic seconds)


@dataclass
class Repo:
    """One repository's state; issues and pull requests share numbers, as on GitHub."""

    full_name: str
    installation_id: int
    default_branch: str
    private: bool
    data: JSONDict
    labels: dict[str, JSONDict] = field(default_factory=dict)  # lower-cased name -> label
    issues: dict[int, JSONDict] = field(default_factory=dict)  # number -> issue JSON
    issue_labels: dict[int, list[str]] = field(default_factory=dict)  # number -> label names
    events: dict[int, list[JSONDict]] = field(default_factory=dict)
    comment_ids: dict[int, list[int]] = field(default_factory=dict)
    pulls: dict[int, JSONDict] = field(default_factory=dict)
    pull_files: dict[int, list[JSONDict]] = field(default_factory=dict)
    pull_commits: dict[int, list[JSONDict]] = field(default_factory=dict)
    files: dict[tuple[str, str], str] = field(default_factory=dict)  # (ref, path) -> text
    releases: list[JSONDict] = field(default_factory=list)  # in the order they were made
    commits: dict[str, JSONDict] = field(default_factory=dict)  # sha, tag or branch -> commit JSON
    permissions: dict[str, str] = field(default_factory=dict)  # lower-cased login -> role

    @property
    def url(self) -> str:
        return str(self.data["url"])


class SandboxState:
    """What the sandbox GitHub knows. Seed it (``add_installation``, ``add_repo``,
    ``seed_from_payload`` ...), then inspect ``requests``, ``comments()``, ``issue_labels()``..."""

    def __init__(
        self,
        *,
        app_id: int,
        private_key_pem: str,
        app_slug: str = "hookwise",
        base_url: str = "",
        manifest_user: str = "octocat",
    ) -> None:
        self.app_id = app_id
        self.app_slug = app_slug
        self.base_url = base_url
        # Only its public half is used: the full RSA check (~20 ms) is skipped.
        key = serialization.load_pem_private_key(
            private_key_pem.encode(), password=None, unsafe_skip_rsa_key_validation=True
        )
        self._public_key_pem = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.requests: list[RecordedRequest] = []
        self.redelivery_requests: list[int] = []
        self._installations: dict[int, JSONDict] = {}
        self._repos: dict[str, Repo] = {}  # lower-cased full name -> repo
        self._comments: dict[int, tuple[str, int, JSONDict]] = {}  # id -> (repo key, number, c)
        self._reactions: dict[int, list[JSONDict]] = {}
        self._tokens: dict[str, tuple[int, datetime]] = {}  # token -> (installation, expiry)
        self._rate_remaining: dict[str, int] = {}
        self._rate_reset = int(time.time()) + 3600
        self._deliveries: dict[int, JSONDict] = {}
        self._injections: list[_Injection] = []  # see failures.py
        self._pauses: list[Pause] = []
        self._always: Injected | None = None  # see failures.py: fail_all
        self._user_ids: dict[str, int] = {}
        self._next_id = 3_000_000_000
        self._next_request = 0
        self.bot_user = self._user(f"{app_slug}[bot]", "Bot")
        # GitHub's side of the App manifest flow (`python -m bot setup`), on the same server: its
        # pages are this server's GITHUB_URL, its conversion endpoint is under GITHUB_API_URL.
        self.manifest = ManifestSandbox(user=manifest_user)

    # ------------------------------------------------------------------ helpers for state

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _user(self, login: str, user_type: str = "User") -> JSONDict:
        """A user object as GitHub embeds it; ids are stable per login."""
        uid = self._user_ids.setdefault(login.lower(), 1_000_000 + zlib.crc32(login.encode()) % 10**8)
        slug = quote(login)
        return {
            "login": login,
            "id": uid,
            "node_id": _node_id("U" if user_type == "User" else "BOT", uid),
            "avatar_url": f"https://avatars.githubusercontent.com/u/{uid}?v=4",
            "gravatar_id": "",
            "url": f"https://api.github.com/users/{slug}",
            "html_url": f"https://github.com/{slug}",
            "type": user_type,
            "site_admin": False,
        }

    def _app_json(self) -> JSONDict:
        return {
            "id": self.app_id,
            "slug": self.app_slug,
            "node_id": _node_id("A", self.app_id),
            "client_id": f"Iv1.{self.app_id:016x}",
            "owner": self._user("hookwise-dev", "Organization"),
            "name": self.app_slug,
            "description": "Summarises merged pull requests and triages new issues.",
            "external_url": f"https://github.com/apps/{self.app_slug}",
            "html_url": f"https://github.com/apps/{self.app_slug}",
            "created_at": "2024-01-01T00:00:00Z",
            "updated_at": "2024-01-01T00:00:00Z",
            "permissions": {
                "contents": "read",
                "issues": "write",
                "metadata": "read",
                "pull_requests": "write",
            },
            "events": ["issue_comment", "issues", "pull_request"],
            "installations_count": len(self._installations),
        }

    def _repo_by_name(self, full_name: str) -> Repo:
        try:
            return self._repos[full_name.lower()]
        except KeyError:
            raise KeyError(f"unknown repository {full_name!r}; add_repo() it first") from None

    def _label_json(self, repo: Repo, name: str, color: str = "ededed", description: str | None = None) -> JSONDict:
        lid = self._new_id()
        return {
            "id": lid,
            "node_id": _node_id("LA", lid),
            "url": f"{repo.url}/labels/{quote(name)}",
            "name": name,
            "color": color,
            "default": False,
            "description": description,
        }

    def _ensure_label(self, repo: Repo, label: str | Mapping[str, Any]) -> str:
        """Return the repo's spelling of the label, creating it the way GitHub silently does."""
        if isinstance(label, str):
            name, given = label, None
        else:
            name, given = str(label["name"]), label
        existing = repo.labels.get(name.lower())
        if existing is not None:
            return str(existing["name"])
        obj = self._label_json(repo, name)
        if given is not None:
            obj.update({k: v for k, v in given.items() if k in obj})
        repo.labels[name.lower()] = obj
        return name

    def _issue_json(self, repo: Repo, number: int) -> JSONDict:
        """The stored issue with its live labels and comment count."""
        issue = copy.deepcopy(repo.issues[number])
        issue["labels"] = [copy.deepcopy(repo.labels[n.lower()]) for n in repo.issue_labels[number]]
        issue["comments"] = len(repo.comment_ids.get(number, []))
        return issue

    def _author_association(self, repo: Repo, login: str) -> str:
        if login.lower() == str(repo.data["owner"]["login"]).lower():
            return "OWNER"
        if repo.permissions.get(login.lower(), "none") not in ("none", "read"):
            return "COLLABORATOR"
        return "NONE"

    def _record_label_event(self, repo: Repo, number: int, event: str, label: str, actor: JSONDict) -> None:
        eid = self._new_id()
        lab = repo.labels.get(label.lower(), {"name": label, "color": "ededed"})
        repo.events.setdefault(number, []).append(
            {
                "id": eid,
                "node_id": _node_id("LE" if event == "labeled" else "UNLE", eid),
                "url": f"{repo.url}/issues/events/{eid}",
                "actor": actor,
                "event": event,
                "commit_id": None,
                "commit_url": None,
                "created_at": _iso(_now()),
                "label": {"name": lab["name"], "color": lab["color"]},
                "performed_via_github_app": self._app_json() if actor["type"] == "Bot" else None,
            }
        )

    def _new_comment(self, repo: Repo, number: int, user: JSONDict, body: str) -> JSONDict:
        cid = self._new_id()
        now = _iso(_now())
        is_bot = user["login"] == self.bot_user["login"]
        html = str(repo.issues[number].get("html_url") or f"https://github.com/{repo.full_name}/issues/{number}")
        comment: JSONDict = {
            "url": f"{repo.url}/issues/comments/{cid}",
            "html_url": f"{html}#issuecomment-{cid}",
            "issue_url": f"{repo.url}/issues/{number}",
            "id": cid,
            "node_id": _node_id("IC", cid),
            "user": user,
            "created_at": now,
            "updated_at": now,
            "author_association": "NONE" if is_bot else self._author_association(repo, user["login"]),
            "body": body,
            "reactions": self._reaction_summary(repo, cid),
            "performed_via_github_app": self._app_json() if is_bot else None,
        }
        self._store_comment(repo, number, comment)
        return comment

    def _store_comment(self, repo: Repo, number: int, comment: JSONDict) -> None:
        self._comments[int(comment["id"])] = (repo.full_name.lower(), number, comment)
        repo.comment_ids.setdefault(number, []).append(int(comment["id"]))

    def _reaction_summary(self, repo: Repo, comment_id: int) -> JSONDict:
        reactions = self._reactions.get(comment_id, [])
        summary: JSONDict = {
            "url": f"{repo.url}/issues/comments/{comment_id}/reactions",
            "total_count": len(reactions),
        }
        for content in REACTIONS:
            summary[content] = sum(1 for r in reactions if r["content"] == content)
        return summary

    # ------------------------------------------------------------------ seeding

    def add_installation(self, installation_id: int, account: str) -> None:
        """Register an installation of the App on ``account``."""
        api = "https://api.github.com"
        self._installations[installation_id] = {
            "id": installation_id,
            "account": self._user(account, "Organization"),
            "app_id": self.app_id,
            "app_slug": self.app_slug,
            "target_id": self._user(account)["id"],
            "target_type": "Organization",
            "repository_selection": "selected",
            "access_tokens_url": f"{api}/app/installations/{installation_id}/access_tokens",
            "repositories_url": f"{api}/installation/repositories",
            "html_url": f"https://github.com/settings/installations/{installation_id}",
            "permissions": self._app_json()["permissions"],
            "events": self._app_json()["events"],
            "created_at": "2024-01-01T00:00:00Z",
            "updated_at": "2024-01-01T00:00:00Z",
            "single_file_name": None,
            "suspended_at": None,
            "suspended_by": None,
        }

    def add_repo(
        self,
        full_name: str,
        *,
        installation_id: int,
        labels: Sequence[str] | Sequence[Mapping[str, Any]] = (),
        default_branch: str = "main",
        private: bool = False,
        data: Mapping[str, Any] | None = None,
    ) -> Repo:
        """Add (or return the existing) repository; ``data`` is a repository JSON to start from."""
        existing = self._repos.get(full_name.lower())
        if existing is not None:
            for label in labels:
                self._ensure_label(existing, label)
            return existing
        if installation_id not in self._installations:
            self.add_installation(installation_id, full_name.split("/")[0])
        owner, name = full_name.split("/", 1)
        rid = int(data["id"]) if data and "id" in data else self._new_id()
        api = f"https://api.github.com/repos/{full_name}"
        repo_json: JSONDict = {
            "id": rid,
            "node_id": _node_id("R", rid),
            "name": name,
            "full_name": full_name,
            "private": private,
            "owner": self._user(owner, "Organization"),
            "html_url": f"https://github.com/{full_name}",
            "description": None,
            "fork": False,
            "url": api,
            "created_at": "2024-01-01T00:00:00Z",
            "updated_at": "2024-01-01T00:00:00Z",
            "pushed_at": "2024-01-01T00:00:00Z",
            "default_branch": default_branch,
            "visibility": "private" if private else "public",
            "archived": False,
            "disabled": False,
            "has_issues": True,
        }
        if data:
            repo_json.update(copy.deepcopy(dict(data)))
            repo_json.update(default_branch=default_branch, private=private)
            repo_json["visibility"] = "private" if private else "public"
        repo = Repo(full_name, installation_id, default_branch, private, repo_json)
        self._repos[full_name.lower()] = repo
        for label in labels:
            self._ensure_label(repo, label)
        return repo

    def add_issue(self, full_name: str, issue: Mapping[str, Any]) -> None:
        """Store an issue JSON (e.g. ``payload["issue"]``) as is; its labels join the repo's."""
        repo = self._repo_by_name(full_name)
        number = int(issue["number"])
        stored = copy.deepcopy(dict(issue))
        names = [self._ensure_label(repo, lab) for lab in stored.get("labels") or []]
        repo.issues[number] = stored
        repo.issue_labels[number] = names
        repo.comment_ids.setdefault(number, [])

    def add_pull(
        self,
        full_name: str,
        pull: Mapping[str, Any],
        *,
        files: Sequence[Mapping[str, Any]] = (),
        commits: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        """Store a pull request JSON and the issue GitHub keeps alongside every PR."""
        repo = self._repo_by_name(full_name)
        number = int(pull["number"])
        repo.pulls[number] = copy.deepcopy(dict(pull))
        repo.pull_files[number] = [copy.deepcopy(dict(f)) for f in files]
        repo.pull_commits[number] = [copy.deepcopy(dict(c)) for c in commits]
        if number not in repo.issues:
            self.add_issue(full_name, self._issue_from_pull(repo, pull))

    def _issue_from_pull(self, repo: Repo, pull: Mapping[str, Any]) -> JSONDict:
        number = int(pull["number"])
        api = f"{repo.url}/issues/{number}"
        keys = (
            "id node_id number title user labels state locked assignee assignees milestone "
            "created_at updated_at closed_at author_association active_lock_reason body draft "
            "html_url"
        ).split()
        issue: JSONDict = {k: copy.deepcopy(pull[k]) for k in keys if k in pull}
        issue.update(
            url=api,
            repository_url=repo.url,
            labels_url=f"{api}/labels{{/name}}",
            comments_url=f"{api}/comments",
            events_url=f"{api}/events",
            pull_request={
                "url": f"{repo.url}/pulls/{number}",
                "html_url": pull.get("html_url"),
                "diff_url": pull.get("diff_url"),
                "patch_url": pull.get("patch_url"),
                "merged_at": pull.get("merged_at"),
            },
        )
        return issue

    def _pull_from_issue(self, repo: Repo, issue: Mapping[str, Any]) -> JSONDict:
        """A plausible PR for an issue_comment payload, whose issue is a PR we have not seen."""
        number = int(issue["number"])
        pull: JSONDict = {k: copy.deepcopy(v) for k, v in issue.items() if k != "pull_request"}
        ref = {
            "label": f"{repo.data['owner']['login']}:{repo.default_branch}",
            "ref": repo.default_branch,
            "sha": "0" * 40,
            "repo": repo.data,
        }
        pull.update(
            url=f"{repo.url}/pulls/{number}",
            html_url=f"https://github.com/{repo.full_name}/pull/{number}",
            diff_url=f"https://github.com/{repo.full_name}/pull/{number}.diff",
            patch_url=f"https://github.com/{repo.full_name}/pull/{number}.patch",
            merged=bool(issue.get("pull_request", {}).get("merged_at")),
            merged_at=issue.get("pull_request", {}).get("merged_at"),
            head={**ref, "ref": f"pr-{number}"},
            base=ref,
            draft=False,
            commits=0,
            additions=0,
            deletions=0,
            changed_files=0,
        )
        return pull

    def set_file(self, full_name: str, path: str, content: str | None, *, ref: str | None = None) -> None:
        """Set (or with ``None`` delete) a file on the default branch or on ``ref``."""
        repo = self._repo_by_name(full_name)
        key = (ref or repo.default_branch, path.strip("/"))
        if content is None:
            repo.files.pop(key, None)
        else:
            repo.files[key] = content

    def add_release(
        self,
        full_name: str,
        tag: str,
        *,
        created_at: str,
        published_at: str | None = None,
        name: str | None = None,
        body: str = "",
        draft: bool = False,
        prerelease: bool = False,
    ) -> JSONDict:
        """A release of ``tag``, shaped like GitHub's (tests/fixtures/github-api/releases/, a real
        recording); ``created_at`` is, as on GitHub, the date of the commit it was made from."""
        repo = self._repo_by_name(full_name)
        rid = self._new_id()
        api, web = repo.url, f"https://github.com/{repo.full_name}"
        release: JSONDict = {
            "url": f"{api}/releases/{rid}",
            "assets_url": f"{api}/releases/{rid}/assets",
            "upload_url": f"https://uploads.github.com/repos/{repo.full_name}/releases/{rid}/assets{{?name,label}}",
            "html_url": f"{web}/releases/tag/{quote(tag)}",
            "id": rid,
            "node_id": _node_id("RE", rid),
            "tag_name": tag,
            "target_commitish": repo.default_branch,
            "name": tag if name is None else name,
            "draft": draft,
            "author": self._user(str(repo.data["owner"]["login"])),
            "prerelease": prerelease,
            "created_at": created_at,
            "published_at": None if draft else (published_at or created_at),
            "assets": [],
            "tarball_url": f"{api}/tarball/{quote(tag)}",
            "zipball_url": f"{api}/zipball/{quote(tag)}",
            "body": body,
        }
        repo.releases.append(release)
        return copy.deepcopy(release)

    def add_tag(self, full_name: str, tag: str, *, sha: str, date: str, message: str = "Release") -> None:
        """A tag on a commit made at ``date``, so ``GET .../commits/{tag}`` (and ``{sha}``) find it."""
        repo = self._repo_by_name(full_name)
        person = {"name": "Release Bot", "email": "release@example.com", "date": date}
        commit: JSONDict = {
            "sha": sha,
            "node_id": _node_id("C", int(sha[:12], 16)),
            "commit": {
                "author": person,
                "committer": person,
                "message": message,
                "tree": {"sha": "0" * 40, "url": f"{repo.url}/git/trees/{'0' * 40}"},
                "url": f"{repo.url}/git/commits/{sha}",
                "comment_count": 0,
                "verification": {"verified": False, "reason": "unsigned", "signature": None, "payload": None},
            },
            "url": f"{repo.url}/commits/{sha}",
            "html_url": f"https://github.com/{repo.full_name}/commit/{sha}",
            "comments_url": f"{repo.url}/commits/{sha}/comments",
            "author": None,
            "committer": None,
            "parents": [],
            "stats": {"total": 0, "additions": 0, "deletions": 0},
            "files": [],
        }
        repo.commits[sha] = repo.commits[tag] = commit

    def set_permission(self, full_name: str, login: str, permission: str) -> None:
        """Give ``login`` a role: admin, maintain, write, triage, read or none."""
        if permission not in LEGACY_PERMISSION:
            raise ValueError(f"unknown permission {permission!r}")
        self._repo_by_name(full_name).permissions[login.lower()] = permission

    def seed_from_payload(self, payload: Mapping[str, Any]) -> None:
        """Create what a webhook payload refers to, so the bot's follow-up calls find it."""
        repo_json = payload["repository"]
        installation_id = int(payload["installation"]["id"])
        if installation_id not in self._installations:
            account = payload["installation"].get("account", {}).get("login") or repo_json["owner"]["login"]
            self.add_installation(installation_id, account)
        repo = self.add_repo(
            repo_json["full_name"],
            installation_id=installation_id,
            default_branch=repo_json.get("default_branch") or "main",
            private=bool(repo_json.get("private")),
            data=repo_json,
        )
        if "pull_request" in payload and int(payload["pull_request"]["number"]) not in repo.pulls:
            self.add_pull(repo.full_name, payload["pull_request"])
        if "issue" in payload:
            issue = payload["issue"]
            number = int(issue["number"])
            if number not in repo.issues:
                self.add_issue(repo.full_name, issue)
            if "pull_request" in issue and number not in repo.pulls:
                repo.pulls[number] = self._pull_from_issue(repo, self._issue_json(repo, number))
                repo.pull_files[number] = []
                repo.pull_commits[number] = []
        comment = payload.get("comment")
        if comment and "issue" in payload and int(comment["id"]) not in self._comments:
            self._store_comment(repo, int(payload["issue"]["number"]), copy.deepcopy(dict(comment)))

    # ------------------------------------------------------------------ inspection

    def comments(self, full_name: str, number: int) -> list[JSONDict]:
        repo = self._repo_by_name(full_name)
        return [copy.deepcopy(self._comments[c][2]) for c in repo.comment_ids.get(number, [])]

    def issue_labels(self, full_name: str, number: int) -> list[str]:
        return list(self._repo_by_name(full_name).issue_labels.get(number, []))

    def repo_labels(self, full_name: str) -> list[str]:
        return [str(lab["name"]) for lab in self._repo_by_name(full_name).labels.values()]

    def reactions(self, full_name: str, comment_id: int) -> list[str]:
        self._repo_by_name(full_name)
        return [str(r["content"]) for r in self._reactions.get(comment_id, [])]

    # ------------------------------------------------------------------ simulated humans

    def add_comment_as(
        self, full_name: str, number: int, login: str, body: str, *, user_type: str = "User"
    ) -> JSONDict:
        repo = self._repo_by_name(full_name)
        if number not in repo.issues:
            raise KeyError(f"no issue or pull request #{number} in {full_name}")
        return copy.deepcopy(self._new_comment(repo, number, self._user(login, user_type), body))

    def add_label_as(self, full_name: str, number: int, label: str, login: str) -> None:
        """A person adds a label to an issue (created first if the repository has none of that
        name, as GitHub does); GitHub's `labeled` event is recorded."""
        repo = self._repo_by_name(full_name)
        name = self._ensure_label(repo, label)
        names = repo.issue_labels.setdefault(number, [])
        if name not in names:
            names.append(name)
            self._record_label_event(repo, number, "labeled", name, self._user(login))

    def remove_label_as(self, full_name: str, number: int, label: str, login: str) -> None:
        repo = self._repo_by_name(full_name)
        names = repo.issue_labels[number]
        for name in names:
            if name.lower() == label.lower():
                names.remove(name)
                self._record_label_event(repo, number, "unlabeled", name, self._user(login))
                return
        raise KeyError(f"#{number} in {full_name} has no label {label!r}")

    # ------------------------------------------------------------------ deliveries

    def add_delivery(
        self,
        *,
        guid: str,
        event: str,
        action: str | None,
        status_code: int,
        delivered_at: datetime | None = None,
        redelivery: bool = False,
        installation_id: int | None = None,
        repository_id: int | None = None,
    ) -> int:
        """Record a webhook delivery as ``GET /app/hook/deliveries`` will list it."""
        did = self._new_id() * 10
        status = "OK" if 200 <= status_code < 300 else f"Invalid HTTP Response: {status_code}"
        if status_code == 0:
            status = "timed out"
        self._deliveries[did] = {
            "id": did,
            "guid": guid,
            "delivered_at": _iso(delivered_at or _now()),
            "redelivery": redelivery,
            "duration": 0.27,
            "status": status,
            "status_code": status_code,
            "event": event,
            "action": action,
            "installation_id": installation_id,
            "repository_id": repository_id,
            "throttled_at": None,
        }
        return did

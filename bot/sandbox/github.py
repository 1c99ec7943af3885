"""A local GitHub REST API server that speaks GitHub's real JSON, for tests and the demo.

Why it exists: the bot talks to GitHub only through gidgethub, and the tests, the end-to-end test
and ``python -m bot demo`` must exercise that real client code path (headers, App JWT and
installation-token auth, ``Link`` pagination, ETags, error mapping) over a real socket without
touching api.github.com. So this is an aiohttp app that keeps a small in-memory model of one
GitHub App, its installations and their repositories, answers with the shapes and status codes
GitHub uses, and lets a test inject failures and inspect what the bot did.

All state lives in one :class:`GitHubSandbox` instance; plain dicts are the store.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
import secrets
import time
import zlib
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

import jwt
from aiohttp import web
from cryptography.hazmat.primitives import serialization

__all__ = [
    "GitHubSandbox",
    "Injected",
    "RecordedRequest",
    "Repo",
    "start_sandbox",
]

JSONDict = dict[str, Any]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

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
class Injected:
    """One canned answer for :meth:`GitHubSandbox.fail_next`.

    ``apply=True`` performs the real effect first and then answers with this failure, which is how
    a write that GitHub applied but whose answer was lost looks to the client.
    """

    status: int
    body: JSONDict | str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    apply: bool = False

    @classmethod
    def server_error(cls, status: int = 502, *, apply: bool = False) -> Injected:
        """A GitHub 5xx, as seen during incidents (gidgethub raises GitHubBroken)."""
        return cls(status, {"message": "Server Error"}, apply=apply)

    @classmethod
    def secondary_rate_limit(cls, retry_after: int = 1, *, apply: bool = False) -> Injected:
        """403 with ``Retry-After``; the primary limit still has room, as on GitHub."""
        return cls(
            403,
            {
                "message": SECONDARY_RATE_LIMIT_MESSAGE.format(request_id="0000:0000"),
                "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
            },
            {"retry-after": str(retry_after)},
            apply,
        )

    @classmethod
    def primary_rate_limit(cls, reset_in: int = 1, *, apply: bool = False) -> Injected:
        """403 with ``x-ratelimit-remaining: 0`` (gidgethub raises RateLimitExceeded)."""
        return cls(
            403,
            {
                "message": "API rate limit exceeded for installation ID 1.",
                "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
            },
            {
                "x-ratelimit-remaining": "0",
                "x-ratelimit-used": str(RATE_LIMIT),
                "x-ratelimit-reset": str(int(time.time()) + reset_in),
            },
            apply,
        )

    @classmethod
    def not_found(cls, *, apply: bool = False) -> Injected:
        return cls(404, {"message": "Not Found", "documentation_url": DOCS}, apply=apply)


@dataclass
class RecordedRequest:
    """What the sandbox saw and answered, in arrival order; tests assert on these."""

    method: str
    path: str
    query: dict[str, str]
    status: int
    json: Any


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
    permissions: dict[str, str] = field(default_factory=dict)  # lower-cased login -> role

    @property
    def url(self) -> str:
        return str(self.data["url"])


@dataclass
class _Injection:
    method: str
    pattern: re.Pattern[str]
    responses: list[Injected]


class GitHubSandbox:
    """An in-memory GitHub for one App, served over HTTP by :meth:`make_app`.

    Seed it (``add_installation``, ``add_repo``, ``seed_from_payload`` ...), start it with
    :func:`start_sandbox`, point gidgethub's ``base_url`` at ``base_url``, then inspect
    ``requests``, ``comments()``, ``issue_labels()`` and friends.
    """

    def __init__(
        self,
        *,
        app_id: int,
        private_key_pem: str,
        app_slug: str = "hookwise",
        base_url: str = "",
    ) -> None:
        self.app_id = app_id
        self.app_slug = app_slug
        self.base_url = base_url
        key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
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
        self._injections: list[_Injection] = []
        self._user_ids: dict[str, int] = {}
        self._next_id = 3_000_000_000
        self._next_request = 0
        self.bot_user = self._user(f"{app_slug}[bot]", "Bot")

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

    # ------------------------------------------------------------------ failure injection

    def fail_next(self, method: str, path_regex: str, *responses: Injected) -> None:
        """Answer the next matching requests (``re.search`` on the path) with ``responses``."""
        self._injections.append(_Injection(method.upper(), re.compile(path_regex), list(responses)))

    def _take_injection(self, method: str, path: str) -> Injected | None:
        for inj in self._injections:
            if inj.method in (method, "*") and inj.pattern.search(path) and inj.responses:
                answer = inj.responses.pop(0)
                if not inj.responses:
                    self._injections.remove(inj)
                return answer
        return None

    def expire_tokens(self, installation_id: int | None = None) -> None:
        """Expire issued installation tokens now, to test the client's refresh path."""
        past = _now() - timedelta(seconds=1)
        for token, (inst, _) in list(self._tokens.items()):
            if installation_id is None or inst == installation_id:
                self._tokens[token] = (inst, past)

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

    # ------------------------------------------------------------------ HTTP plumbing

    def make_app(self) -> web.Application:
        """The aiohttp application; every route, the auth checks and the failure queue."""
        app = web.Application(middlewares=[self._middleware])
        r = app.router
        repo = "/repos/{owner}/{repo}"
        num = r"{number:\d+}"
        cid = r"{comment_id:\d+}"
        r.add_get("/app", self._get_app)
        r.add_get("/app/installations", self._list_installations)
        r.add_get(r"/app/installations/{installation_id:\d+}", self._get_installation)
        r.add_post(r"/app/installations/{installation_id:\d+}/access_tokens", self._create_token)
        r.add_get("/app/hook/deliveries", self._list_deliveries)
        r.add_get(r"/app/hook/deliveries/{delivery_id:\d+}", self._get_delivery)
        r.add_post(r"/app/hook/deliveries/{delivery_id:\d+}/attempts", self._redeliver)
        r.add_get(f"{repo}/installation", self._get_repo_installation)
        r.add_get(repo, self._get_repo)
        r.add_get(f"{repo}/labels", self._list_repo_labels)
        r.add_get(f"{repo}/pulls/{num}", self._get_pull)
        r.add_get(f"{repo}/pulls/{num}/files", self._list_pull_files)
        r.add_get(f"{repo}/pulls/{num}/commits", self._list_pull_commits)
        r.add_get(f"{repo}/issues/{num}", self._get_issue)
        r.add_get(f"{repo}/issues/{num}/labels", self._list_issue_labels)
        r.add_post(f"{repo}/issues/{num}/labels", self._add_labels)
        r.add_put(f"{repo}/issues/{num}/labels", self._set_labels)
        r.add_delete(f"{repo}/issues/{num}/labels/{{name}}", self._remove_label)
        r.add_get(f"{repo}/issues/{num}/events", self._list_events)
        r.add_get(f"{repo}/issues/{num}/comments", self._list_comments)
        r.add_post(f"{repo}/issues/{num}/comments", self._create_comment)
        r.add_get(f"{repo}/issues/comments/{cid}", self._get_comment)
        r.add_patch(f"{repo}/issues/comments/{cid}", self._edit_comment)
        r.add_delete(f"{repo}/issues/comments/{cid}", self._delete_comment)
        r.add_get(f"{repo}/issues/comments/{cid}/reactions", self._list_reactions)
        r.add_post(f"{repo}/issues/comments/{cid}/reactions", self._create_reaction)
        r.add_get(f"{repo}/collaborators/{{user}}/permission", self._get_permission)
        r.add_get(f"{repo}/contents/{{path:.+}}", self._get_contents)
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Failure injection, JSON errors, rate-limit headers, ETags and request recording."""
        self._next_request += 1
        request_id = f"{self._next_request:04X}:{secrets.token_hex(4).upper()}"
        raw = await request.read()
        try:
            parsed: Any = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode(errors="replace")
        injected = self._take_injection(request.method, request.path)
        response: web.StreamResponse
        if injected is None or injected.apply:
            try:
                response = await handler(request)
            except _ApiError as exc:
                response = self._json(exc.body, status=exc.status)
            except web.HTTPException as exc:  # no route / wrong method: GitHub answers 404
                status = 404 if exc.status in (404, 405) else exc.status
                response = self._json(
                    {
                        "message": exc.reason if status != 404 else "Not Found",
                        "documentation_url": DOCS,
                    },
                    status=status,
                )
        if injected is not None:
            response = self._injected_response(injected, request_id)
        self._finish(request, response, request_id)
        self.requests.append(
            RecordedRequest(request.method, request.path, dict(request.query), response.status, parsed)
        )
        return response

    def _injected_response(self, injected: Injected, request_id: str) -> web.Response:
        if isinstance(injected.body, str):
            body = injected.body.replace("0000:0000", request_id)
            resp = web.Response(status=injected.status, text=body, content_type="text/plain")
        elif injected.body is None:
            resp = web.Response(status=injected.status)
        else:
            text = json.dumps(injected.body).replace("0000:0000", request_id)
            resp = web.Response(status=injected.status, text=text)
            resp.headers["content-type"] = JSON_CT
        resp.headers["x-sandbox-injected"] = "1"
        for name, value in injected.headers.items():
            resp.headers[name] = value
        return resp

    def _finish(self, request: web.Request, response: web.StreamResponse, request_id: str) -> None:
        """Add GitHub's standard headers; answer 304 when a GET's ETag matches If-None-Match."""
        auth = request.headers.get("authorization", "")
        key = auth.split(" ", 1)[-1] if auth else f"anon:{request.remote}"
        limit = RATE_LIMIT if auth else 60
        remaining = max(self._rate_remaining.get(key, limit) - 1, 0)
        self._rate_remaining[key] = remaining
        injected = "x-sandbox-injected" in response.headers
        headers = {
            "x-ratelimit-limit": str(limit),
            "x-ratelimit-remaining": str(remaining),
            "x-ratelimit-reset": str(self._rate_reset),
            "x-ratelimit-used": str(limit - remaining),
            "x-ratelimit-resource": "core",
            "x-github-request-id": request_id,
            "x-github-media-type": "github.v3; format=json",
        }
        for name, value in headers.items():
            if not (injected and name in response.headers):
                response.headers[name] = value
        if injected:
            del response.headers["x-sandbox-injected"]
        if (
            request.method == "GET"
            and response.status == 200
            and isinstance(response, web.Response)
            and response.body is not None
        ):
            etag = response.headers.get("etag")
            if etag is None:
                assert isinstance(response.body, bytes)
                etag = f'W/"{hashlib.sha256(response.body).hexdigest()}"'
                response.headers["etag"] = etag
            if etag.removeprefix("W/") in {
                t.strip().removeprefix("W/") for t in request.headers.get("if-none-match", "").split(",")
            }:
                response.set_status(304)
                response.body = b""
                response.headers.pop("content-type", None)

    def _json(self, body: Any, *, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
        """Serialise, pointing every ``https://api.github.com`` URL at this server.

        Stored objects (and seeded payloads) keep GitHub's API root; rewriting on the way out
        means a client that follows ``comments_url``-style fields stays inside the sandbox.
        """
        text = json.dumps(body)
        if self.base_url:
            text = text.replace('"https://api.github.com/', f'"{self.base_url.rstrip("/")}/')
        resp = web.Response(status=status, text=text, headers=dict(headers or {}))
        resp.headers["content-type"] = JSON_CT
        return resp

    async def _body(self, request: web.Request) -> Any:
        raw = await request.read()
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise _ApiError(400, "Problems parsing JSON") from None

    async def _body_object(self, request: web.Request) -> JSONDict:
        body = await self._body(request)
        if body is None:
            return {}
        if not isinstance(body, dict):
            raise _ApiError(422, "Invalid request.\n\nThe request body must be a JSON object.")
        return body

    # ------------------------------------------------------------------ auth

    def _check_jwt(self, request: web.Request) -> None:
        """GitHub's App JWT rules: RS256 by the App key, iss = app id, iat/exp sane, <= 10 min."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token or token.startswith("ghs_"):
            raise _ApiError(401, "A JSON web token could not be decoded")
        try:
            claims = jwt.decode(
                token,
                self._public_key_pem,
                algorithms=["RS256"],
                options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
            )
        except jwt.PyJWTError:
            raise _ApiError(401, "A JSON web token could not be decoded") from None
        now = time.time()
        iat, exp, iss = claims.get("iat"), claims.get("exp"), claims.get("iss")
        if not isinstance(iat, int | float) or iat > now + 60:
            raise _ApiError(
                401,
                "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued",
            )
        if not isinstance(exp, int | float) or exp <= now:
            raise _ApiError(
                401,
                "'Expiration time' claim ('exp') must be a numeric value representing the "
                "future time at which the assertion expires",
            )
        if exp - iat > 660:
            raise _ApiError(401, "'Expiration time' claim ('exp') is too far in the future")
        if str(iss) != str(self.app_id):
            raise _ApiError(401, "'Issuer' claim ('iss') must be an Integer")

    def _installation_of(self, request: web.Request) -> int:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if not token:
            raise _ApiError(401, "Requires authentication")
        entry = self._tokens.get(token) if scheme.lower() in ("token", "bearer") else None
        if entry is None or entry[1] <= _now():
            raise _ApiError(401, "Bad credentials")
        return entry[0]

    def _repo(self, request: web.Request) -> Repo:
        installation_id = self._installation_of(request)
        name = f"{request.match_info['owner']}/{request.match_info['repo']}".lower()
        repo = self._repos.get(name)
        if repo is None or repo.installation_id != installation_id:
            raise _not_found()
        return repo

    def _number(self, request: web.Request, repo: Repo, *, pull: bool = False) -> int:
        number = int(request.match_info["number"])
        if number not in (repo.pulls if pull else repo.issues):
            raise _not_found()
        return number

    def _comment(self, request: web.Request, repo: Repo) -> tuple[int, JSONDict]:
        entry = self._comments.get(int(request.match_info["comment_id"]))
        if entry is None or entry[0] != repo.full_name.lower():
            raise _not_found()
        return entry[1], entry[2]

    # ------------------------------------------------------------------ pagination

    def _page(self, request: web.Request, items: Sequence[Any]) -> web.Response:
        """Slice by ``page``/``per_page``; emit GitHub's Link header (next, last, first, prev)."""
        per_page = _int_param(request, "per_page", 30, 1, 100)
        page = _int_param(request, "page", 1, 1, 10**6)
        last = max(1, -(-len(items) // per_page))
        chunk = list(items[(page - 1) * per_page : page * per_page])
        base = (self.base_url or f"{request.scheme}://{request.host}").rstrip("/") + request.path

        def link(p: int) -> str:
            query = {k: v for k, v in request.query.items() if k != "page"}
            query["page"] = str(p)
            return f"{base}?{urlencode(query)}"

        rels: list[tuple[int, str]] = []
        if page < last:
            rels += [(page + 1, "next"), (last, "last")]
        if page > 1:
            rels += [(1, "first"), (min(page - 1, last), "prev")]
        headers = {"link": ", ".join(f'<{link(p)}>; rel="{rel}"' for p, rel in rels)} if rels else {}
        return self._json(chunk, headers=headers)

    # ------------------------------------------------------------------ /app

    async def _get_app(self, request: web.Request) -> web.Response:
        self._check_jwt(request)
        return self._json(self._app_json())

    async def _list_installations(self, request: web.Request) -> web.Response:
        self._check_jwt(request)
        return self._page(request, list(self._installations.values()))

    async def _get_installation(self, request: web.Request) -> web.Response:
        self._check_jwt(request)
        inst = self._installations.get(int(request.match_info["installation_id"]))
        if inst is None:
            raise _not_found()
        return self._json(inst)

    async def _get_repo_installation(self, request: web.Request) -> web.Response:
        self._check_jwt(request)
        repo = self._repos.get(f"{request.match_info['owner']}/{request.match_info['repo']}".lower())
        if repo is None:
            raise _not_found()
        return self._json(self._installations[repo.installation_id])

    async def _create_token(self, request: web.Request) -> web.Response:
        self._check_jwt(request)
        installation_id = int(request.match_info["installation_id"])
        if installation_id not in self._installations:
            raise _not_found()
        await self._body(request)
        token = "ghs_" + secrets.token_urlsafe(27).replace("-", "a").replace("_", "b")[:36]
        expires = (_now() + timedelta(hours=1)).replace(microsecond=0)
        self._tokens[token] = (installation_id, expires)
        body = {
            "token": token,
            "expires_at": _iso(expires),
            "permissions": self._installations[installation_id]["permissions"],
            "repository_selection": "selected",
        }
        return self._json(body, status=201)

    async def _list_deliveries(self, request: web.Request) -> web.Response:
        """Newest first, cursor-paginated like GitHub (``cursor=v1_<id>``, Link rel=next only)."""
        self._check_jwt(request)
        per_page = _int_param(request, "per_page", 30, 1, 100)
        ordered = sorted(self._deliveries.values(), key=lambda d: (d["delivered_at"], d["id"]), reverse=True)
        start = 0
        cursor = request.query.get("cursor")
        if cursor:
            ids = [d["id"] for d in ordered]
            try:
                start = ids.index(int(cursor.removeprefix("v1_")))
            except ValueError:
                raise _ApiError(422, "Invalid cursor value.") from None
        chunk = ordered[start : start + per_page]
        headers = {}
        if start + per_page < len(ordered):
            query = {k: v for k, v in request.query.items() if k != "cursor"}
            query["cursor"] = f"v1_{ordered[start + per_page]['id']}"
            base = (self.base_url or f"{request.scheme}://{request.host}").rstrip("/")
            headers["link"] = f'<{base}{request.path}?{urlencode(query)}>; rel="next"'
        return self._json(chunk, headers=headers)

    async def _get_delivery(self, request: web.Request) -> web.Response:
        self._check_jwt(request)
        delivery = self._deliveries.get(int(request.match_info["delivery_id"]))
        if delivery is None:
            raise _not_found()
        detail = {
            **delivery,
            "url": "",
            "request": {"headers": {}, "payload": {}},
            "response": {"headers": {}, "payload": None},
        }
        return self._json(detail)

    async def _redeliver(self, request: web.Request) -> web.Response:
        self._check_jwt(request)
        delivery_id = int(request.match_info["delivery_id"])
        if delivery_id not in self._deliveries:
            raise _not_found()
        self.redelivery_requests.append(delivery_id)
        return self._json({}, status=202)

    # ------------------------------------------------------------------ repos, pulls, issues

    async def _get_repo(self, request: web.Request) -> web.Response:
        return self._json(self._repo(request).data)

    async def _list_repo_labels(self, request: web.Request) -> web.Response:
        return self._page(request, list(self._repo(request).labels.values()))

    async def _get_pull(self, request: web.Request) -> web.Response:
        repo = self._repo(request)
        number = self._number(request, repo, pull=True)
        if "diff" in request.headers.get("accept", ""):
            return web.Response(
                text=_diff(repo.pull_files[number]),
                headers={"content-type": "application/vnd.github.diff; charset=utf-8"},
            )
        pull = copy.deepcopy(repo.pulls[number])
        issue = self._issue_json(repo, number)
        pull["labels"], pull["comments"] = issue["labels"], issue["comments"]
        return self._json(pull)

    async def _list_pull_files(self, request: web.Request) -> web.Response:
        repo = self._repo(request)
        return self._page(request, repo.pull_files[self._number(request, repo, pull=True)])

    async def _list_pull_commits(self, request: web.Request) -> web.Response:
        repo = self._repo(request)
        return self._page(request, repo.pull_commits[self._number(request, repo, pull=True)])

    async def _get_issue(self, request: web.Request) -> web.Response:
        repo = self._repo(request)
        return self._json(self._issue_json(repo, self._number(request, repo)))

    async def _list_issue_labels(self, request: web.Request) -> web.Response:
        repo = self._repo(request)
        return self._page(request, self._issue_json(repo, self._number(request, repo))["labels"])

    async def _label_names(self, request: web.Request) -> list[str | JSONDict]:
        """Accept ``{"labels": [...]}`` or a bare list, of names or ``{"name": ...}`` objects."""
        body = await self._body(request)
        labels = body.get("labels") if isinstance(body, dict) else body
        if not isinstance(labels, list) or not all(
            isinstance(x, str) or (isinstance(x, dict) and isinstance(x.get("name"), str)) for x in labels
        ):
            raise _validation_failed("Label", "labels", "missing_field")
        return labels

    async def _add_labels(self, request: web.Request) -> web.Response:
        repo = self._repo(request)
        number = self._number(request, repo)
        labels = await self._label_names(request)
        self._apply_labels(repo, number, labels, replace=False)
        return self._json(self._issue_json(repo, number)["labels"])

    async def _set_labels(self, request: web.Request) -> web.Response:
        repo = self._repo(request)
        number = self._number(request, repo)
        labels = await self._label_names(request)
        self._apply_labels(repo, number, labels, replace=True)
        return self._json(self._issue_json(repo, number)["labels"])

    def _apply_labels(self, repo: Repo, number: int, labels: Iterable[str | JSONDict], *, replace: bool) -> None:
        current = repo.issue_labels[number]
        wanted = [self._ensure_label(repo, lab) for lab in labels]  # GitHub creates unknown ones
        if replace:
            for name in [n for n in current if n.lower() not in {w.lower() for w in wanted}]:
                current.remove(name)
                self._record_label_event(repo, number, "unlabeled", name, self.bot_user)
        for name in wanted:
            if name.lower() not in {n.lower() for n in current}:
                current.append(name)
                self._record_label_event(repo, number, "labeled", name, self.bot_user)

    async def _remove_label(self, request: web.Request) -> web.Response:
        repo = self._repo(request)
        number = self._number(request, repo)
        name = request.match_info["name"]
        current = repo.issue_labels[number]
        match = next((n for n in current if n.lower() == name.lower()), None)
        if match is None:
            raise _ApiError(404, "Label does not exist")
        current.remove(match)
        self._record_label_event(repo, number, "unlabeled", match, self.bot_user)
        return self._json(self._issue_json(repo, number)["labels"])

    async def _list_events(self, request: web.Request) -> web.Response:
        repo = self._repo(request)
        return self._page(request, repo.events.get(self._number(request, repo), []))

    # ------------------------------------------------------------------ comments and reactions

    async def _list_comments(self, request: web.Request) -> web.Response:
        repo = self._repo(request)
        number = self._number(request, repo)
        return self._page(request, [self._comment_out(repo, c) for c in repo.comment_ids[number]])

    def _comment_out(self, repo: Repo, comment_id: int) -> JSONDict:
        comment = copy.deepcopy(self._comments[comment_id][2])
        comment["reactions"] = self._reaction_summary(repo, comment_id)
        return comment

    @staticmethod
    def _comment_body(body: JSONDict) -> str:
        text = body.get("body")
        if not isinstance(text, str):
            raise _validation_failed("IssueComment", "body", "missing_field")
        if len(text) > COMMENT_MAX:
            raise _validation_failed(
                "IssueComment",
                "body",
                "custom",
                f"body is too long (maximum is {COMMENT_MAX} characters)",
            )
        return text

    async def _create_comment(self, request: web.Request) -> web.Response:
        repo = self._repo(request)
        number = self._number(request, repo)
        text = self._comment_body(await self._body_object(request))
        comment = self._new_comment(repo, number, self.bot_user, text)
        return self._json(comment, status=201, headers={"location": comment["url"]})

    async def _get_comment(self, request: web.Request) -> web.Response:
        repo = self._repo(request)
        _, comment = self._comment(request, repo)
        return self._json(self._comment_out(repo, int(comment["id"])))

    async def _edit_comment(self, request: web.Request) -> web.Response:
        repo = self._repo(request)
        _, comment = self._comment(request, repo)
        comment["body"] = self._comment_body(await self._body_object(request))
        comment["updated_at"] = _iso(_now())
        return self._json(self._comment_out(repo, int(comment["id"])))

    async def _delete_comment(self, request: web.Request) -> web.Response:
        repo = self._repo(request)
        number, comment = self._comment(request, repo)
        del self._comments[int(comment["id"])]
        repo.comment_ids[number].remove(int(comment["id"]))
        resp = web.Response(status=204)
        return resp

    async def _list_reactions(self, request: web.Request) -> web.Response:
        repo = self._repo(request)
        _, comment = self._comment(request, repo)
        content = request.query.get("content")
        reactions = [r for r in self._reactions.get(int(comment["id"]), []) if content in (None, r["content"])]
        return self._page(request, reactions)

    async def _create_reaction(self, request: web.Request) -> web.Response:
        repo = self._repo(request)
        _, comment = self._comment(request, repo)
        content = (await self._body_object(request)).get("content")
        if content not in REACTIONS:
            raise _validation_failed("Reaction", "content", "invalid")
        reactions = self._reactions.setdefault(int(comment["id"]), [])
        for reaction in reactions:
            if reaction["content"] == content and reaction["user"]["login"] == self.bot_user["login"]:
                return self._json(reaction)
        rid = self._new_id()
        reaction = {
            "id": rid,
            "node_id": _node_id("REA", rid),
            "user": self.bot_user,
            "content": content,
            "created_at": _iso(_now()),
        }
        reactions.append(reaction)
        return self._json(reaction, status=201)

    # ------------------------------------------------------------------ permissions, contents

    async def _get_permission(self, request: web.Request) -> web.Response:
        repo = self._repo(request)
        login = request.match_info["user"]
        role = repo.permissions.get(login.lower())
        if role is None:
            if repo.private:
                raise _ApiError(404, f"{login} is not a user")
            role = "read"
        user = self._user(login, "Bot" if login.endswith("[bot]") else "User")
        levels = ["read", "triage", "write", "maintain", "admin"]
        rank = levels.index(role) if role in levels else -1
        user["permissions"] = {
            "admin": rank >= 4,
            "maintain": rank >= 3,
            "push": rank >= 2,
            "triage": rank >= 1,
            "pull": rank >= 0,
        }
        user["role_name"] = role
        return self._json({"permission": LEGACY_PERMISSION[role], "role_name": role, "user": user})

    async def _get_contents(self, request: web.Request) -> web.Response:
        """A file's contents; strong ETag so ``If-None-Match`` gives 304 (checked in _finish)."""
        repo = self._repo(request)
        path = request.match_info["path"].strip("/")
        ref = request.query.get("ref") or repo.default_branch
        text = repo.files.get((ref, path))
        if text is None:
            raise _not_found()
        data = text.encode()
        sha = _git_blob_sha(data)
        etag = f'"{sha}"'
        if "raw" in request.headers.get("accept", ""):
            return web.Response(
                body=data,
                headers={"content-type": "application/vnd.github.raw; charset=utf-8", "etag": etag},
            )
        encoded = base64.encodebytes(data).decode()
        url = f"{repo.url}/contents/{quote(path)}?ref={quote(ref)}"
        body = {
            "type": "file",
            "encoding": "base64",
            "size": len(data),
            "name": path.rsplit("/", 1)[-1],
            "path": path,
            "content": encoded,
            "sha": sha,
            "url": url,
            "git_url": f"{repo.url}/git/blobs/{sha}",
            "html_url": f"https://github.com/{repo.full_name}/blob/{ref}/{path}",
            "download_url": f"https://raw.githubusercontent.com/{repo.full_name}/{ref}/{path}",
            "_links": {
                "self": url,
                "git": f"{repo.url}/git/blobs/{sha}",
                "html": f"https://github.com/{repo.full_name}/blob/{ref}/{path}",
            },
        }
        return self._json(body, headers={"etag": etag})


def _int_param(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    """GitHub ignores junk paging values rather than failing; clamp like it does."""
    try:
        value = int(request.query.get(name, default))
    except ValueError:
        return default
    return min(max(value, low), high)


def _diff(files: Sequence[Mapping[str, Any]]) -> str:
    """A unified diff assembled from the PR files' patches (what ``.diff`` returns)."""
    parts = []
    for f in files:
        name = f["filename"]
        parts.append(f"diff --git a/{name} b/{name}\n--- a/{name}\n+++ b/{name}\n{f.get('patch', '')}\n")
    return "".join(parts)


async def start_sandbox(sandbox: GitHubSandbox, host: str = "127.0.0.1", port: int = 0) -> tuple[web.AppRunner, str]:
    """Serve the sandbox in this loop; return the runner (``cleanup()`` it) and the base URL."""
    runner = web.AppRunner(sandbox.make_app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    actual_port = runner.addresses[0][1]
    sandbox.base_url = f"http://{host}:{actual_port}"
    return runner, sandbox.base_url

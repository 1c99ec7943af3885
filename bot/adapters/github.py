"""The one module that talks to GitHub: App auth, the installation-token cache, typed helpers.

Everything goes through gidgethub over the worker's single aiohttp session. Reads return small
typed values; writes (comments, labels, reactions) are the only places that change a repository,
and each honours DRY_RUN by logging the write it would have made. gidgethub's and aiohttp's
exceptions do not leave this module: `github_error` turns them into hookwise's own transient or
permanent errors (bot/core/errors.py), with the wait GitHub asked for, each naming the API's host
(`GitHub api.github.com: connection refused`). Every request goes through the host's circuit
breaker (bot/adapters/guard.py): while GitHub is down one probe at a time reaches it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, cast
from urllib.parse import quote

import aiohttp
import gidgethub
import gidgethub.aiohttp
from cachetools import LRUCache, TLRUCache
from gidgethub.abc import CACHE_TYPE, GitHubAPI
from gidgethub.apps import get_jwt

from bot.adapters.guard import NO_GUARD, Guard
from bot.config import Settings
from bot.core.commands.release_notes import MergedPull, parse_time
from bot.core.errors import HookwiseError, PermanentError, TransientError, connection_problem
from bot.core.operations.breaker import Dependency, github_dependency
from bot.core.summary.diff_budget import PullFile
from bot.core.views.comments import has_marker

log = logging.getLogger("hookwise.github")

USER_AGENT = "hookwise"
# Refresh an installation token this long before GitHub says it expires (they live an hour).
TOKEN_MARGIN_S = 5 * 60
# An App JWT lives 8 minutes from its minting (exp 9 minutes after an `iat` backdated by one); it is
# reused for the first 5 (gidgethub's own cache refreshes at 7 of its 10).
JWT_REUSE_S = 5 * 60
PER_PAGE = 100


@dataclass(frozen=True, slots=True)
class _Token:
    token: str
    expires_at: float  # epoch seconds


@dataclass(frozen=True, slots=True)
class Comment:
    id: int
    body: str
    author: str


@dataclass(frozen=True, slots=True)
class Label:
    name: str
    description: str


@dataclass(frozen=True, slots=True)
class Write:
    """One write to GitHub, made or (in a dry run) only described: what `receive` prints."""

    kind: str  # "comment" | "edit" | "reaction" | "labels"
    repository: str
    number: int | None = None  # the issue or pull request, when the write names it
    comment_id: int | None = None  # the comment made (0 in a dry run), edited or reacted to
    body: str = ""
    labels: tuple[str, ...] = ()
    reaction: str = ""
    dry_run: bool = False


Journal = list[Write]
"""Writes in the order they were made; a GitHubApp given one appends every write of its repos."""


@dataclass(frozen=True, slots=True)
class PullDetails:
    number: int
    title: str
    body: str
    merged: bool
    merge_commit_sha: str | None
    author: str
    merged_at: str | None = None  # ISO 8601, GitHub's `2026-11-30T12:00:00Z`


@dataclass(frozen=True, slots=True)
class Release:
    """A published release (`GET /repos/{owner}/{repo}/releases/latest` or `.../releases/tags/{tag}`)."""

    tag_name: str
    name: str
    created_at: str  # GitHub: the date of the commit the release was made from
    published_at: str | None


@dataclass(frozen=True, slots=True)
class LabelHistory:
    """An issue's label events, by who made them (each name once, in the order first seen)."""

    removed_by_people: list[str]  # ever taken off by a person: hookwise never puts these back
    added_by_people: list[str]  # whose last change by a person added them
    added_by_app: list[str]  # by this App: hookwise's own earlier triage (or a retry's first try)


def _add_once(names: list[str], name: str) -> None:
    if name not in names:
        names.append(name)


@dataclass(frozen=True, slots=True)
class IssueDetails:
    number: int
    title: str
    body: str
    state: str
    labels: list[str]
    is_pull_request: bool


def _github_wait(headers: Mapping[str, str], now: float) -> float | None:
    if "retry-after" in headers:
        try:
            return max(float(headers["retry-after"]), 0.0)
        except ValueError:
            return None
    if headers.get("x-ratelimit-remaining") == "0" and "x-ratelimit-reset" in headers:
        try:
            return max(float(headers["x-ratelimit-reset"]) - now, 0.0) + 1.0
        except ValueError:
            return None
    return None


DEFAULT_HOST = "api.github.com"


def github_error(exc: BaseException, *, now: float | None = None, host: str = DEFAULT_HOST) -> BaseException:
    """hookwise's error for what gidgethub or aiohttp raised; anything else is returned unchanged.

    Transient: GitHub 5xx and connection problems (an outage: they count toward the host's
    breaker), rate limits (429, or 403 with `Retry-After` / an exhausted `x-ratelimit-remaining`,
    or saying so: one installation's, not an outage). Everything else is permanent."""
    now = time.time() if now is None else now
    service = f"GitHub {host}"
    if isinstance(exc, gidgethub.GitHubBroken):
        status = int(exc.status_code)
        return TransientError(f"{service}: server error ({status})", status=status, outage=True)
    if isinstance(exc, gidgethub.HTTPException):
        headers = {key.lower(): value for key, value in exc.headers.items()}
        status = int(exc.status_code)
        wait = _github_wait(headers, now)
        if status == 429 or (status == 403 and (wait is not None or "rate limit" in str(exc).lower())):
            return TransientError(f"{service}: rate limit ({status})", retry_after_s=wait, status=status)
        return PermanentError(f"{service}: {status} {exc}".rstrip(), status=status)
    if isinstance(exc, aiohttp.ClientConnectionError | TimeoutError):
        return TransientError(f"{service}: {connection_problem(exc)}", outage=True)
    if isinstance(exc, aiohttp.ClientError):
        return PermanentError(f"{service}: answer unusable: {type(exc).__name__}: {exc}")
    if isinstance(exc, json.JSONDecodeError):
        return PermanentError(f"{service}: unreadable answer: {exc}")
    return exc


@contextmanager
def _translated(host: str) -> Iterator[None]:
    """Every gidgethub call runs inside this: its exceptions leave as hookwise's own."""
    try:
        yield
    except (gidgethub.HTTPException, aiohttp.ClientError, json.JSONDecodeError, TimeoutError) as exc:
        error = github_error(exc, host=host)
        assert isinstance(error, HookwiseError)
        raise error from exc


@asynccontextmanager
async def _calling(guard: Guard, dependency: Dependency) -> AsyncIterator[None]:
    """One request: through the host's breaker, its errors hookwise's own."""
    async with guard.call(dependency):
        with _translated(dependency.host):
            yield


async def _listing(guard: Guard, dependency: Dependency, items: AsyncIterator[Any]) -> AsyncIterator[Any]:
    """The items of a listing, through the host's breaker: the first page answered (an empty one
    too) is a success, the consumer may stop there; later pages' errors are only translated."""
    async with _calling(guard, dependency):
        first = await anext(items, _END)
    if first is _END:
        return
    yield first
    with _translated(dependency.host):
        async for item in items:
            yield item


_END = object()  # a listing with no item


def _not_found(exc: PermanentError) -> bool:
    return exc.status == 404


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


class GitHubBackend(Protocol):
    """Makes the gidgethub clients calls go through: gidgethub's aiohttp client over the process's one
    session, or (the unit tier) a client answered by the sandbox in-process (bot/sandbox/inprocess.py)."""

    def __call__(
        self, requester: str, *, oauth_token: str | None = ..., cache: CACHE_TYPE | None = ..., base_url: str = ...
    ) -> GitHubAPI: ...


def over_session(session: aiohttp.ClientSession) -> GitHubBackend:
    """gidgethub's aiohttp client, every request over `session`."""

    def client(
        requester: str,
        *,
        oauth_token: str | None = None,
        cache: CACHE_TYPE | None = None,
        base_url: str = gidgethub.sansio.DOMAIN,
    ) -> GitHubAPI:
        return gidgethub.aiohttp.GitHubAPI(session, requester, oauth_token=oauth_token, cache=cache, base_url=base_url)

    return client


class GitHubApp:
    """The App's identity: JWTs, its slug, and installation tokens reused until near expiry."""

    @classmethod
    def from_settings(
        cls,
        http: aiohttp.ClientSession | GitHubBackend,
        settings: Settings,
        *,
        journal: Journal | None = None,
        guard: Guard = NO_GUARD,
    ) -> GitHubApp:
        return cls(
            http,
            app_id=settings.APP_ID or 0,
            private_key=settings.private_key(),
            base_url=settings.GITHUB_API_URL,
            dry_run=settings.DRY_RUN,
            journal=journal,
            guard=guard,
        )

    def __init__(
        self,
        http: aiohttp.ClientSession | GitHubBackend,
        *,
        app_id: int,
        private_key: str,
        base_url: str,
        dry_run: bool = False,
        journal: Journal | None = None,
        guard: Guard = NO_GUARD,
    ) -> None:
        # `http`: the process's one aiohttp session, or a backend such as the unit tier's in-process sandbox.
        self._client = over_session(http) if isinstance(http, aiohttp.ClientSession) else http
        self.journal = journal
        self.guard = guard
        self.dependency = github_dependency(base_url)
        self._app_id = str(app_id)
        self._private_key = private_key
        self.base_url = base_url
        self.dry_run = dry_run
        self._tokens: TLRUCache[int, _Token] = TLRUCache(
            maxsize=4096, ttu=lambda _key, value, _now: value.expires_at - TOKEN_MARGIN_S, timer=time.time
        )
        # One in-flight token request per installation, however many jobs ask at once.
        self._token_locks: dict[int, asyncio.Lock] = {}
        self._jwt: tuple[str, float] | None = None  # the App's JWT and when (monotonic) to mint a new one
        self._slug: str | None = None
        self._slug_lock = asyncio.Lock()
        # gidgethub's ETag cache, for small files read often (.github/hookwise.yml); bounded.
        self._etags: LRUCache[str, Any] = LRUCache(maxsize=512)

    def _api(self, token: str | None = None, *, cache: CACHE_TYPE | None = None) -> GitHubAPI:
        return self._client(USER_AGENT, oauth_token=token, cache=cache, base_url=self.base_url)

    def jwt(self) -> str:
        """RS256, `iat` 60 s in the past, `exp` 9 minutes after `iat` (gidgethub's get_jwt); one JWT
        serves every App call for JWT_REUSE_S (as gidgethub's own cache does), since each new one
        costs a parse of the private key (~20 ms of CPU)."""
        now = time.monotonic()
        if self._jwt is None or now >= self._jwt[1]:
            self._jwt = (
                get_jwt(app_id=self._app_id, private_key=self._private_key, expiration=9 * 60),
                now + JWT_REUSE_S,
            )
        return self._jwt[0]

    async def app_get(self, url: str) -> Any:
        """GET as the App itself (JWT), e.g. `/app`."""
        async with _calling(self.guard, self.dependency):
            return await self._api().getitem(url, jwt=self.jwt())

    async def app_iter(self, url: str) -> AsyncIterator[dict[str, Any]]:
        """Items of an App-JWT list endpoint, following `Link: rel="next"` (cursor pagination too).
        Stop iterating to stop fetching pages."""
        async for item in _listing(self.guard, self.dependency, self._api().getiter(url, jwt=self.jwt())):
            yield cast(dict[str, Any], item)

    async def app_post(self, url: str, data: Any = None) -> Any:
        """POST as the App itself (JWT), e.g. a redelivery request; `data=b""` sends no body."""
        async with _calling(self.guard, self.dependency):
            return await self._api().post(url, data=data if data is not None else {}, jwt=self.jwt())

    async def slug(self) -> str:
        """The App's slug (`GET /app`), read once per process however many jobs ask at once."""
        if self._slug is None:
            async with self._slug_lock:
                if self._slug is None:
                    app = await self.app_get("/app")
                    self._slug = str(app["slug"])
        return self._slug

    async def installation_token(self, installation_id: int) -> str:
        cached = self._tokens.get(installation_id)
        if cached is not None:
            return cached.token
        lock = self._token_locks.setdefault(installation_id, asyncio.Lock())
        async with lock:
            cached = self._tokens.get(installation_id)
            if cached is None:
                # gidgethub's get_installation_access_token, with the App's JWT reused.
                raw = await self.app_post(f"/app/installations/{installation_id}/access_tokens", b"")
                cached = _Token(str(raw["token"]), _epoch(str(raw["expires_at"])))
                self._tokens[installation_id] = cached
            return cached.token

    async def repo(self, installation_id: int, full_name: str) -> Repo:
        token = await self.installation_token(installation_id)
        return Repo(
            self._api(token),
            full_name,
            bot_login=f"{await self.slug()}[bot]",
            dry_run=self.dry_run,
            cached_gh=self._api(token, cache=self._etags),
            installation_id=installation_id,
            journal=self.journal,
            guard=self.guard,
            dependency=self.dependency,
        )

    def forget_caches(self) -> None:
        """Drop what this process keeps in memory from GitHub's answers (files, label lists):
        after a forget (bot/worker/heartbeat.py)."""
        self._etags.clear()


class Repo:
    """One repository, through one installation's token."""

    def __init__(
        self,
        gh: GitHubAPI,
        full_name: str,
        *,
        bot_login: str,
        dry_run: bool,
        cached_gh: GitHubAPI | None = None,
        installation_id: int = 0,
        journal: Journal | None = None,
        guard: Guard = NO_GUARD,
        dependency: Dependency | None = None,
    ) -> None:
        self.gh = gh
        self.guard = guard
        self.dependency = dependency or github_dependency(gh.base_url)
        self.journal = journal
        self.cached_gh = cached_gh or gh
        self.full_name = full_name
        self.installation_id = installation_id
        self.bot_login = bot_login
        self.dry_run = dry_run
        self._url = f"/repos/{full_name}"

    def rate_limit(self) -> str:
        limit = self.gh.rate_limit
        return f"{limit.remaining}/{limit.limit}" if limit is not None else "unknown"

    async def _list(self, path: str, *, cached: bool = False) -> AsyncIterator[dict[str, Any]]:
        sep = "&" if "?" in path else "?"
        gh = self.cached_gh if cached else self.gh
        pages = gh.getiter(f"{self._url}{path}{sep}per_page={PER_PAGE}")
        async for item in _listing(self.guard, self.dependency, pages):
            yield cast(dict[str, Any], item)

    async def _get(self, path: str, *, cached: bool = False) -> Any:
        async with _calling(self.guard, self.dependency):
            return await (self.cached_gh if cached else self.gh).getitem(f"{self._url}{path}")

    async def _post(self, path: str, data: Any) -> Any:
        async with _calling(self.guard, self.dependency):
            return await self.gh.post(f"{self._url}{path}", data=data)

    async def _patch(self, path: str, data: Any) -> Any:
        async with _calling(self.guard, self.dependency):
            return await self.gh.patch(f"{self._url}{path}", data=data)

    # -- reads ------------------------------------------------------------------------------

    async def pull(self, number: int) -> PullDetails:
        raw = await self._get(f"/pulls/{number}")
        return PullDetails(
            number=int(raw["number"]),
            title=str(raw.get("title") or ""),
            body=str(raw.get("body") or ""),
            merged=bool(raw.get("merged")),
            merge_commit_sha=raw.get("merge_commit_sha"),
            author=str((raw.get("user") or {}).get("login", "")),
            merged_at=raw.get("merged_at"),
        )

    async def pull_files(self, number: int, *, limit: int = 3000) -> list[PullFile]:
        """The PR's files as GitHub lists them (at most 3,000: GitHub's own cap), renames' previous
        paths included."""
        files: list[PullFile] = []
        async for raw in self._list(f"/pulls/{number}/files"):
            files.append(PullFile.model_validate(raw))
            if len(files) >= limit:
                break
        return files

    async def pull_commit_messages(self, number: int, *, limit: int = 50) -> list[str]:
        messages: list[str] = []
        async for raw in self._list(f"/pulls/{number}/commits"):
            messages.append(str((raw.get("commit") or {}).get("message", "")))
            if len(messages) >= limit:
                break
        return messages

    async def latest_release(self) -> Release | None:
        """The latest published full release (not a draft or prerelease), None when there is none."""
        return await self._release("/releases/latest")

    async def release_by_tag(self, tag: str) -> Release | None:
        """The published release of `tag`, None when the tag has none."""
        return await self._release(f"/releases/tags/{quote(tag, safe='')}")

    async def _release(self, path: str) -> Release | None:
        try:
            raw = await self._get(path)
        except PermanentError as exc:
            if _not_found(exc):
                return None
            raise
        return Release(
            tag_name=str(raw.get("tag_name") or ""),
            name=str(raw.get("name") or ""),
            created_at=str(raw.get("created_at") or raw.get("published_at") or ""),
            published_at=raw.get("published_at"),
        )

    async def commit_date(self, ref: str) -> str | None:
        """When the commit `ref` (a tag, branch or SHA) was committed; None when there is no such
        ref (GitHub answers 404, or 422 "No commit found")."""
        try:
            raw = await self._get(f"/commits/{quote(ref, safe='')}")
        except PermanentError as exc:
            if exc.status in (404, 422):
                return None
            raise
        commit = raw.get("commit") or {}
        date = (commit.get("committer") or {}).get("date") or (commit.get("author") or {}).get("date")
        return str(date) if date else None

    async def merged_pulls_since(self, since: str, *, scan: int) -> list[MergedPull]:
        """Pull requests merged into the default branch after `since` (ISO 8601), newest update
        first: the closed ones by last update, read until one was last updated before `since`
        (a PR merged later was updated later) or `scan` were read."""
        after = parse_time(since)
        found: list[MergedPull] = []
        read = 0
        async for raw in self._list("/pulls?state=closed&sort=updated&direction=desc"):
            read += 1
            if parse_time(str(raw.get("updated_at") or "")) < after or read > scan:
                break
            merged_at = raw.get("merged_at")
            base = raw.get("base") or {}
            default = (base.get("repo") or {}).get("default_branch")
            if merged_at and (default is None or base.get("ref") == default):
                found.append(MergedPull(int(raw["number"]), str(raw.get("title") or ""), str(merged_at)))
        return found

    async def issue(self, number: int) -> IssueDetails:
        raw = await self._get(f"/issues/{number}")
        return IssueDetails(
            number=int(raw["number"]),
            title=str(raw.get("title") or ""),
            body=str(raw.get("body") or ""),
            state=str(raw.get("state") or "open"),
            labels=[str(label["name"]) for label in raw.get("labels") or []],
            is_pull_request="pull_request" in raw,
        )

    async def labels(self) -> list[Label]:
        """The repository's labels. Through the App's ETag cache: they rarely change, and a list
        read before costs a conditional request per page, which GitHub answers 304 without using
        rate limit."""
        found = self._list("/labels", cached=True)
        return [Label(str(raw["name"]), str(raw.get("description") or "")) async for raw in found]

    async def find_own_comment(self, number: int, marker: str, *, containing: str = "") -> Comment | None:
        """The first comment on `number` written by this App (never anyone else's, whatever it
        says) whose first line is `marker` and whose body contains `containing`."""
        async for raw in self._list(f"/issues/{number}/comments"):
            author = str((raw.get("user") or {}).get("login", ""))
            body = str(raw.get("body") or "")
            if author == self.bot_login and has_marker(body, marker) and containing in body:
                return Comment(int(raw["id"]), body, author)
        return None

    async def permission(self, login: str) -> tuple[str, str | None]:
        """(permission, role_name) of `login` on this repository; ("none", None) when GitHub
        does not know them as a collaborator (404)."""
        try:
            raw = await self._get(f"/collaborators/{login}/permission")
        except PermanentError as exc:
            if _not_found(exc):
                return "none", None
            raise
        return str(raw.get("permission") or "none"), raw.get("role_name")

    async def label_history(self, number: int) -> LabelHistory:
        """Who put which label on the issue and who took which off, from its events (one listing):
        a label a person took off is never put back, and what a person or this App added tells
        triage's record what was there before hookwise's own labels."""
        removed: list[str] = []
        people: dict[str, bool] = {}  # label -> whether a person's last change of it added it
        by_app: list[str] = []
        async for raw in self._list(f"/issues/{number}/events"):
            actor = raw.get("actor") or {}
            name = str((raw.get("label") or {}).get("name", ""))
            event = raw.get("event")
            if not name or event not in ("labeled", "unlabeled"):
                continue
            if actor.get("type") != "Bot":
                people[name] = event == "labeled"
                if event == "unlabeled":
                    _add_once(removed, name)
            elif event == "labeled" and actor.get("login") == self.bot_login:
                _add_once(by_app, name)
        by_people = [name for name, added in people.items() if added]
        return LabelHistory(removed_by_people=removed, added_by_people=by_people, added_by_app=by_app)

    def sibling(self, full_name: str) -> Repo:
        """Another repository through the same installation token (e.g. the owner's `.github`)."""
        return Repo(
            self.gh,
            full_name,
            bot_login=self.bot_login,
            dry_run=self.dry_run,
            cached_gh=self.cached_gh,
            installation_id=self.installation_id,
            journal=self.journal,
            guard=self.guard,
            dependency=self.dependency,
        )

    # -- writes -----------------------------------------------------------------------------

    def _dry(self, what: str) -> bool:
        if self.dry_run:
            log.info("dry-run: would %s on %s", what, self.full_name)
        return self.dry_run

    def _note(self, kind: str, **what: Any) -> None:
        if self.journal is not None:
            self.journal.append(Write(kind, self.full_name, dry_run=self.dry_run, **what))

    async def upsert_own_comment(
        self, number: int, marker: str, body: str, *, containing: str = ""
    ) -> tuple[int, bool]:
        """Edit this App's comment on `number` that carries `marker` (and `containing`), or post
        `body` as a new one: (its id, whether it was created). It looks before posting, so a retry
        whose POST's answer was lost edits the comment it had posted instead of posting another."""
        existing = await self.find_own_comment(number, marker, containing=containing)
        if existing is None:
            return await self.create_comment(number, body), True
        await self.edit_comment(existing.id, body)
        return existing.id, False

    async def create_comment(self, number: int, body: str) -> int:
        if self._dry(f"comment on #{number} ({len(body)} characters)"):
            self._note("comment", number=number, comment_id=0, body=body)
            return 0
        raw = await self._post(f"/issues/{number}/comments", {"body": body})
        self._note("comment", number=number, comment_id=int(raw["id"]), body=body)
        return int(raw["id"])

    async def edit_comment(self, comment_id: int, body: str) -> None:
        if not self._dry(f"edit comment {comment_id} ({len(body)} characters)"):
            await self._patch(f"/issues/comments/{comment_id}", {"body": body})
        self._note("edit", comment_id=comment_id, body=body)

    async def add_reaction(self, comment_id: int, content: str) -> None:
        """React to an issue or PR comment (`eyes`, `rocket`, `confused`); GitHub keeps one each."""
        if not self._dry(f"react {content} to comment {comment_id}"):
            await self._post(f"/issues/comments/{comment_id}/reactions", {"content": content})
        self._note("reaction", comment_id=comment_id, reaction=content)

    async def add_labels(self, number: int, labels: list[str]) -> None:
        if not labels:
            return
        if not self._dry(f"add labels {labels} to #{number}"):
            await self._post(f"/issues/{number}/labels", {"labels": labels})
        self._note("labels", number=number, labels=tuple(labels))

    async def file_text(self, path: str) -> str | None:
        """A file's text on the default branch (never a PR's head: a PR must not rewrite the bot's
        instructions for itself); None when there is none. Through the App's ETag cache: a file
        read before costs a conditional request, which GitHub answers 304 without using rate limit."""
        try:
            raw = await self._get(f"/contents/{path}", cached=True)
        except PermanentError as exc:
            if _not_found(exc):
                return None
            raise
        if not isinstance(raw, dict) or raw.get("type") != "file":
            return None
        return base64.b64decode(raw.get("content") or "").decode("utf-8", "replace")

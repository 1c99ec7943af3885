"""The sandbox GitHub's HTTP side: every route, GitHub's headers (rate limit, ETag and 304),
pagination with `Link`, JSON errors, and the recording of what the bot asked."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import secrets
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import web

from bot.sandbox.github.auth import Auth
from bot.sandbox.github.failures import FailureInjection
from bot.sandbox.github.state import (
    COMMENT_MAX,
    DOCS,
    JSON_CT,
    LEGACY_PERMISSION,
    RATE_LIMIT,
    REACTIONS,
    JSONDict,
    RecordedRequest,
    Repo,
    _ApiError,
    _git_blob_sha,
    _iso,
    _node_id,
    _not_found,
    _now,
    _validation_failed,
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Routes(Auth, FailureInjection):
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
        r.add_get(f"{repo}/pulls", self._list_pulls)
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
        r.add_get(f"{repo}/releases/latest", self._latest_release)
        r.add_get(f"{repo}/releases/tags/{{tag:.+}}", self._release_by_tag)
        r.add_get(f"{repo}/commits/{{ref:.+}}", self._get_commit)
        self.manifest.add_routes(app)  # the manifest flow's pages and `POST /app-manifests/{code}/conversions`
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
        pause = self._take_pause(request.method, request.path)
        if pause is not None:
            pause.arrived.set()
            await pause.release.wait()
            if request.transport is None or request.transport.is_closing():  # its client is gone
                self.requests.append(RecordedRequest(request.method, request.path, dict(request.query), 499, parsed))
                return web.Response(status=499)
        injected = self._take_injection(request.method, request.path)
        response: web.StreamResponse
        if injected is None or injected.apply:
            try:
                response = await handler(request)
            except _ApiError as exc:
                response = self._json(exc.body, status=exc.status)
            except web.HTTPRedirection as exc:  # the manifest flow's "Create GitHub App" sends the browser back
                response = web.Response(status=exc.status, headers=exc.headers)
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

    def _finish(self, request: web.Request, response: web.StreamResponse, request_id: str) -> None:
        """Add GitHub's standard headers; answer 304 when a GET's ETag matches If-None-Match. As on
        GitHub, a request answered 304 does not count against the rate limit."""
        not_modified = self._not_modified(request, response)
        auth = request.headers.get("authorization", "")
        key = auth.split(" ", 1)[-1] if auth else f"anon:{request.remote}"
        limit = RATE_LIMIT if auth else 60
        remaining = self._rate_remaining.get(key, limit) - (0 if not_modified else 1)
        self._rate_remaining[key] = remaining = max(remaining, 0)
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

    @staticmethod
    def _not_modified(request: web.Request, response: web.StreamResponse) -> bool:
        """Give a 200 GET its ETag; turn it into a bodiless 304 when the client already has it."""
        if not (
            request.method == "GET"
            and response.status == 200
            and isinstance(response, web.Response)
            and response.body is not None
        ):
            return False
        etag = response.headers.get("etag")
        if etag is None:
            assert isinstance(response.body, bytes)
            etag = f'W/"{hashlib.sha256(response.body).hexdigest()}"'
            response.headers["etag"] = etag
        if etag.removeprefix("W/") not in {
            t.strip().removeprefix("W/") for t in request.headers.get("if-none-match", "").split(",")
        }:
            return False
        response.set_status(304)
        response.body = b""
        response.headers.pop("content-type", None)
        return True

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

    async def _list_pulls(self, request: web.Request) -> web.Response:
        """``GET /repos/{o}/{r}/pulls``: ``state`` (open, closed, all), ``sort`` (created,
        updated) and ``direction``, paginated; each item without the fields only a single pull
        request's JSON has (``merged``, ``comments``, ``additions``...), as GitHub lists them."""
        repo = self._repo(request)
        state = request.query.get("state", "open")
        sort = request.query.get("sort", "created")
        if state not in ("open", "closed", "all"):
            raise _validation_failed("PullRequest", "state", "invalid")
        if sort not in ("created", "updated", "popularity", "long-running"):
            raise _validation_failed("PullRequest", "sort", "invalid")
        key = "updated_at" if sort == "updated" else "created_at"
        newest_first = request.query.get("direction", "desc") == "desc"
        pulls = [p for p in repo.pulls.values() if state == "all" or p.get("state") == state]
        pulls.sort(key=lambda p: (str(p.get(key) or ""), int(p["number"])), reverse=newest_first)
        listed = [{k: v for k, v in copy.deepcopy(p).items() if k not in _SINGLE_PULL_ONLY} for p in pulls]
        return self._page(request, listed)

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

    async def _latest_release(self, request: web.Request) -> web.Response:
        """The most recent published full release (not a draft or prerelease) by ``created_at``."""
        repo = self._repo(request)
        published = [r for r in repo.releases if not r["draft"] and not r["prerelease"]]
        if not published:
            raise _not_found()
        return self._json(max(published, key=lambda r: (r["created_at"], r["id"])))

    async def _release_by_tag(self, request: web.Request) -> web.Response:
        """A published release with that tag (drafts are not found by tag)."""
        repo = self._repo(request)
        tag = request.match_info["tag"]
        for release in repo.releases:
            if release["tag_name"] == tag and not release["draft"]:
                return self._json(release)
        raise _not_found()

    async def _get_commit(self, request: web.Request) -> web.Response:
        """``GET /repos/{o}/{r}/commits/{ref}``: a tag, branch or SHA; 422 for no such commit."""
        repo = self._repo(request)
        commit = repo.commits.get(request.match_info["ref"])
        if commit is None:
            raise _ApiError(422, f"No commit found for SHA: {request.match_info['ref']}")
        return self._json(commit)

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


# Fields of `GET /repos/{o}/{r}/pulls/{n}` that the pull request list does not carry.
_SINGLE_PULL_ONLY = frozenset(
    "merged mergeable rebaseable mergeable_state merged_by comments review_comments maintainer_can_modify "
    "commits additions deletions changed_files".split()
)


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

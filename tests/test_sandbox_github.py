"""The GitHub sandbox, driven by the real gidgethub client over a real socket.

These tests prove the fake speaks GitHub's wire format the way gidgethub reads it (auth headers,
Link pagination, ETag/304, error mapping), so every other test that relies on it can trust it.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import gidgethub
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from gidgethub import (
    BadRequest,
    GitHubBroken,
    InvalidField,
    RateLimitExceeded,
    RedirectionException,
    ValidationError,
)
from gidgethub.aiohttp import GitHubAPI
from gidgethub.apps import get_installation_access_token, get_jwt

from bot.sandbox.github import GitHubSandbox, Injected, start_sandbox

pytestmark = pytest.mark.e2e  # the sandbox itself, served over a real socket

FIXTURES = Path(__file__).parent / "fixtures"
APP_ID = 4242
INSTALLATION = 461842
PR_REPO = "C-Saunders/flynn_env_test"
ISSUE_REPO = "Codertocat/Hello-World"


def _load(rel: str) -> Any:
    return json.loads((FIXTURES / rel).read_text())


def _pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@pytest.fixture(scope="module")
def private_key() -> str:
    return _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))


@pytest.fixture
def sandbox(private_key: str) -> GitHubSandbox:
    sb = GitHubSandbox(app_id=APP_ID, private_key_pem=private_key)
    sb.seed_from_payload(_load("github-webhooks/pull_request/closed.merged.app.json"))
    issue_payload = _load("github-webhooks/issues/opened.json")
    issue_payload["installation"] = {"id": INSTALLATION}
    sb.seed_from_payload(issue_payload)
    sb.add_repo(ISSUE_REPO, installation_id=INSTALLATION, labels=["enhancement", "question"])
    return sb


@pytest.fixture
async def gh(sandbox: GitHubSandbox) -> AsyncIterator[GitHubAPI]:
    runner, base_url = await start_sandbox(sandbox)
    async with aiohttp.ClientSession() as session:
        yield GitHubAPI(session, "hookwise-test", base_url=base_url)
    await runner.cleanup()


async def _token(gh: GitHubAPI, key: str, installation_id: int = INSTALLATION) -> str:
    answer = await get_installation_access_token(
        gh, installation_id=str(installation_id), app_id=str(APP_ID), private_key=key
    )
    return str(answer["token"])


async def test_app_and_installation_token_flow(gh: GitHubAPI, sandbox: GitHubSandbox, private_key: str) -> None:
    app = await gh.getitem("/app", jwt=get_jwt(app_id=str(APP_ID), private_key=private_key))
    assert (app["id"], app["slug"]) == (APP_ID, "hookwise")

    answer = await get_installation_access_token(
        gh, installation_id=str(INSTALLATION), app_id=str(APP_ID), private_key=private_key
    )
    assert answer["token"].startswith("ghs_")
    assert answer["expires_at"].endswith("Z")
    assert answer["repository_selection"] == "selected"
    assert sandbox.requests[-1].status == 201

    repo = await gh.getitem(f"/repos/{PR_REPO}", oauth_token=answer["token"])
    assert repo["default_branch"] == "master"
    assert repo["url"].startswith(sandbox.base_url)  # followable URLs stay in the sandbox
    assert gh.rate_limit is not None and gh.rate_limit.remaining == 4999
    await gh.getitem(f"/repos/{PR_REPO}", oauth_token=answer["token"])
    assert gh.rate_limit.remaining == 4998

    pull = await gh.getitem(f"/repos/{PR_REPO}/pulls/2", oauth_token=answer["token"])
    assert pull["merged"] is True and pull["state"] == "closed"
    issue = await gh.getitem(f"/repos/{PR_REPO}/issues/2", oauth_token=answer["token"])
    assert issue["pull_request"]["url"].endswith("/pulls/2")


async def test_gidgethub_built_in_app_auth(sandbox: GitHubSandbox, private_key: str) -> None:
    runner, base_url = await start_sandbox(sandbox)
    try:
        async with aiohttp.ClientSession() as session:
            app_gh = GitHubAPI(session, "t", app_id=str(APP_ID), private_key=private_key, base_url=base_url)
            assert (await app_gh.getitem("/app"))["slug"] == "hookwise"
    finally:
        await runner.cleanup()


@pytest.mark.parametrize(
    "claims",
    [
        {"iss": "999"},  # another App
        {"exp_offset": -5},  # expired
        {"exp_offset": 3600},  # longer than 10 minutes
        {"iat_offset": 600},  # issued in the future
    ],
)
async def test_bad_jwt_is_401(gh: GitHubAPI, private_key: str, claims: dict[str, Any]) -> None:
    now = int(time.time())
    iat = now - 60 + claims.get("iat_offset", 0)
    payload = {"iss": claims.get("iss", str(APP_ID)), "iat": iat}
    payload["exp"] = now + claims.get("exp_offset", 500)
    token = jwt.encode(payload, private_key, algorithm="RS256")
    with pytest.raises(BadRequest) as err:
        await gh.getitem("/app", jwt=token)
    assert err.value.status_code == 401


async def test_wrong_key_jwt_and_bad_tokens_are_401(gh: GitHubAPI, sandbox: GitHubSandbox, private_key: str) -> None:
    other = _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    with pytest.raises(BadRequest) as err:
        await _token(gh, other)
    assert err.value.status_code == 401
    assert "could not be decoded" in str(err.value)

    for token in ("ghs_not_issued", None):
        with pytest.raises(BadRequest) as err:
            await gh.getitem(f"/repos/{PR_REPO}", oauth_token=token)
        assert err.value.status_code == 401

    token = await _token(gh, private_key)
    sandbox.expire_tokens()
    with pytest.raises(BadRequest) as err:
        await gh.getitem(f"/repos/{PR_REPO}", oauth_token=token)
    assert (err.value.status_code, str(err.value)) == (401, "Bad credentials")

    # a JWT is not an installation token
    with pytest.raises(BadRequest) as err:
        await gh.getitem(f"/repos/{PR_REPO}", jwt=get_jwt(app_id=str(APP_ID), private_key=private_key))
    assert err.value.status_code == 401


async def test_other_installations_repo_and_unknowns_are_404(
    gh: GitHubAPI, sandbox: GitHubSandbox, private_key: str
) -> None:
    sandbox.add_repo("someone/else", installation_id=7)
    token = await _token(gh, private_key)
    for url in ("/repos/someone/else", f"/repos/{PR_REPO}/pulls/99", f"/repos/{PR_REPO}/nope"):
        with pytest.raises(BadRequest) as err:
            await gh.getitem(url, oauth_token=token)
        assert (err.value.status_code, str(err.value)) == (404, "Not Found")
    other_token = await _token(gh, private_key, installation_id=7)
    assert (await gh.getitem("/repos/someone/else", oauth_token=other_token))["private"] is False
    with pytest.raises(BadRequest) as err:
        await _token(gh, private_key, installation_id=12345)
    assert err.value.status_code == 404


async def test_getiter_follows_link_pagination(gh: GitHubAPI, sandbox: GitHubSandbox, private_key: str) -> None:
    files = _load("github-api/pulls/list-files.github3py-235.json")
    pull = _load("github-api/pulls/get.merged.github3py-235.json")
    sandbox.add_repo("sigmavirus24/github3.py", installation_id=INSTALLATION)
    sandbox.add_pull("sigmavirus24/github3.py", pull, files=files * 3)
    token = await _token(gh, private_key)
    url = "/repos/sigmavirus24/github3.py/pulls/235/files?per_page=2"
    got = [f async for f in gh.getiter(url, oauth_token=token)]
    assert [(f["filename"], f["patch"]) for f in got] == [(f["filename"], f["patch"]) for f in files * 3]
    pages = [r for r in sandbox.requests if r.path.endswith("/files")]
    assert [r.query for r in pages] == [
        {"per_page": "2"},
        {"per_page": "2", "page": "2"},
        {"per_page": "2", "page": "3"},
    ]

    async with aiohttp.ClientSession() as session:
        headers = {"authorization": f"token {token}"}
        async with session.get(f"{sandbox.base_url}{url}&page=2", headers=headers) as resp:
            link = resp.headers["link"]
    base = f"{sandbox.base_url}/repos/sigmavirus24/github3.py/pulls/235/files?per_page=2"
    assert link == (
        f'<{base}&page=3>; rel="next", <{base}&page=3>; rel="last", '
        f'<{base}&page=1>; rel="first", <{base}&page=1>; rel="prev"'
    )


async def test_labels_are_created_silently_and_events_recorded(
    gh: GitHubAPI, sandbox: GitHubSandbox, private_key: str
) -> None:
    token = await _token(gh, private_key)
    assert sandbox.issue_labels(ISSUE_REPO, 1) == ["bug"]
    answer = await gh.post(
        f"/repos/{ISSUE_REPO}/issues/1/labels",
        data={"labels": ["question", "brand-new"]},
        oauth_token=token,
    )
    assert [lab["name"] for lab in answer] == ["bug", "question", "brand-new"]
    assert "brand-new" in sandbox.repo_labels(ISSUE_REPO)  # GitHub creates unknown labels
    repo_labels = [lab["name"] async for lab in gh.getiter(f"/repos/{ISSUE_REPO}/labels", oauth_token=token)]
    assert repo_labels == ["bug", "enhancement", "question", "brand-new"]

    await gh.delete(f"/repos/{ISSUE_REPO}/issues/1/labels/{{name}}", {"name": "brand-new"}, oauth_token=token)
    sandbox.remove_label_as(ISSUE_REPO, 1, "question", "octocat")
    assert sandbox.issue_labels(ISSUE_REPO, 1) == ["bug"]
    with pytest.raises(BadRequest) as err:
        await gh.delete(f"/repos/{ISSUE_REPO}/issues/1/labels/nope", oauth_token=token)
    assert err.value.status_code == 404

    events = [e async for e in gh.getiter(f"/repos/{ISSUE_REPO}/issues/1/events", oauth_token=token)]
    assert [(e["event"], e["label"]["name"], e["actor"]["login"], e["actor"]["type"]) for e in events] == [
        ("labeled", "question", "hookwise[bot]", "Bot"),
        ("labeled", "brand-new", "hookwise[bot]", "Bot"),
        ("unlabeled", "brand-new", "hookwise[bot]", "Bot"),
        ("unlabeled", "question", "octocat", "User"),
    ]
    issue = await gh.getitem(f"/repos/{ISSUE_REPO}/issues/1", oauth_token=token)
    assert [lab["name"] for lab in issue["labels"]] == ["bug"]


async def test_comments_reactions_and_limits(gh: GitHubAPI, sandbox: GitHubSandbox, private_key: str) -> None:
    token = await _token(gh, private_key)
    comment = await gh.post(f"/repos/{PR_REPO}/issues/2/comments", data={"body": "hi"}, oauth_token=token)
    assert comment["user"]["login"] == "hookwise[bot]" and comment["user"]["type"] == "Bot"
    assert comment["performed_via_github_app"]["slug"] == "hookwise"
    cid = comment["id"]
    edited = await gh.patch(f"/repos/{PR_REPO}/issues/comments/{cid}", data={"body": "edited"}, oauth_token=token)
    assert edited["body"] == "edited"
    human = sandbox.add_comment_as(PR_REPO, 2, "C-Saunders", "@hookwise summarize")
    listed = [c async for c in gh.getiter(f"/repos/{PR_REPO}/issues/2/comments", oauth_token=token)]
    assert [c["body"] for c in listed] == ["edited", "@hookwise summarize"]
    assert listed[1]["author_association"] == "OWNER"

    url = f"/repos/{PR_REPO}/issues/comments/{human['id']}/reactions"
    await gh.post(url, data={"content": "eyes"}, oauth_token=token)
    await gh.post(url, data={"content": "eyes"}, oauth_token=token)  # 200, not a duplicate
    assert [r.status for r in sandbox.requests[-2:]] == [201, 200]
    await gh.post(url, data={"content": "rocket"}, oauth_token=token)
    assert sandbox.reactions(PR_REPO, human["id"]) == ["eyes", "rocket"]
    with pytest.raises(InvalidField):
        await gh.post(url, data={"content": "party"}, oauth_token=token)

    with pytest.raises(ValidationError) as err:
        await gh.post(f"/repos/{PR_REPO}/issues/2/comments", data={"body": "x" * 65537}, oauth_token=token)
    assert err.value.status_code == 422 and "body is too long" in str(err.value)
    assert err.value.errors[0]["resource"] == "IssueComment"
    with pytest.raises(InvalidField):
        await gh.post(f"/repos/{PR_REPO}/issues/2/comments", data={}, oauth_token=token)

    await gh.delete(f"/repos/{PR_REPO}/issues/comments/{cid}", oauth_token=token)
    assert sandbox.requests[-1].status == 204
    assert [c["body"] for c in sandbox.comments(PR_REPO, 2)] == ["@hookwise summarize"]
    with pytest.raises(BadRequest) as gone:
        await gh.getitem(f"/repos/{PR_REPO}/issues/comments/{cid}", oauth_token=token)
    assert gone.value.status_code == 404


async def test_bad_input_never_500(gh: GitHubAPI, sandbox: GitHubSandbox, private_key: str) -> None:
    token = await _token(gh, private_key)
    headers = {"authorization": f"token {token}", "content-type": "application/json"}
    async with aiohttp.ClientSession() as session:
        url = f"{sandbox.base_url}/repos/{PR_REPO}/issues/2/comments"
        async with session.post(url, data=b"{nope", headers=headers) as resp:
            assert resp.status == 400
            assert (await resp.json())["message"] == "Problems parsing JSON"
            assert resp.headers["content-type"] == "application/json; charset=utf-8"
        async with session.post(url, data=b"[1]", headers=headers) as resp:
            assert resp.status == 422
        async with session.put(f"{sandbox.base_url}/nowhere", headers=headers) as resp:
            assert resp.status == 404
            assert (await resp.json())["message"] == "Not Found"
            assert resp.headers["x-ratelimit-resource"] == "core"
            assert resp.headers["x-github-request-id"]


async def test_contents_etag_gives_304(gh: GitHubAPI, sandbox: GitHubSandbox, private_key: str) -> None:
    token = await _token(gh, private_key)
    sandbox.set_file(PR_REPO, ".github/hookwise.yml", "triage:\n  comment: true\n")
    sandbox.set_file(PR_REPO, ".github/hookwise.yml", "other: 1\n", ref="feature")
    url = f"/repos/{PR_REPO}/contents/.github/hookwise.yml"

    cached = GitHubAPI(gh._session, "t", cache={}, base_url=sandbox.base_url)
    first = await cached.getitem(url, oauth_token=token)
    assert first["encoding"] == "base64" and first["type"] == "file"
    again = await cached.getitem(url, oauth_token=token)
    assert again == first
    assert [r.status for r in sandbox.requests[-2:]] == [200, 304]

    etag = f'"{first["sha"]}"'
    with pytest.raises(RedirectionException):
        await gh.getitem(url, oauth_token=token, extra_headers={"if-none-match": etag})
    feature = await gh.getitem(url + "?ref=feature", oauth_token=token)
    assert feature["sha"] != first["sha"]
    raw = await gh.getitem(url, oauth_token=token, accept="application/vnd.github.raw+json")
    assert raw == "triage:\n  comment: true\n"

    sandbox.set_file(PR_REPO, ".github/hookwise.yml", None)
    with pytest.raises(BadRequest) as err:
        await gh.getitem(url, oauth_token=token)
    assert err.value.status_code == 404


async def test_failure_injection(gh: GitHubAPI, sandbox: GitHubSandbox, private_key: str) -> None:
    token = await _token(gh, private_key)
    comments = rf"^/repos/{PR_REPO}/issues/2/comments$"
    sandbox.fail_next(
        "POST",
        comments,
        Injected.server_error(502),
        Injected.secondary_rate_limit(retry_after=7),
        Injected.primary_rate_limit(reset_in=30),
    )
    with pytest.raises(GitHubBroken):
        await gh.post(comments[1:-1], data={"body": "a"}, oauth_token=token)
    with pytest.raises(BadRequest) as err:
        await gh.post(comments[1:-1], data={"body": "a"}, oauth_token=token)
    assert err.value.status_code == 403 and err.value.headers["retry-after"] == "7"
    assert "secondary rate limit" in str(err.value)
    with pytest.raises(RateLimitExceeded):
        await gh.post(comments[1:-1], data={"body": "a"}, oauth_token=token)
    assert sandbox.comments(PR_REPO, 2) == []  # nothing was applied

    sandbox.fail_next("post", "/comments$", Injected(502, apply=True))
    with pytest.raises(GitHubBroken):
        await gh.post(comments[1:-1], data={"body": "lost answer"}, oauth_token=token)
    assert [c["body"] for c in sandbox.comments(PR_REPO, 2)] == ["lost answer"]

    await gh.post(comments[1:-1], data={"body": "fine"}, oauth_token=token)  # queue is empty
    assert [r.status for r in sandbox.requests[-5:]] == [502, 403, 403, 502, 201]
    assert sandbox.requests[-1].json == {"body": "fine"}


async def test_permissions(gh: GitHubAPI, sandbox: GitHubSandbox, private_key: str) -> None:
    token = await _token(gh, private_key)
    sandbox.set_permission(PR_REPO, "maintainer", "maintain")
    url = f"/repos/{PR_REPO}/collaborators/{{user}}/permission"
    got = await gh.getitem(url, {"user": "maintainer"}, oauth_token=token)
    assert (got["permission"], got["role_name"]) == ("write", "maintain")
    assert (await gh.getitem(url, {"user": "stranger"}, oauth_token=token))["permission"] == "read"
    sandbox.add_repo("C-Saunders/secret", installation_id=INSTALLATION, private=True)
    with pytest.raises(BadRequest) as err:
        await gh.getitem("/repos/C-Saunders/secret/collaborators/stranger/permission", oauth_token=token)
    assert err.value.status_code == 404


async def test_seed_issue_comment_on_pull_request(gh: GitHubAPI, sandbox: GitHubSandbox, private_key: str) -> None:
    payload = _load("github-webhooks/issue_comment/created.on-pull-request.json")
    payload["installation"] = {"id": INSTALLATION}
    sandbox.seed_from_payload(payload)
    token = await _token(gh, private_key)
    repo = payload["repository"]["full_name"]
    pull = await gh.getitem(f"/repos/{repo}/pulls/2", oauth_token=token)
    assert pull["number"] == 2 and pull["base"]["ref"] == "master"
    cid = payload["comment"]["id"]
    got = await gh.getitem(f"/repos/{repo}/issues/comments/{cid}", oauth_token=token)
    assert got["body"] == payload["comment"]["body"]


async def test_deliveries_cursor_pagination_and_redelivery(
    gh: GitHubAPI, sandbox: GitHubSandbox, private_key: str
) -> None:
    ids = [
        sandbox.add_delivery(guid=f"guid-{i}", event="issues", action="opened", status_code=code)
        for i, code in enumerate([200, 503, 202, 500, 200])
    ]
    app_jwt = get_jwt(app_id=str(APP_ID), private_key=private_key)
    got = [d async for d in gh.getiter("/app/hook/deliveries?per_page=2", jwt=app_jwt)]
    assert [d["id"] for d in got] == ids[::-1]
    assert [d["status_code"] for d in got] == [200, 500, 202, 503, 200]
    assert got[1]["status"] == "Invalid HTTP Response: 500"
    cursors = [r.query.get("cursor") for r in sandbox.requests if r.path == "/app/hook/deliveries"]
    assert cursors[0] is None and all(c and c.startswith("v1_") for c in cursors[1:])
    assert len(cursors) == 3

    await gh.post(f"/app/hook/deliveries/{ids[1]}/attempts", data=b"", jwt=app_jwt)
    assert sandbox.requests[-1].status == 202
    assert sandbox.redelivery_requests == [ids[1]]
    with pytest.raises(BadRequest) as err:
        await gh.getitem("/app/hook/deliveries", oauth_token=await _token(gh, private_key))
    assert err.value.status_code == 401


# -- releases, tags and the pull request list (what `release-notes` reads) ------------------------


async def test_releases_are_shaped_like_githubs_and_latest_skips_drafts_and_prereleases(
    gh: GitHubAPI, sandbox: GitHubSandbox, private_key: str
) -> None:
    recorded = _load("github-api/releases/get-by-tag.octokit-release-assets.json")  # a real recording (MIT)
    token = await _token(gh, private_key)
    url = f"/repos/{PR_REPO}/releases"
    with pytest.raises(gidgethub.HTTPException) as none_yet:
        await gh.getitem(f"{url}/latest", oauth_token=token)
    assert none_yet.value.status_code == 404
    sandbox.add_release(PR_REPO, "v1.0.0", created_at="2026-10-01T00:00:00Z", body="Initial release")
    sandbox.add_release(PR_REPO, "v1.1.0", created_at="2026-11-01T00:00:00Z")
    sandbox.add_release(PR_REPO, "v2.0.0-rc1", created_at="2026-11-20T00:00:00Z", prerelease=True)
    sandbox.add_release(PR_REPO, "v2.0.0", created_at="2026-11-25T00:00:00Z", draft=True)
    latest = await gh.getitem(f"{url}/latest", oauth_token=token)
    assert latest["tag_name"] == "v1.1.0"
    assert set(latest) == set(recorded)
    assert {k: type(v) for k, v in latest.items()} == {k: type(v) for k, v in recorded.items()}
    tagged = await gh.getitem(f"{url}/tags/v1.0.0", oauth_token=token)
    assert (tagged["tag_name"], tagged["body"], tagged["published_at"]) == (
        "v1.0.0",
        "Initial release",
        tagged["created_at"],
    )
    with pytest.raises(gidgethub.HTTPException) as draft:
        await gh.getitem(f"{url}/tags/v2.0.0", oauth_token=token)  # drafts are not found by tag
    assert draft.value.status_code == 404


async def test_a_tags_commit_and_an_unknown_ref(gh: GitHubAPI, sandbox: GitHubSandbox, private_key: str) -> None:
    token = await _token(gh, private_key)
    sandbox.add_tag(PR_REPO, "v1.0.1", sha="b" * 40, date="2026-11-03T12:00:00Z")
    for ref in ("v1.0.1", "b" * 40):
        commit = await gh.getitem(f"/repos/{PR_REPO}/commits/{ref}", oauth_token=token)
        assert (commit["sha"], commit["commit"]["committer"]["date"]) == ("b" * 40, "2026-11-03T12:00:00Z")
    with pytest.raises(gidgethub.HTTPException) as unknown:
        await gh.getitem(f"/repos/{PR_REPO}/commits/v9", oauth_token=token)
    assert unknown.value.status_code == 422


async def test_the_pull_request_list_filters_sorts_and_has_githubs_list_shape(
    gh: GitHubAPI, sandbox: GitHubSandbox, private_key: str
) -> None:
    recorded = _load("github-api/pulls/list.cpython-last-page.json")  # a real page of the list (gidgethub)
    pull = _load("github-webhooks/pull_request/closed.merged.app.json")["pull_request"]
    for number, updated in ((3, "2026-11-02T00:00:00Z"), (4, "2026-11-05T00:00:00Z"), (5, "2026-11-03T00:00:00Z")):
        sandbox.add_pull(PR_REPO, {**pull, "number": number, "updated_at": updated, "created_at": updated})
    sandbox.add_pull(PR_REPO, {**pull, "number": 6, "state": "open", "merged_at": None})
    token = await _token(gh, private_key)
    url = f"/repos/{PR_REPO}/pulls?state=closed&sort=updated&direction=desc&per_page=2"
    listed = [p async for p in gh.getiter(url, oauth_token=token)]
    assert [p["number"] for p in listed] == [4, 5, 3, 2]  # closed ones, last updated first, over two pages
    assert set(recorded[0]) <= set(listed[0])  # every field of GitHub's list items...
    assert not {"merged", "comments", "additions", "deletions", "changed_files", "commits"} & set(
        listed[0]
    )  # ...not more
    open_ones = [p["number"] async for p in gh.getiter(f"/repos/{PR_REPO}/pulls", oauth_token=token)]
    assert open_ones == [6]

"""A small, real-shaped GitHub world for the demo and the tests: one merged PR, one new issue.

The payloads are real GitHub deliveries (see `data/README.md`); the sandbox GitHub is seeded from
them so the bot's follow-up REST calls find what the deliveries refer to.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from bot.sandbox.github import GitHubSandbox

DATA = Path(__file__).resolve().parent / "data"
ISSUE_INSTALLATION_ID = 461842  # the installation of the real App delivery, reused for the issue's repo

# GitHub's default labels for a new repository (name, description), as its docs list them.
DEFAULT_LABELS: list[dict[str, str]] = [
    {"name": "bug", "description": "Something isn't working", "color": "d73a4a"},
    {"name": "documentation", "description": "Improvements or additions to documentation", "color": "0075ca"},
    {"name": "duplicate", "description": "This issue or pull request already exists", "color": "cfd3d7"},
    {"name": "enhancement", "description": "New feature or request", "color": "a2eeef"},
    {"name": "good first issue", "description": "Good for newcomers", "color": "7057ff"},
    {"name": "help wanted", "description": "Extra attention is needed", "color": "008672"},
    {"name": "invalid", "description": "This doesn't seem right", "color": "e4e669"},
    {"name": "question", "description": "Further information is requested", "color": "d876e3"},
    {"name": "wontfix", "description": "This will not be worked on", "color": "ffffff"},
]


def data_bytes(name: str) -> bytes:
    return (DATA / name).read_bytes()


def merged_pr_delivery() -> bytes:
    """The real merged-PR delivery to a GitHub App, byte for byte."""
    return data_bytes("pull_request.closed.merged.json")


def issue_opened_delivery(installation_id: int = ISSUE_INSTALLATION_ID) -> bytes:
    """GitHub's `issues.opened` example, with the `installation` an App's delivery carries."""
    payload = json.loads(data_bytes("issues.opened.json"))
    payload["installation"] = {"id": installation_id, "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uNDYxODQy"}
    return json.dumps(payload, indent=2).encode()


def seed(sandbox: GitHubSandbox, *deliveries: bytes) -> None:
    """Create what the deliveries refer to; a merged PR gets real recorded files and a commit."""
    files: list[dict[str, Any]] = json.loads(data_bytes("pulls.list-files.json"))
    for raw in deliveries:
        payload = json.loads(raw)
        full_name = payload["repository"]["full_name"]
        sandbox.seed_from_payload(payload)
        sandbox.add_repo(full_name, installation_id=int(payload["installation"]["id"]), labels=DEFAULT_LABELS)
        pull = payload.get("pull_request")
        if pull is not None:
            commit = {
                "sha": pull.get("merge_commit_sha") or "0" * 40,
                "commit": {"message": f"{pull.get('title') or 'Change'}\n\n{pull.get('body') or ''}".strip()},
            }
            sandbox.add_pull(full_name, pull, files=files, commits=[commit])


def command_delivery(
    sandbox: GitHubSandbox, target: bytes, number: int, body: str, login: str, *, user_type: str = "User"
) -> bytes:
    """A real `issue_comment` delivery for a comment `login` just made on issue or PR `number`
    of the repository of the `target` delivery (a pull_request or issues delivery)."""
    source = json.loads(target)
    full_name = source["repository"]["full_name"]
    comment = sandbox.add_comment_as(full_name, number, login, body, user_type=user_type)
    payload = json.loads(data_bytes("issue_comment.created.json"))
    payload["repository"], payload["installation"] = source["repository"], source["installation"]
    payload["issue"]["number"] = number
    if "pull_request" not in source:
        payload["issue"].pop("pull_request", None)
    payload["comment"] = comment
    return json.dumps(payload).encode()


def label_delivery(sandbox: GitHubSandbox, target: bytes, label: str, login: str, *, added: bool) -> bytes:
    """A real-shaped `issues` `labeled` / `unlabeled` delivery for a label change `login` just made
    on the issue of the `target` delivery (an `issues` delivery); the sandbox makes the change too."""
    payload = json.loads(target)
    full_name, number = payload["repository"]["full_name"], int(payload["issue"]["number"])
    if added:
        sandbox.add_label_as(full_name, number, label, login)
    else:
        sandbox.remove_label_as(full_name, number, label, login)
    payload["action"] = "labeled" if added else "unlabeled"
    payload["label"] = {"name": label, "color": "ededed", "default": False}
    payload["sender"] = {**payload["sender"], "login": login, "type": "User"}
    labels = sandbox.issue_labels(full_name, number)
    payload["issue"] = {**payload["issue"], "labels": [{"name": name} for name in labels]}
    payload["issue"]["updated_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())  # to the second, as GitHub
    return json.dumps(payload).encode()

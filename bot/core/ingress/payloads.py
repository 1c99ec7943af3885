"""Typed views of the webhook payload fields hookwise depends on, and nothing more.

GitHub's payloads are large; the worker needs a handful of fields and re-reads the current state
from GitHub before acting anyway (deliveries arrive late and out of order). The models ignore
every other field; bot/core/ingress/intake.py turns one into the typed job (bot/core/ingress/job.py).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Account(_Model):
    login: str


class Installation(_Model):
    id: int
    account: Account | None = None


class RepositoryRef(_Model):
    """A repository as `installation` and `installation_repositories` events list them."""

    full_name: str


class Repository(_Model):
    id: int
    full_name: str
    default_branch: str | None = None
    private: bool = False


class User(_Model):
    login: str
    type: str = "User"


class PullRequest(_Model):
    number: int
    merged: bool | None = None
    merge_commit_sha: str | None = None
    title: str | None = None


class IssuePullRequestLink(_Model):
    url: str | None = None


class Issue(_Model):
    number: int
    title: str | None = None
    state: str | None = None
    pull_request: IssuePullRequestLink | None = None
    user: User | None = None
    updated_at: str | None = None  # ISO 8601; for a label change, when GitHub made it


class Comment(_Model):
    id: int
    body: str | None = None
    user: User


class Label(_Model):
    name: str


class PushCommit(_Model):
    added: list[str] = []
    modified: list[str] = []
    removed: list[str] = []


class EventPayload(_Model):
    """The union of the fields of the events hookwise reads (`pull_request`, `issues`,
    `issue_comment`, `push`, `installation`, `installation_repositories`)."""

    action: str | None = None
    installation: Installation | None = None
    repository: Repository | None = None
    sender: User | None = None
    pull_request: PullRequest | None = None
    issue: Issue | None = None
    comment: Comment | None = None
    label: Label | None = None  # issues labeled / unlabeled
    changes: dict[str, object] | None = None
    ref: str | None = None  # push
    commits: list[PushCommit] | None = None  # push: GitHub lists at most 20
    repositories: list[RepositoryRef] | None = None  # installation (created, deleted, ...)
    repositories_removed: list[RepositoryRef] | None = None  # installation_repositories removed

"""Forgetting repositories: which data names them, and what becomes of it. Pure.

When an installation is deleted, or repositories are removed from it, hookwise deletes everything
it keeps that holds those repositories' text or names (bot/adapters/store/forget.py does the I/O;
docs/data.md lists every kind of data). The repositories travel by digest only (`digest`): the
job that forgets them, its delivery and its record never hold the names themselves.

The scan is generic rather than a list of places to remember: every key in Redis is read, the
repository names it holds are found the way they are written everywhere (`owner/name`, in a key's
name or in its value: `candidates`), and what names a forgotten repository is dealt with by the
shape of the key: a key of its own goes; a collection shared by many repositories
loses only the members naming it; the cost ledger keeps its numbers under no name (`anonymised`).
A job or a record belongs to the repository its own `repository` field names (`owned`): another
repository's record that only mentions a forgotten one in its text stays.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from typing import Any

from bot.core.costs.ledger import SEPARATOR, field_parts

SALT = b"hookwise-forget:"
REMOVED = "(removed)"  # the cost ledger's repository once its name is forgotten
_OWNER_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")
_NAME_CHARS = _OWNER_CHARS | frozenset("._")


def digest(name: str) -> str:
    """A repository's full name (`owner/name`) or an account's login, as a forget job carries it."""
    return hashlib.sha256(SALT + name.strip().lower().encode()).hexdigest()


def candidates(text: str) -> Iterator[str]:
    """Every `owner/name` written in `text` (lowercased), however it is embedded: in a key
    (`hookwise:triage:owner/name#12`), a job id (`triage-batch:owner/name:3`), JSON or a URL."""
    start = 0
    while True:
        slash = text.find("/", start)
        if slash < 0:
            return
        start = slash + 1
        left = slash
        while left > 0 and text[left - 1] in _OWNER_CHARS:
            left -= 1
        right = slash + 1
        while right < len(text) and text[right] in _NAME_CHARS:
            right += 1
        if left == slash or right == slash + 1:
            continue
        name = text[left:right].lower()
        yield name
        trimmed = name.rstrip(".")
        if trimmed != name and not trimmed.endswith("/"):
            yield trimmed  # a name at the end of a sentence


def names_any(text: str, targets: frozenset[str]) -> bool:
    """Whether `text` names one of the repositories whose digests are `targets`."""
    return bool(targets) and any(digest(name) in targets for name in candidates(text))


def repository_of(data: Any) -> tuple[int, str] | None:
    """(installation, repository) of a job (arq's envelope, a delivery's job, a triage round) or a
    record, parsed from JSON; None for anything else."""
    if not isinstance(data, dict):
        return None
    inner: dict[str, Any] = data["k"] if isinstance(data.get("k"), dict) else data
    for candidate in (inner.get("job"), inner.get("round"), inner):
        if isinstance(candidate, dict) and candidate.get("repository") and candidate.get("installation_id"):
            try:
                return int(candidate["installation_id"]), str(candidate["repository"])
            except (TypeError, ValueError):
                return None
    return None


def parse_json(raw: str | bytes | None) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def owned(structured: str | bytes | None, text: str, targets: frozenset[str]) -> bool:
    """Whether a value is data of a forgotten repository: by its own `repository` when it is a job
    or a record (another repository's data that only mentions one, e.g. `fixes owner/name#3` in
    its text, stays), else by any repository it names."""
    owner = repository_of(parse_json(structured))
    if owner is not None:
        return digest(owner[1]) in targets
    return names_any(text, targets)


def anonymised(field: str, targets: frozenset[str], installation_id: int | None = None) -> str | None:
    """The cost ledger's field (`installation|repository|task|provider|model|column`, or the
    five-part one of before providers) with the repository replaced by `(removed)`, or None when it
    names no forgotten repository (of `installation_id`, when the whole installation is forgotten)."""
    parts = field_parts(field)
    if parts is None or parts[1] == REMOVED:
        return None
    whole = installation_id is not None and parts[0] == str(installation_id)
    if not whole and digest(parts[1]) not in targets:
        return None
    return SEPARATOR.join((parts[0], REMOVED, *parts[2:]))


def cost_repositories(fields: Iterable[str], installation_id: int) -> set[str]:
    """The repositories the cost ledger files under `installation_id` (lowercased)."""
    found = set()
    for field in fields:
        parts = field_parts(field)
        if parts is not None and parts[0] == str(installation_id) and parts[1] and parts[1] != REMOVED:
            found.add(parts[1].lower())
    return found

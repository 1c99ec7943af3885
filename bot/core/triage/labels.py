"""Which labels to add to an issue. Pure.

GitHub silently creates any label name it is asked to add, so nothing reaches the API unless it
already exists in the repository (compared case-insensitively, applied with the repository's own
spelling).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def allowed_labels(
    repository_labels: Sequence[str], *, allow: Iterable[str] | None = None, deny: Iterable[str] = ()
) -> list[str]:
    """The labels the model may choose from: the repository's, narrowed by the config."""
    denied = {name.casefold() for name in deny}
    allowed = None if allow is None else {name.casefold() for name in allow}
    return [
        name
        for name in repository_labels
        if name.casefold() not in denied and (allowed is None or name.casefold() in allowed)
    ]


def labels_to_add(
    chosen: Iterable[str],
    *,
    allowed: Sequence[str],
    current: Iterable[str],
    removed_by_humans: Iterable[str] = (),
    limit: int = 5,
) -> list[str]:
    """The model's choice, reduced to existing allowed labels not already on (or taken off) the issue."""
    by_folded = {name.casefold(): name for name in allowed}
    skip = {name.casefold() for name in current} | {name.casefold() for name in removed_by_humans}
    result: list[str] = []
    for name in chosen:
        folded = name.strip().casefold()
        if folded in by_folded and folded not in skip:
            result.append(by_folded[folded])
            skip.add(folded)
    return result[: max(limit, 0)]

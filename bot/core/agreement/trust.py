"""The trust floor: a label measured below the repository's floor, or pinned off, is suggested
instead of added. Pure."""

from __future__ import annotations

from collections.abc import Iterable

from bot.core.agreement.records import (
    DEFAULT_POLICY,
    MIN_JUDGED,
    MIN_PRECISION,
    LabelStats,
    TrustPolicy,
    fold,
    folded_names,
)


def below_floor(stats: LabelStats, min_precision: float = MIN_PRECISION) -> bool:
    """Measured over at least 20 judged issues where hookwise chose or suggested it, and too often wrong."""
    precision = stats.precision
    return stats.judged >= MIN_JUDGED and precision is not None and precision < min_precision


def split_chosen(
    chosen: Iterable[str], stats: Iterable[LabelStats], policy: TrustPolicy = DEFAULT_POLICY
) -> tuple[list[str], list[str]]:
    """`chosen` split into (apply, suggest): pinned `suggest_only` and untrusted labels are suggested,
    pinned `always_apply` ones applied whatever the figures. Order kept, duplicates dropped."""
    by_label = {fold(item.label): item for item in stats}
    always, never = set(folded_names(policy.always_apply)), set(folded_names(policy.suggest_only))
    apply: list[str] = []
    suggest: list[str] = []
    seen: set[str] = set()
    for name in chosen:
        key = fold(name)
        if not key or key in seen:
            continue
        seen.add(key)
        measured = by_label.get(key)
        untrusted = measured is not None and below_floor(measured, policy.min_precision)
        if key in never or (untrusted and key not in always):
            suggest.append(name)
        else:
            apply.append(name)
    return apply, suggest


def untrusted_labels(stats: Iterable[LabelStats], policy: TrustPolicy = DEFAULT_POLICY) -> list[LabelStats]:
    """The labels below the floor by their figures, lowest precision first; a label pinned to
    `always_apply` is applied anyway, so it is not listed."""
    always = set(folded_names(policy.always_apply))
    listed = [item for item in stats if below_floor(item, policy.min_precision) and fold(item.label) not in always]
    return sorted(listed, key=lambda item: (item.precision or 0.0, fold(item.label)))

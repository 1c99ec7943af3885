"""The agreement report's figures, per repository: exact matches, per-label precision and recall,
the most corrected labels and those held back by the trust floor. Pure. Its text is
bot/core/views/agreement.py's."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from bot.core.agreement.records import (
    MIN_PRECISION,
    TOP_CORRECTED,
    WINDOW_S,
    RepoReport,
    TriageRecord,
    TrustPolicy,
    Verdict,
    folded_names,
    judge,
    label_stats,
    most_corrected,
    records_in_period,
    sorted_names,
)
from bot.core.agreement.trust import untrusted_labels


def report(
    records: Iterable[TriageRecord],
    *,
    now: float,
    since_s: float = WINDOW_S,
    min_precision: float = MIN_PRECISION,
    policies: Mapping[str, TrustPolicy] | None = None,
    top: int = TOP_CORRECTED,
) -> list[RepoReport]:
    """Per repository (by name), the agreement of the issues triaged in the last `since_s` seconds.
    A repository's policy in `policies` (its config's floor and pins) replaces `min_precision`."""
    by_repository: dict[str, list[Verdict]] = {}
    for record in records_in_period(records, now=now, since_s=since_s):
        by_repository.setdefault(record.repository, []).append(judge(record, now=now))
    reports = []
    for repository in sorted(by_repository):
        verdicts = by_repository[repository]
        policy = (policies or {}).get(repository) or TrustPolicy(min_precision=min_precision)
        stats = label_stats(verdicts)
        reports.append(
            RepoReport(
                repository=repository,
                since_s=since_s,
                min_precision=policy.min_precision,
                judged=sum(verdict.judged for verdict in verdicts),
                pending=sum(not verdict.judged for verdict in verdicts),
                exact=sum(verdict.exact for verdict in verdicts),
                labels=tuple(stats),
                corrected=tuple(most_corrected(verdicts, top=top)),
                untrusted=tuple(untrusted_labels(stats, policy)),
                suggest_only=sorted_names(folded_names(policy.suggest_only)),
            )
        )
    return reports

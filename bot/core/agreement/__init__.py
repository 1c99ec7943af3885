"""Triage agreement: how often hookwise's labels agree with what people decide. Pure.

records.py holds the records and the rules of judging, trust.py the trust floor, examples.py the
examples for the prompt, report.py the figures; the report's text is bot/core/views/agreement.py's.

How agreement is counted (the README says the same):

For every issue it triages, hookwise records the labels it *chose* (added, in live mode; would have
added, in shadow mode), the labels it *suggested* (withheld because their measured precision is
below the floor: recorded, never applied) and the labels already *present* when it triaged (not
hookwise's doing: never judged, neither for nor against it). Then it follows the issue's labels:

- Only a person's label changes count. A change by a bot (an actor ending in `[bot]`, hookwise
  itself included) does not, nor one made before hookwise triaged the issue or more than 30 days
  after. Per label, the last counted change wins: added then removed counts as removed. A is the
  labels a person added, R the labels a person removed; an issue is *touched* when at least one
  change counts. Label names compare case-insensitively.
- hookwise's answer H is chosen ∪ suggested. The truth T never includes a present label:
  - live, touched: T = (chosen ∪ A) − R. A label a person removed counts against hookwise (a false
    positive), a label a person added that hookwise did not choose counts as missed (a false
    negative), a chosen label left alone counts as right. A suggested label counts as right only if
    a person added it.
  - live, untouched for 7 days: accepted, T = chosen (so a suggested label counts as a false
    positive). Untouched for less than 7 days: pending, not judged yet.
  - shadow, touched: a person's labels are the truth, T = A − R (nothing was applied, so a chosen
    label a person did not add counts as a false positive).
  - shadow, untouched: pending, and never judged: nothing was applied, so a person's decision
    cannot be told from neglect.
- Per judged issue: true positives are H ∩ T, false positives H − T, false negatives T − H; an
  exact match when H = T (choosing nothing where nothing belongs is an exact match too).
- Per label over the judged issues: precision = TP / (TP + FP) and recall = TP / (TP + FN), shown
  with their counts, and as `-` when there is nothing to divide by.
- Most corrected: per label, how often a person removed it after hookwise chose or suggested it
  (a false positive by removal) plus how often a person added it when hookwise had not (a false
  negative).
- Trust floor: a label with at least 20 judged issues where hookwise chose or suggested it
  (TP + FP ≥ 20) and a precision below `triage.min_precision` (default 0.6) is no longer added
  automatically; hookwise records it as suggested instead. `triage.always_apply` pins a label on
  (applied whatever the figures), `triage.suggest_only` pins it off (only ever suggested); a label
  in both is only suggested.
- The report covers the issues triaged in the period asked for (30 days unless told otherwise).

Examples for the triage prompt come from the same records: the 5 issues of the repository a person
touched most recently (by their last counted change), each with its title, the first lines of its
body and the labels a person left on it, T ∪ (present − R); every piece of issue text is fenced as
untrusted data.
"""

from bot.core.agreement.examples import examples_block, excerpt, render_example, select_examples
from bot.core.agreement.records import (
    DEFAULT_POLICY,
    EXAMPLES,
    EXAMPLES_INTRO,
    TITLE_CHARS,
    WINDOW_S,
    Example,
    LabelChange,
    LabelStats,
    Mode,
    RepoReport,
    TriageRecord,
    TrustPolicy,
    final_labels,
    judge,
    net_changes,
    repository_stats,
)
from bot.core.agreement.report import report
from bot.core.agreement.trust import below_floor, split_chosen, untrusted_labels

__all__ = [
    "DEFAULT_POLICY",
    "EXAMPLES",
    "EXAMPLES_INTRO",
    "TITLE_CHARS",
    "WINDOW_S",
    "Example",
    "LabelChange",
    "LabelStats",
    "Mode",
    "RepoReport",
    "TriageRecord",
    "TrustPolicy",
    "below_floor",
    "examples_block",
    "excerpt",
    "final_labels",
    "judge",
    "net_changes",
    "render_example",
    "report",
    "repository_stats",
    "select_examples",
    "split_chosen",
    "untrusted_labels",
]

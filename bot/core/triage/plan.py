"""Triage's pure steps: the request's static prefix, and which of the chosen labels to apply. Pure.

A triage request is a static prefix - the tool definition, the system text (rules, the
repository's instructions and language) and the repository's label list as its own system block -
followed by the issue(s) in the user turn. The prefix is the same for every issue of a repository,
so it is marked for Anthropic's prompt cache where it reaches the model's minimum cacheable length
(bot/core/model/caching.py); whatever varies per call stays in the user turn. The single call
(`choose_labels`) and the batched one (`label_issues`, bot/core/triage/batch.py) share all of it but the
tool.

`plan_labels` is the one decision of what to write once the model has answered, for a single or a
batched answer alike: the labels to add, and the ones withheld as suggestions (measured precision
below the repository's trust floor, or pinned off in its config). `learn` turns the repository's
agreement records (bot/core/agreement.py) into what the next triage uses: each label's figures for
the floor, and the examples of issues a person labelled, which go in the user turn (they change
with every correction; the cached prefix must not). `triage_record` is what is remembered of one
triage, live or shadow, so people's later label changes can judge it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from string import Template
from typing import Any

from bot.core import agreement
from bot.core.agreement import LabelStats, TriageRecord, TrustPolicy
from bot.core.model.caching import CachePlan, plan_static_prefix
from bot.core.prompts import Prompts, instructions_block
from bot.core.repo_config import MAX_LABELS, RepoConfig
from bot.core.tokens import estimate_tokens
from bot.core.triage import labels as label_policy
from bot.core.triage.batch import MAX_BATCH, batch_tool
from bot.core.triage.label_answers import OVER_LIMIT, Dropped, LabelChoice, dropped_text

SINGLE_TOOL_NAME = "choose_labels"
SINGLE_TOOL_DESCRIPTION = "Record which of the repository's labels apply to the issue."
SINGLE_MAX_TOKENS = 500


def single_tool(allowed: Sequence[str], *, reason: bool = True) -> dict[str, Any]:
    """`choose_labels`: LabelChoice's schema with the label names as an enum, so the model can only
    pick those, and a `reason` only with `reason`. The same for every issue of the repository
    (nothing per issue in it)."""
    schema = LabelChoice.model_json_schema()
    schema["properties"]["labels"]["items"] = {"type": "string", "enum": list(allowed)}
    schema["properties"]["labels"]["maxItems"] = min(len(allowed), MAX_LABELS)
    if reason:
        schema["required"] = ["labels", "reason"]
    else:
        del schema["properties"]["reason"]
        schema["required"] = ["labels"]
    return {"name": SINGLE_TOOL_NAME, "description": SINGLE_TOOL_DESCRIPTION, "input_schema": schema}


CLOSED = "issue closed before triage"
TURNED_OFF = "triage is turned off in .github/hookwise.yml"
ALREADY = "issue already triaged"


def gate(*, open_issue: bool, config: RepoConfig, triaged: bool = False, force: bool = False) -> str:
    """Why an issue is not to be triaged ('' when it is): closed meanwhile, triage off in the config,
    or triaged already. `@app triage` (`force`) asks for it whatever the first two say. The one check,
    for a new issue's job, a batch round and a single triage alike."""
    if not force and not open_issue:
        return CLOSED
    if not force and not config.triage.labels and not config.triage.comment:
        return TURNED_OFF
    return ALREADY if triaged else ""


def wants_reason(config: RepoConfig) -> bool:
    """Whether to ask the model for a reason: only where a triage comment will show it. Nothing
    else reads one, and output tokens cost five times input ones."""
    return config.triage.comment and not config.triage.shadow


def label_list(labels: Iterable[tuple[str, str]], allowed: Sequence[str]) -> str:
    """The `name: description` lines of the labels the model may choose, in the repository's order."""
    allowed_set = set(allowed)
    return "\n".join(
        f"- {name}: {description or '(no description)'}" for name, description in labels if name in allowed_set
    )


@dataclass(frozen=True, slots=True)
class Prefix:
    """A triage request's static part: the tool and system blocks to send, and the cache decision."""

    tool: dict[str, Any]
    system: list[dict[str, Any]]
    plan: CachePlan
    reason: bool  # whether the tool asks for a reason


def static_prefix(
    prompts: Prompts,
    *,
    model: str,
    labels: Iterable[tuple[str, str]],
    allowed: Sequence[str],
    language: str,
    instructions: str,
    batched: bool,
    reason: bool = True,
) -> Prefix:
    """The tool (single `choose_labels` or batched `label_issues`, asking for a reason or not), the
    system text and the label list, marked for the cache when long enough for `model`.

    The batched tool leaves the issue numbers out of its schema when the prefix is cached (a tool
    that changed per batch would never hit the cache) and pins them otherwise (`pin_numbers`)."""
    tool = batch_tool(allowed, reason=reason) if batched else single_tool(allowed, reason=reason)
    system = system_text(
        prompts.triage.system, tool=tool["name"], language=language, instructions=instructions, reason=reason
    )
    listed = prompts.triage_labels.safe_substitute(labels=label_list(labels, allowed)).strip()
    plan = plan_static_prefix(tool=tool, system=system, model=model, estimate=estimate_tokens, labels=listed)
    return Prefix(tool=plan.tools[0], system=plan.system, plan=plan, reason=reason)


def pin_numbers(prefix: Prefix, allowed: Sequence[str], numbers: Sequence[int]) -> dict[str, Any]:
    """The batched tool to send with `numbers`: pinned to them (an enum, exactly that many items)
    when the prefix is not cached anyway, else the repository's unchanging tool."""
    if prefix.plan.cache:
        return prefix.tool
    return batch_tool(allowed, numbers, reason=prefix.reason)


REASON_RULE = " Write the reason in $language."


def system_text(template: Template, *, tool: str, language: str, instructions: str, reason: bool = True) -> str:
    reason_rule = Template(REASON_RULE).safe_substitute(language=language) if reason else ""
    return template.safe_substitute(
        tool=tool, language=language, instructions=instructions_block(instructions), reason_rule=reason_rule
    )


# -- what to write ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LabelPlan:
    """What triage writes for one issue: the labels to add (existing, allowed, not on the issue,
    not taken off by a person, within the config's limit, trusted) and the ones withheld as
    suggestions (recorded, never added)."""

    apply: tuple[str, ...]
    suggest: tuple[str, ...] = ()
    dropped: tuple[Dropped, ...] = ()  # named by the model, not written: why, for the record


def trust_policy(config: RepoConfig) -> TrustPolicy:
    """The trust floor and pins of a repository's `triage:` config."""
    triage = config.triage
    return TrustPolicy(
        min_precision=triage.min_precision, always_apply=triage.always_apply, suggest_only=triage.suggest_only
    )


def plan_labels(
    chosen: Iterable[str],
    *,
    allowed: Sequence[str],
    current: Iterable[str],
    removed_by_humans: Iterable[str],
    limit: int,
    stats: Iterable[LabelStats] = (),
    policy: TrustPolicy = agreement.DEFAULT_POLICY,
    dropped: Iterable[Dropped] = (),
) -> LabelPlan:
    """The model's choice for one issue (already read: bot/core/triage/label_answers.py, whose `dropped`
    carry on into the plan), reduced to what may be added to it, then split by trust: a label
    measured below the floor (`stats`) or pinned off is suggested instead of added. The config's
    limit counts the labels added (and, apart, the suggestions): a withheld label never takes the
    place of one that may be added; a label past the limit is dropped, and recorded as such."""
    candidates = label_policy.labels_to_add(
        chosen, allowed=allowed, current=current, removed_by_humans=removed_by_humans, limit=MAX_LABELS
    )
    apply, suggest = agreement.split_chosen(candidates, stats, policy)
    bound = max(limit, 0)
    over = [Dropped(name, f"{OVER_LIMIT} ({bound})") for name in (*apply[bound:], *suggest[bound:])]
    return LabelPlan(apply=tuple(apply[:bound]), suggest=tuple(suggest[:bound]), dropped=(*dropped, *over))


def before_hookwise(
    current: Iterable[str], *, added_by_people: Iterable[str], added_by_app: Iterable[str]
) -> list[str]:
    """The issue's labels that are not hookwise's doing: those it had when read, less the ones this
    App added (an earlier try of the same job, or an earlier triage) unless a person added them
    too, plus any a person added since it was read (a batch reads the issue before it waits)."""
    people = {name.casefold() for name in added_by_people}
    app = {name.casefold() for name in added_by_app}
    kept = [name for name in current if name.casefold() not in app or name.casefold() in people]
    seen = {name.casefold() for name in kept}
    return kept + [name for name in added_by_people if name.casefold() not in seen]


def retriaged(previous: TriageRecord | None, record: TriageRecord) -> TriageRecord:
    """The record to keep when an issue is triaged again (`@app triage`, or a retry after a crash):
    judged from the first triage on, so a person's changes since then still count, against what was
    there before hookwise first touched it; in live mode the labels hookwise added before stay its
    own. A first record older than the 30-day window starts afresh."""
    if previous is None or record.triaged_at - previous.triaged_at > agreement.WINDOW_S:
        return record
    kept_live = previous.chosen if previous.mode == "live" and record.mode == "live" else ()
    chosen = tuple(dict.fromkeys((*kept_live, *record.chosen)))
    suggested = tuple(name for name in record.suggested if name.casefold() not in {c.casefold() for c in chosen})
    return record.model_copy(
        update={
            "triaged_at": previous.triaged_at,
            "present": previous.present,
            "chosen": chosen,
            "suggested": suggested,
        }
    )


@dataclass(frozen=True, slots=True)
class Learned:
    """What the repository's agreement records teach the next triage."""

    stats: tuple[LabelStats, ...] = ()  # per label over the judged issues of the period: the trust floor's input
    candidates: tuple[agreement.Example, ...] = ()  # issues a person labelled, most recent first

    def examples(self, exclude: Collection[int] = ()) -> str:
        """The examples block for the user turn ('' when no person has labelled an issue yet); the
        issues in `exclude`, being triaged now, are never their own example."""
        kept = [example for example in self.candidates if example.number not in exclude][: agreement.EXAMPLES]
        return agreement.examples_block(kept, count_tokens=estimate_tokens)


def learn(records: Iterable[TriageRecord], *, repository: str, now: float) -> Learned:
    """The figures and the example candidates from one repository's records: enough candidates
    that a full batch's own issues can be left out and 5 remain."""
    kept = list(records)
    stats = agreement.repository_stats(kept, now=now)
    limit = agreement.EXAMPLES + MAX_BATCH
    return Learned(tuple(stats), tuple(agreement.select_examples(kept, repository=repository, limit=limit)))


def with_examples(examples: str, prompt: str) -> str:
    """A triage user turn with the examples block (if any) before the issue(s)."""
    return f"{examples}\n\n{prompt}" if examples else prompt


def triage_record(
    repository: str,
    number: int,
    plan: LabelPlan,
    *,
    live: bool,
    present: Iterable[str],
    title: str,
    body: str | None,
    at: float,
) -> TriageRecord:
    """What is remembered of one triage. `live` only when the labels were written: an issue whose
    labels were only named (shadow mode, or a triage comment with labels off) is judged by what a
    person sets, like shadow mode."""
    return TriageRecord(
        repository=repository,
        number=number,
        mode="live" if live else "shadow",
        triaged_at=at,
        chosen=plan.apply,
        suggested=plan.suggest,
        dropped=tuple(str(entry) for entry in plan.dropped),
        present=tuple(present),
        title=" ".join(title.split())[: agreement.TITLE_CHARS],
        body_excerpt=agreement.excerpt(body),
    )


def describe_plan(plan: LabelPlan, *, shadow: bool, written: bool) -> str:
    """A triage's record detail: the labels added (or only named in the triage comment, or in
    shadow mode what would have been added) and the ones only suggested."""
    names = ", ".join(plan.apply) or "none"
    if shadow:
        detail = f"shadow mode, nothing written: would add {names}"
    elif written:
        detail = f"labels added: {names}"
    else:
        detail = f"labels named in the triage comment (labels are off): {names}"
    if plan.suggest:
        detail += f"; suggested only: {', '.join(plan.suggest)}"
    if plan.dropped:
        detail += f"; dropped: {dropped_text(plan.dropped)}"
    return detail


def issue_prompt(prompts: Prompts, *, repository: str, title: str, body: str) -> str:
    """The user turn of a single triage call (title and body already fenced by the caller)."""
    return prompts.triage.user.safe_substitute(repository=repository, title=title, body=body)


def describe_batch(detail: str, size: int, *, quarantined: str = "") -> str:
    """A batched issue's record detail: what was done, that one call answered `size` issues, and
    why the issue was kept apart from other people's issues, if it was (bot/core/triage/hostile.py)."""
    if quarantined:
        others = f"with {size - 1} other such issue(s)" if size > 1 else "alone"
        return f"{detail} (quarantined, answered {others}: its text {quarantined})"
    return f"{detail} (answered in a batch of {size})" if size >= 1 else detail


def refused_detail(reason: str) -> str:
    """The record of an issue the model refused to label: nothing is written, nothing retried."""
    return f"the model refused to label this issue; nothing written ({reason})"

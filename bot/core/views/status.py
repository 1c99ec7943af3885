"""The status page (`GET /status`): its view model and its HTML. Pure.

The web gathers a `StatusView` from small store reads (bot/web/status.py) and `render_page` turns
it into one self-contained HTML document: no script, no external resource, inline CSS only.

What the page may show is decided here, once: every text that came from a record (a detail, an
error) is passed through `safe_text` - secrets and token-shaped strings redacted, the known
secret values of this deployment too, then bounded and HTML-escaped. Records never hold issue or
comment bodies, and the page reads nothing else that does (the queued jobs are counted, not read).
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from bot.core.operations import health as health_model
from bot.core.views import health as health_view
from bot.core.views.charts import Series, stacked_bars
from bot.core.views.format import ago, dollars, duration, esc, iso, tokens, utc

__all__ = [
    "NOT_RECORDED",
    "WARNING_RULES",
    "BudgetUse",
    "DayCost",
    "DeadLetter",
    "DeliveryRow",
    "HourCount",
    "QueueView",
    "RepoAgreement",
    "SignatureFailureCount",
    "StatusView",
    "StatusWarning",
    "redact",
    "render_page",
    "safe_text",
    "warnings",
]

NOT_RECORDED = "not recorded yet"
TEXT_LIMIT = 300  # characters of a detail or an error the page shows
REDACTED = "[redacted]"
MIN_KNOWN_SECRET = 6  # shorter configured values would redact ordinary words

# Shapes of credentials that may end up in an error message: GitHub tokens (installation, user,
# OAuth, refresh, fine-grained), Anthropic keys, JWTs, PEM keys, Authorization header values,
# passwords in URLs and `key=value` pairs that name a secret.
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)", re.S), REDACTED),
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{16,}"), REDACTED),
    (re.compile(r"\bgithub_pat_[A-Za-z0-9_]{16,}"), REDACTED),
    (re.compile(r"\bsk-(?:ant-)?[A-Za-z0-9_-]{12,}"), REDACTED),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), REDACTED),
    # `Bearer X`, `token X`: X with a digit and 8+ characters, or 16+ ("token requested" stays).
    (
        re.compile(r"(?i)\b(bearer|token|basic)(\s+)(?:(?=[\w.~+/=-]*\d)[\w.~+/=-]{8,}|[\w.~+/=-]{16,})"),
        rf"\1\2{REDACTED}",
    ),
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s:@]*:[^/\s@]+@"), rf"\1{REDACTED}@"),
    (
        re.compile(
            r"(?i)\b((?:password|passwd|secret|api[_-]?key|access[_-]?token|token)[\"']?\s*[:=]\s*[\"']?)[^\s\"',;&]+"
        ),
        rf"\1{REDACTED}",
    ),
)


def redact(text: str, known: Iterable[str] = ()) -> str:
    """`text` with every credential-shaped string, and every one of the `known` secret values, replaced."""
    for secret in sorted({s for s in known if len(s) >= MIN_KNOWN_SECRET}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def safe_text(text: str, known: Iterable[str] = (), limit: int = TEXT_LIMIT) -> str:
    """What the page shows of a record's text: redacted, on one line, at most `limit` characters, escaped."""
    flat = " ".join(redact(text, known).split())
    if len(flat) > limit:
        flat = flat[: limit - 1].rstrip() + "…"
    return html.escape(flat, quote=True)


# -- the view model ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    """One delivery's job, as its provenance record tells it."""

    delivery_id: str
    event: str  # "pull_request.closed"
    repository: str
    target: int
    outcome: str  # done | skipped | retrying | failed | running
    detail: str
    finished_at: float
    duration_ms: int
    latency_ms: int | None  # accepted by the web -> finished; None when not recorded
    waited_ms: int | None  # accepted -> a worker first started it (the queue); None when not recorded
    worked_ms: int  # the worker's own time, every try counted
    job_try: int
    model: str | None = None
    provider: str = ""  # where the model ran; "" for records written before providers
    input_tokens: int = 0
    output_tokens: int = 0
    cache_tokens: int = 0
    cost_usd: float | None = None
    cost_note: str = ""  # not empty when the cost is an estimate (an unknown model)
    error: str = ""
    origin: str = ""  # "" (the worker), "receive", "receive --sandbox"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    delivery_id: str
    event: str
    repository: str
    target: int
    failed_at: float
    job_try: int
    error: str


@dataclass(frozen=True, slots=True)
class QueueView:
    """arq's queue: every job in it, those due now, those deferred (a retry's backoff), those running."""

    depth: int
    due: int
    running: int  # among the oldest `inspected` jobs
    inspected: int
    oldest_waiting_job: str | None = None  # the oldest due job that no worker runs yet
    oldest_waiting_since: float | None = None  # epoch seconds it has been due since

    @property
    def deferred(self) -> int:
        return self.depth - self.due

    @property
    def waiting(self) -> int:
        return max(self.due - self.running, 0)


@dataclass(frozen=True, slots=True)
class BudgetUse:
    """Today's (UTC) model-token use of one installation (issue 8's ledger fills it in)."""

    installation_id: int
    used_tokens: int
    limit_tokens: int  # MODEL_TOKENS_PER_DAY; 0 = no limit
    skipped: int = 0  # events recorded as skipped for the budget today
    cost_usd: float | None = None

    @property
    def share(self) -> float | None:
        return None if self.limit_tokens <= 0 else self.used_tokens / self.limit_tokens


@dataclass(frozen=True, slots=True)
class RepoAgreement:
    """Triage agreement of one repository (issue 10's records fill it in)."""

    repository: str
    judged: int  # issues judged
    exact: int  # of those, how many hookwise's labels matched exactly
    pending: int = 0  # triaged, not judged yet
    shadow: bool = False  # triage runs in shadow mode there

    @property
    def rate(self) -> float | None:
        return None if self.judged <= 0 else self.exact / self.judged


@dataclass(frozen=True, slots=True)
class SignatureFailureCount:
    """Deliveries the web refused for their X-Hub-Signature-256 in the last hour."""

    missing: int = 0  # no signature at all
    mismatch: int = 0  # a signature that no configured secret makes
    latest_minute: float | None = None  # epoch s of the latest minute with one


@dataclass(frozen=True, slots=True)
class HourCount:
    """One UTC hour's deliveries by how they ended (`rejected`: refused for the signature)."""

    start: float
    done: int = 0
    skipped: int = 0
    failed: int = 0
    rejected: int = 0

    @property
    def total(self) -> int:
        return self.done + self.skipped + self.failed + self.rejected


@dataclass(frozen=True, slots=True)
class DayCost:
    """One UTC day's model calls: estimated cost, tokens (all counted) and calls."""

    start: float
    usd: float = 0.0
    tokens: int = 0
    calls: int = 0


@dataclass(frozen=True, slots=True)
class StatusWarning:
    """One line at the top of the page: what is wrong, and what to do about it."""

    key: str  # a stable name (the element's id is `warn-<key>`)
    level: Literal["error", "warning", "note"]
    text: str  # plain text; escaped when rendered
    fix: str = ""


@dataclass(frozen=True, slots=True)
class StatusView:
    generated_at: float
    deliveries: Sequence[DeliveryRow]
    queue: QueueView
    dead_letters: Sequence[DeadLetter]
    budgets: Sequence[BudgetUse] | None  # None: no budget source yet
    agreement: Sequence[RepoAgreement] | None  # None: no agreement source yet
    budget_limit: int = 0
    dry_run: bool = False
    known_secrets: tuple[str, ...] = field(default=(), repr=False)  # redacted wherever they appear
    problems: tuple[str, ...] = ()  # a section that could not be read, and why
    refresh_s: int | None = None
    health: health_model.Health | None = None  # workers, dependencies, fair share, Redis's eviction policy
    signature_failures: SignatureFailureCount | None = None  # None: not read
    hourly: Sequence[HourCount] | None = None  # the last 24 UTC hours, oldest first; None: not read
    daily_cost: Sequence[DayCost] | None = None  # the last 14 UTC days, oldest first; None: not read

    def count(self, outcome: str) -> int:
        return sum(1 for row in self.deliveries if row.outcome == outcome)

    @property
    def cost_usd(self) -> float:
        return sum(row.cost_usd or 0.0 for row in self.deliveries)

    @property
    def tokens(self) -> int:
        return sum(row.input_tokens + row.output_tokens + row.cache_tokens for row in self.deliveries)


# -- formatting ---------------------------------------------------------------------------------


# bot/core/views/format.py: escaping, durations, money, times (the health sections use them too).


# -- what is wrong: the warnings at the top ------------------------------------------------------
#
# Each rule reads the view and returns the warnings it finds. A new warning (no worker seen, a
# breaker open, Redis's eviction policy) is one more rule here, reading one more field of the view.

QUEUE_STUCK_S = 60  # a due job nobody has started for this long: no worker takes jobs
BUDGET_WARN_SHARE = 0.9
DEAD_RECENT_S = 24 * 3600


def _signature_warnings(view: StatusView) -> Iterable[StatusWarning]:
    found = view.signature_failures
    if found is None:
        return
    latest = f" (the latest at {utc(found.latest_minute, view.generated_at)} UTC)" if found.latest_minute else ""
    if found.mismatch:
        yield StatusWarning(
            "signature",
            "error",
            f"{found.mismatch} deliver{'y' if found.mismatch == 1 else 'ies'} refused in the last hour: the "
            f"signature matches no secret in WEBHOOK_SECRET{latest}. A wrong WEBHOOK_SECRET refuses every delivery.",
            "Set WEBHOOK_SECRET to the webhook secret in the App's settings on GitHub (while rotating, list both: "
            "WEBHOOK_SECRET=new,old), restart the web processes, then redeliver: python -m bot redeliver --since 1h.",
        )
    if found.missing:
        yield StatusWarning(
            "signature-missing",
            "warning",
            f"{found.missing} deliver{'y' if found.missing == 1 else 'ies'} without any signature in the last "
            f"hour{latest}: the App has no webhook secret on GitHub, or something else posts to WEBHOOK_PATH.",
            "Set a webhook secret in the App's settings on GitHub, the same as WEBHOOK_SECRET.",
        )


def _problem_warnings(view: StatusView) -> Iterable[StatusWarning]:
    for number, problem in enumerate(view.problems):
        yield StatusWarning(f"unreadable-{number}", "warning", problem, "The rest of the page is current.")


def _queue_warnings(view: StatusView) -> Iterable[StatusWarning]:
    since = view.queue.oldest_waiting_since
    if since is None or view.generated_at - since < QUEUE_STUCK_S:
        return
    if view.health is not None and view.health.workers is not None and not view.health.workers:
        return  # the workers' heartbeats say it more precisely: no worker at all (_health_warnings)
    waited = ago(since, view.generated_at).removesuffix(" ago")
    yield StatusWarning(
        "queue",
        "error",
        f"The oldest job has waited {waited} and no worker has started it: no worker is running against this "
        f"Redis, or every worker is busy ({view.queue.waiting} waiting).",
        "Check that python -m bot worker runs with this REDIS_URL and its log has no error; add workers if they "
        "are all busy.",
    )


def _budget_warnings(view: StatusView) -> Iterable[StatusWarning]:
    for use in view.budgets or ():
        share = use.share
        if share is None or share < BUDGET_WARN_SHARE:
            continue
        spent = f"installation {use.installation_id} has used {share:.0%} of today's model budget"
        if share >= 1:
            text = f"{spent}: its events are skipped until 00:00 UTC ({use.skipped} so far)."
        else:
            text = f"{spent} ({tokens(use.used_tokens)} of {tokens(use.limit_tokens)} tokens)."
        yield StatusWarning(
            f"budget-{use.installation_id}",
            "error" if share >= 1 else "warning",
            text[:1].upper() + text[1:],
            "Raise MODEL_TOKENS_PER_DAY (0 = no limit) if that is expected; python -m bot costs shows where it went.",
        )


def _dead_letter_warnings(view: StatusView) -> Iterable[StatusWarning]:
    recent = [d for d in view.dead_letters if view.generated_at - d.failed_at < DEAD_RECENT_S]
    if recent:
        yield StatusWarning(
            "dead-letters",
            "warning",
            f"{len(recent)} job{'' if len(recent) == 1 else 's'} failed for good in the last 24 h "
            f"(the latest {ago(recent[0].failed_at, view.generated_at)}); see Dead letters below.",
            "Fix the cause the error names, then run it again: python -m bot replay DELIVERY.",
        )


def _health_warnings(view: StatusView) -> Iterable[StatusWarning]:
    """No worker seen while jobs wait, a circuit breaker open, a Redis that may evict
    (bot/core/operations/health.py)."""
    if view.health is not None:
        for alert in health_model.warnings(view.health, view.generated_at):
            yield StatusWarning(alert.key, alert.level, alert.text, alert.fix)


def _dry_run_warnings(view: StatusView) -> Iterable[StatusWarning]:
    if view.dry_run:
        yield StatusWarning(
            "dry-run", "note", "DRY_RUN is on in this web process's settings: workers with it write nothing to GitHub."
        )


WarningRule = Callable[["StatusView"], Iterable[StatusWarning]]
WARNING_RULES: tuple[WarningRule, ...] = (
    _signature_warnings,
    _health_warnings,
    _queue_warnings,
    _budget_warnings,
    _dead_letter_warnings,
    _problem_warnings,
    _dry_run_warnings,
)
_LEVELS = {"error": 0, "warning": 1, "note": 2}


def warnings(view: StatusView, rules: Sequence[WarningRule] = WARNING_RULES) -> list[StatusWarning]:
    """Everything the page should say is wrong, the worst first (the order of the rules within a level)."""
    found = [warning for rule in rules for warning in rule(view)]
    return sorted(found, key=lambda warning: _LEVELS[warning.level])


# -- the page ------------------------------------------------------------------------------------

_CSS = """
:root { --fg:#1f2328; --muted:#59636e; --line:#d1d9e0; --soft:#f6f8fa; --green:#1a7f37; --red:#cf222e;
  --amber:#9a6700; --blue:#0969da; --grey:#8c959f; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); margin: 0;
  background: #fff; }
header { padding: 14px 24px; border-bottom: 1px solid var(--line); background: var(--soft); display: flex;
  align-items: baseline; gap: 16px; flex-wrap: wrap; }
header h1 { font-size: 18px; margin: 0; } header .meta { color: var(--muted); }
main { padding: 16px 24px 32px; max-width: 1400px; }
h2 { font-size: 15px; margin: 26px 0 8px; } h2 small { font-weight: normal; color: var(--muted); }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(120px, 1fr)); gap: 10px; }
.tile { border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; }
.tile b { display: block; font-size: 20px; font-variant-numeric: tabular-nums; }
.tile span { color: var(--muted); font-size: 12px; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); vertical-align: top;
  overflow-wrap: anywhere; }
th { font-size: 12px; color: var(--muted); font-weight: 600; background: var(--soft); }
td.num, th.num { text-align: right; white-space: nowrap; overflow-wrap: normal; } td.nw { white-space: nowrap; }
td.mono, code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px; }
td .sub { display: block; color: var(--muted); font-size: 12px; }
.badge { display: inline-block; border-radius: 10px; padding: 0 8px; font-size: 12px; font-weight: 600;
  border: 1px solid currentColor; }
.done { color: var(--green); } .failed { color: var(--red); } .retrying { color: var(--amber); }
.skipped { color: var(--muted); } .running { color: var(--blue); } .waiting { color: var(--blue); }
.muted, .empty { color: var(--muted); } .empty { font-style: italic; padding: 8px 0; }
.err { color: var(--red); } .tag { font-size: 11px; color: var(--muted); border: 1px solid var(--line);
  border-radius: 4px; padding: 0 4px; margin-left: 4px; white-space: nowrap; }
.bar { background: var(--soft); border: 1px solid var(--line); border-radius: 4px; height: 10px; width: 160px;
  display: inline-block; vertical-align: middle; overflow: hidden; }
.bar i { display: block; height: 100%; background: var(--green); } .bar i.high { background: var(--red); }
#warnings { list-style: none; margin: 0 0 14px; padding: 0; display: grid; gap: 8px; }
#warnings li { border: 1px solid; border-left-width: 5px; border-radius: 6px; padding: 8px 12px; }
#warnings li b { display: block; } #warnings li span { color: var(--fg); }
#warnings li.error { border-color: var(--red); background: #ffebe9; }
#warnings li.warning { border-color: var(--amber); background: #fff8c5; }
#warnings li.note { border-color: var(--blue); background: #ddf4ff; }
#all-well { color: var(--green); margin: 0 0 14px; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(360px, 1fr)); gap: 16px; }
.charts figure { margin: 0; border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; min-width: 0; }
.charts figcaption { font-weight: 600; font-size: 13px; }
.charts figcaption small { font-weight: normal; color: var(--muted); }
svg.chart { display: block; width: 100%; height: auto; margin-top: 6px; }
svg.chart .grid { stroke: var(--line); stroke-width: 1; } svg.chart .axis { fill: var(--muted); font-size: 11px; }
svg.chart .hover { fill: transparent; } svg.chart g:hover .hover { fill: rgba(9, 105, 218, 0.08); }
.s-done { fill: var(--green); } .s-skipped { fill: var(--grey); } .s-failed { fill: var(--red); }
.s-rejected { fill: #bf8700; } .s-cost { fill: var(--blue); }
.legend { font-size: 12px; color: var(--muted); } .legend i { display: inline-block; width: 10px; height: 10px;
  border-radius: 2px; margin: 0 4px 0 10px; vertical-align: -1px; }
.legend i.s-done { background: var(--green); } .legend i.s-skipped { background: var(--grey); }
.legend i.s-failed { background: var(--red); } .legend i.s-rejected { background: #bf8700; }
footer { color: var(--muted); font-size: 12px; margin-top: 28px; }
"""


def _tile(value: str, label: str, css: str = "") -> str:
    return f'<div class="tile"><b class="{css}">{value}</b><span>{esc(label)}</span></div>'


def _tiles(view: StatusView) -> str:
    queue = view.queue
    oldest = (
        ago(queue.oldest_waiting_since, view.generated_at).removesuffix(" ago")
        if queue.oldest_waiting_since is not None
        else "—"
    )
    parts = [
        _tile(str(len(view.deliveries)), "recent deliveries shown"),
        _tile(str(view.count("done")), "done", "done"),
        _tile(str(view.count("skipped")), "skipped", "skipped"),
        _tile(str(view.count("failed") + view.count("retrying")), "failed or retrying", "failed"),
        _tile(str(queue.depth), "jobs in the queue"),
        _tile(esc(oldest), "oldest job waiting for"),
        _tile(str(len(view.dead_letters)), "dead letters", "failed" if view.dead_letters else ""),
        _tile(esc(dollars(view.cost_usd)), f"model cost of these ({tokens(view.tokens)} tokens)"),
    ]
    return f'<section class="tiles" aria-label="summary">{"".join(parts)}</section>'


def _origin(origin: str) -> str:
    return f'<span class="tag">{esc(origin)}</span>' if origin else ""


def _waited(row: DeliveryRow) -> str:
    if row.waited_ms is None:
        return '<span class="muted" title="not recorded (a record from before this version)">—</span>'
    return duration(row.waited_ms)


def _worked(row: DeliveryRow) -> str:
    """The worker's time; over several tries, how many, with the wait between them in the title."""
    if row.job_try <= 1:
        return duration(row.worked_ms)
    between = ""
    if row.latency_ms is not None and row.waited_ms is not None:
        backoff = max(row.latency_ms - row.waited_ms - row.worked_ms, 0)
        between = f", {duration(backoff)} between them (backoff)"
    title = f"{row.job_try} tries{between}"
    return f'<span title="{esc(title)}">{duration(row.worked_ms)}</span><span class="sub">{row.job_try} tries</span>'


def _model_cell(row: DeliveryRow) -> str:
    if not row.model:
        return '<span class="muted">—</span>'
    estimate = f' <span class="tag" title="{esc(row.cost_note)}">estimate</span>' if row.cost_note else ""
    cache = f" +{tokens(row.cache_tokens)} cache" if row.cache_tokens else ""
    provider = f' <span class="muted">on {esc(row.provider)}</span>' if row.provider else ""
    return (
        f'<span class="mono">{esc(row.model)}</span>{provider}{estimate}'
        f'<span class="sub">{tokens(row.input_tokens)} in / {tokens(row.output_tokens)} out{cache}</span>'
    )


def _delivery_rows(view: StatusView) -> str:
    if not view.deliveries:
        return (
            '<p class="empty">No deliveries recorded yet. Send one: '
            "<code>python -m bot receive ... --sandbox --redis REDIS_URL</code>.</p>"
        )
    rows = []
    for row in view.deliveries:
        known = view.known_secrets
        text = safe_text(row.detail, known)
        if row.error:
            text += f'<div class="err">{safe_text(row.error, known)}</div>'
        rows.append(
            "<tr>"
            f'<td class="num" title="{iso(row.finished_at)}">{utc(row.finished_at, view.generated_at)}</td>'
            f"<td>{esc(row.event)}{_origin(row.origin)}"
            f'<span class="sub">{esc(row.repository)}#{row.target}</span></td>'
            f'<td><span class="badge {esc(row.outcome)}">{esc(row.outcome)}</span></td>'
            f"<td>{text}</td>"
            f'<td class="num">{_waited(row)}</td>'
            f'<td class="num">{_worked(row)}</td>'
            f"<td>{_model_cell(row)}</td>"
            f'<td class="num">{esc(dollars(row.cost_usd))}</td>'
            f'<td class="mono muted" title="{esc(row.delivery_id)}">{esc(row.delivery_id[:8])}</td>'
            "</tr>"
        )
    head = (
        '<tr><th class="num">finished (UTC)</th><th>event and target</th><th>outcome</th><th>what it did</th>'
        '<th class="num" title="from the web accepting the delivery to a worker starting it">waited</th>'
        '<th class="num" title="the worker\'s own time on it, every try counted">worked</th>'
        '<th>model, tokens</th><th class="num">cost</th><th>delivery</th></tr>'
    )
    widths = (
        '<colgroup><col style="width:78px"><col style="width:21%"><col style="width:96px"><col>'
        '<col style="width:70px"><col style="width:78px"><col style="width:17%"><col style="width:84px">'
        '<col style="width:76px"></colgroup>'
    )
    return f'<table id="deliveries">{widths}<thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'


def _queue(view: StatusView) -> str:
    q = view.queue
    if q.oldest_waiting_since is not None and q.oldest_waiting_job is not None:
        oldest = (
            f"the oldest waiting job, <code>{esc(q.oldest_waiting_job)}</code>, has waited "
            f"{ago(q.oldest_waiting_since, view.generated_at).removesuffix(' ago')}"
        )
    else:
        oldest = "no job is waiting"
    running = f"{q.running} running" + (f" (of the {q.inspected} oldest)" if q.depth > q.inspected else "")
    return (
        f'<p id="queue">{q.depth} job(s) in the queue: {q.waiting} waiting, {running}, '
        f"{q.deferred} deferred (a retry's backoff, or a scheduled sweep); {oldest}.</p>"
    )


def _dead(view: StatusView) -> str:
    if not view.dead_letters:
        return '<p class="empty">No dead letters: no job has failed for good.</p>'
    rows = "".join(
        "<tr>"
        f'<td class="num" title="{iso(d.failed_at)}">{utc(d.failed_at, view.generated_at)}</td>'
        f"<td>{esc(d.event)}</td><td>{esc(d.repository)}#{d.target}</td>"
        f'<td class="num">{d.job_try}</td>'
        f'<td class="err">{safe_text(d.error, view.known_secrets)}</td>'
        f'<td class="mono">{esc(d.delivery_id)}</td>'
        "</tr>"
        for d in view.dead_letters
    )
    head = (
        "<tr><th>failed (UTC)</th><th>event</th><th>target</th><th class=num>tries</th><th>error</th>"
        "<th>delivery</th></tr>"
    )
    return (
        f'<table id="dead"><thead>{head}</thead><tbody>{rows}</tbody></table>'
        '<p class="muted">Run one again with <code>python -m bot replay DELIVERY</code>.</p>'
    )


def _budgets(view: StatusView) -> str:
    if view.budgets is None:
        return f'<p class="empty" id="budgets">{NOT_RECORDED}</p>'
    if not view.budgets:
        return '<p class="empty" id="budgets">No installation has used the model today.</p>'
    rows = []
    for b in view.budgets:
        share = b.share
        if share is None:
            bar, limit = '<span class="muted">no limit</span>', "—"
        else:
            width = min(share, 1.0) * 100
            fill = "high" if share >= 0.9 else ""
            bar = f'<span class="bar"><i class="{fill}" style="width:{width:.1f}%"></i></span> {share:.0%}'
            limit = tokens(b.limit_tokens)
        rows.append(
            f'<tr><td class="mono">{b.installation_id}</td><td class="num">{tokens(b.used_tokens)}</td>'
            f'<td class="num">{limit}</td><td>{bar}</td><td class="num">{b.skipped}</td>'
            f'<td class="num">{esc(dollars(b.cost_usd))}</td></tr>'
        )
    head = (
        '<tr><th>installation</th><th class="num">tokens used</th><th class="num">daily limit</th><th>share</th>'
        '<th class="num">skipped for the budget</th><th class="num">cost</th></tr>'
    )
    return f'<table id="budgets"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'


def _agreement(view: StatusView) -> str:
    if view.agreement is None:
        return f'<p class="empty" id="agreement">{NOT_RECORDED}</p>'
    if not view.agreement:
        return '<p class="empty" id="agreement">No triaged issue has been judged yet.</p>'
    rows = "".join(
        f"<tr><td>{esc(a.repository)}{_origin('shadow') if a.shadow else ''}</td>"
        f'<td class="num">{a.judged}</td><td class="num">{a.exact}</td>'
        f'<td class="num">{"—" if a.rate is None else f"{a.rate:.0%}"}</td><td class="num">{a.pending}</td></tr>'
        for a in view.agreement
    )
    head = (
        '<tr><th>repository</th><th class="num">issues judged</th><th class="num">exact matches</th>'
        '<th class="num">exact-match rate</th><th class="num">pending</th></tr>'
    )
    return (
        f'<table id="agreement"><thead>{head}</thead><tbody>{rows}</tbody></table>'
        '<p class="muted">Per label: <code>python -m bot accuracy OWNER/REPO</code>.</p>'
    )


def _banner(view: StatusView) -> str:
    found = warnings(view)
    if not found:
        return (
            '<p id="all-well">Nothing looks wrong: no refused deliveries, no stuck queue, no recent dead letters.</p>'
        )
    items = "".join(
        f'<li id="warn-{esc(w.key)}" class="{w.level}"><b>{safe_text(w.text, view.known_secrets, limit=600)}</b>'
        + (f"<span>{safe_text(w.fix, view.known_secrets, limit=600)}</span>" if w.fix else "")
        + "</li>"
        for w in found
    )
    return f'<ul id="warnings" aria-label="what is wrong">{items}</ul>'


_OUTCOME_SERIES = ("done", "skipped", "failed", "rejected")


def _hour_title(hour: HourCount) -> str:
    span = f"{time.strftime('%H:00', time.gmtime(hour.start))}-{time.strftime('%H:00', time.gmtime(hour.start + 3600))}"
    if not hour.total:
        return f"{span} UTC: no deliveries"
    counts = ", ".join(f"{getattr(hour, name)} {name}" for name in _OUTCOME_SERIES if getattr(hour, name))
    return f"{span} UTC: {counts}"


def _deliveries_chart(view: StatusView) -> str:
    if view.hourly is None:
        return f'<p class="empty">{NOT_RECORDED}</p>'
    hours = list(view.hourly)
    total = sum(hour.total for hour in hours)
    svg = stacked_bars(
        chart_id="chart-deliveries",
        label=f"Deliveries per hour by outcome, the last {len(hours)} hours: {total} in all",
        x_labels=[time.strftime("%H", time.gmtime(hour.start)) for hour in hours],
        series=[Series(name, [float(getattr(hour, name)) for hour in hours]) for name in _OUTCOME_SERIES],
        titles=[_hour_title(hour) for hour in hours],
        y_format=lambda value: f"{value:,.0f}",
        label_every=3,
        empty="no deliveries in the last 24 hours",
        least_top=2,
    )
    names = {"rejected": "rejected: bad signature (401)"}
    legend = "".join(f'<i class="s-{name}"></i>{names.get(name, name)}' for name in _OUTCOME_SERIES)
    return f'{svg}<div class="legend">{legend}</div>'


def _day_title(day: DayCost) -> str:
    when = time.strftime("%a %d %b", time.gmtime(day.start))
    if not day.calls:
        return f"{when}: no model calls"
    return f"{when}: {dollars(day.usd)}, {day.calls} call{'' if day.calls == 1 else 's'}, {tokens(day.tokens)} tokens"


def _cost_chart(view: StatusView) -> str:
    if view.daily_cost is None:
        return f'<p class="empty">{NOT_RECORDED}</p>'
    days = list(view.daily_cost)
    total = sum(day.usd for day in days)
    svg = stacked_bars(
        chart_id="chart-cost",
        label=f"Model cost per day, the last {len(days)} days: {dollars(total)} in all",
        x_labels=[time.strftime("%d %b", time.gmtime(day.start)).lstrip("0") for day in days],
        series=[Series("cost", [day.usd for day in days])],
        titles=[_day_title(day) for day in days],
        y_format=lambda value: "$0" if value == 0 else (f"${value:.4g}" if value < 1 else f"${value:,.2f}"),
        label_every=3,
        empty="no model calls in the last 14 days",
    )
    return f'{svg}<div class="legend">{esc(dollars(total))} in {len(days)} days, estimated from the price table</div>'


def _charts(view: StatusView) -> str:
    return (
        '<section class="charts" aria-label="trends">'
        "<figure><figcaption>Deliveries per hour <small>by outcome, the last 24 h (UTC)</small></figcaption>"
        f"{_deliveries_chart(view)}</figure>"
        "<figure><figcaption>Model cost per day <small>the last 14 days (UTC)</small></figcaption>"
        f"{_cost_chart(view)}</figure></section>"
    )


def render_page(view: StatusView) -> str:
    """The whole page: what is wrong, summary tiles, trends, queue, recent deliveries, dead
    letters, budgets, agreement."""
    refresh = f'<meta http-equiv="refresh" content="{view.refresh_s}">' if view.refresh_s else ""
    limit = "no limit" if view.budget_limit <= 0 else f"{tokens(view.budget_limit)} tokens per installation"
    health = view.health
    health_sections = (
        f"{health_view.render_parked(health)}"
        "<h2>Workers <small>seen in the last minute</small></h2>"
        f"{health_view.render_workers(health, view.generated_at)}"
        "<h2>Dependencies <small>circuit breakers: GitHub, the model</small></h2>"
        f"{health_view.render_dependencies(health, view.generated_at)}"
        if health
        else ""
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">'
        f"{refresh}<title>hookwise status</title><style>{_CSS}</style></head><body>"
        f'<header><h1>hookwise status</h1><span class="meta">{iso(view.generated_at)} · '
        "refresh the page to update (or add <code>?refresh=30</code>)</span></header><main>"
        f"{_banner(view)}{_tiles(view)}"
        f"<h2>Trends</h2>{_charts(view)}"
        f"<h2>Queue</h2>{_queue(view)}{health_sections}"
        "<h2>Recent deliveries <small>newest first; waited: accepted until a worker started it; worked: the "
        "worker's own time; cost estimated from the price table</small></h2>"
        f"{_delivery_rows(view)}"
        f"<h2>Dead letters <small>jobs that failed for good</small></h2>{_dead(view)}"
        f"<h2>Model budget today <small>UTC day; {limit}</small></h2>{_budgets(view)}"
        f"<h2>Triage agreement <small>with maintainers, per repository</small></h2>{_agreement(view)}"
        "<footer>Shows no secret, token or issue text: errors are redacted and shortened. "
        "Served only with STATUS_PASSWORD set.</footer>"
        "</main></body></html>"
    )

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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

__all__ = [
    "NOT_RECORDED",
    "BudgetUse",
    "DeadLetter",
    "DeliveryRow",
    "QueueView",
    "RepoAgreement",
    "StatusView",
    "redact",
    "render_page",
    "safe_text",
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
    queued_ms: int | None  # accepted -> started
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

    def count(self, outcome: str) -> int:
        return sum(1 for row in self.deliveries if row.outcome == outcome)

    @property
    def cost_usd(self) -> float:
        return sum(row.cost_usd or 0.0 for row in self.deliveries)

    @property
    def tokens(self) -> int:
        return sum(row.input_tokens + row.output_tokens + row.cache_tokens for row in self.deliveries)


# -- formatting ---------------------------------------------------------------------------------


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def duration(ms: int | None) -> str:
    if ms is None:
        return "—"
    if ms < 1000:
        return f"{ms} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    if ms < 3_600_000:
        return f"{ms / 60_000:.1f} min"
    return f"{ms / 3_600_000:.1f} h"


def ago(moment: float, now: float) -> str:
    seconds = max(int(now - moment), 0)
    if seconds < 60:
        return f"{seconds} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86_400:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min ago"
    return f"{seconds // 86_400} d ago"


def dollars(value: float | None) -> str:
    if value is None:
        return "—"
    if value == 0:
        return "$0"
    return f"${value:.6f}" if value < 0.01 else f"${value:,.4f}"


def tokens(value: int) -> str:
    return f"{value:,}"


def utc(moment: float, now: float) -> str:
    same_day = time.gmtime(moment)[:3] == time.gmtime(now)[:3]
    return time.strftime("%H:%M:%S" if same_day else "%Y-%m-%d %H:%M", time.gmtime(moment))


def iso(moment: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment))


# -- the page ------------------------------------------------------------------------------------

_CSS = """
:root { --fg:#1f2328; --muted:#59636e; --line:#d1d9e0; --soft:#f6f8fa; --green:#1a7f37; --red:#cf222e;
  --amber:#9a6700; --blue:#0969da; --grey:#59636e; }
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
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-size: 12px; color: var(--muted); font-weight: 600; background: var(--soft); }
td.num, th.num { text-align: right; white-space: nowrap; } td.nw { white-space: nowrap; }
td.mono, code { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px; }
.badge { display: inline-block; border-radius: 10px; padding: 0 8px; font-size: 12px; font-weight: 600;
  border: 1px solid currentColor; }
.done { color: var(--green); } .failed { color: var(--red); } .retrying { color: var(--amber); }
.skipped { color: var(--grey); } .running { color: var(--blue); }
.muted, .empty { color: var(--muted); } .empty { font-style: italic; padding: 8px 0; }
.err { color: var(--red); } .tag { font-size: 11px; color: var(--muted); border: 1px solid var(--line);
  border-radius: 4px; padding: 0 4px; margin-left: 4px; }
.bar { background: var(--soft); border: 1px solid var(--line); border-radius: 4px; height: 10px; width: 160px;
  display: inline-block; vertical-align: middle; overflow: hidden; }
.bar i { display: block; height: 100%; background: var(--green); } .bar i.high { background: var(--red); }
.notice { border: 1px solid var(--amber); color: var(--amber); border-radius: 6px; padding: 6px 10px; margin: 10px 0; }
footer { color: var(--muted); font-size: 12px; margin-top: 28px; }
"""


def _tile(value: str, label: str, css: str = "") -> str:
    return f'<div class="tile"><b class="{css}">{value}</b><span>{_esc(label)}</span></div>'


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
        _tile(_esc(oldest), "oldest job waiting for"),
        _tile(str(len(view.dead_letters)), "dead letters", "failed" if view.dead_letters else ""),
        _tile(_esc(dollars(view.cost_usd)), f"model cost of these ({tokens(view.tokens)} tokens)"),
    ]
    return f'<section class="tiles" aria-label="summary">{"".join(parts)}</section>'


def _origin(origin: str) -> str:
    return f'<span class="tag">{_esc(origin)}</span>' if origin else ""


def _delivery_rows(view: StatusView) -> str:
    if not view.deliveries:
        return (
            '<p class="empty">No deliveries recorded yet. Send one: '
            "<code>python -m bot receive ... --sandbox</code>.</p>"
        )
    rows = []
    for row in view.deliveries:
        known = view.known_secrets
        text = safe_text(row.detail, known)
        if row.error:
            text += f'<div class="err">{safe_text(row.error, known)}</div>'
        latency = row.latency_ms if row.latency_ms is not None else row.duration_ms
        latency_title = (
            f"queued {duration(row.queued_ms)}, ran {duration(row.duration_ms)}"
            if row.queued_ms is not None
            else f"ran {duration(row.duration_ms)}"
        )
        model = (
            f'<span class="mono">{_esc(row.model)}</span>'
            + (f' <span class="muted">on {_esc(row.provider)}</span>' if row.provider else "")
            + (f' <span class="tag" title="{_esc(row.cost_note)}">estimate</span>' if row.cost_note else "")
            if row.model
            else '<span class="muted">—</span>'
        )
        tokens_cell = (
            f"{tokens(row.input_tokens)} / {tokens(row.output_tokens)}"
            + (f' <span class="muted">+{tokens(row.cache_tokens)} cache</span>' if row.cache_tokens else "")
            if row.model
            else '<span class="muted">—</span>'
        )
        rows.append(
            "<tr>"
            f'<td class="num" title="{iso(row.finished_at)}">{utc(row.finished_at, view.generated_at)}</td>'
            f'<td class="nw">{_esc(row.event)}{_origin(row.origin)}</td>'
            f'<td class="nw">{_esc(row.repository)}#{row.target}</td>'
            f'<td><span class="badge {_esc(row.outcome)}">{_esc(row.outcome)}</span>'
            + (f' <span class="muted">try {row.job_try}</span>' if row.job_try > 1 else "")
            + "</td>"
            f"<td>{text}</td>"
            f'<td class="num" title="{_esc(latency_title)}">{duration(latency)}</td>'
            f'<td class="nw">{model}</td>'
            f'<td class="num">{tokens_cell}</td>'
            f'<td class="num">{_esc(dollars(row.cost_usd))}</td>'
            f'<td class="mono muted" title="{_esc(row.delivery_id)}">{_esc(row.delivery_id[:8])}</td>'
            "</tr>"
        )
    head = (
        "<tr><th>finished (UTC)</th><th>event</th><th>target</th><th>outcome</th><th>what it did</th>"
        '<th class="num" title="accepted by the web until finished">latency</th><th>model</th>'
        '<th class="num">tokens in / out</th><th class="num">cost</th><th>delivery</th></tr>'
    )
    return f'<table id="deliveries"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'


def _queue(view: StatusView) -> str:
    q = view.queue
    if q.oldest_waiting_since is not None and q.oldest_waiting_job is not None:
        oldest = (
            f"the oldest waiting job, <code>{_esc(q.oldest_waiting_job)}</code>, has waited "
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
        f"<td>{_esc(d.event)}</td><td>{_esc(d.repository)}#{d.target}</td>"
        f'<td class="num">{d.job_try}</td>'
        f'<td class="err">{safe_text(d.error, view.known_secrets)}</td>'
        f'<td class="mono">{_esc(d.delivery_id)}</td>'
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
            f'<td class="num">{_esc(dollars(b.cost_usd))}</td></tr>'
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
        f"<tr><td>{_esc(a.repository)}{_origin('shadow') if a.shadow else ''}</td>"
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


def render_page(view: StatusView) -> str:
    """The whole page: summary tiles, queue, recent deliveries, dead letters, budgets, agreement."""
    refresh = f'<meta http-equiv="refresh" content="{view.refresh_s}">' if view.refresh_s else ""
    notices = "".join(f'<p class="notice">{safe_text(p, view.known_secrets)}</p>' for p in view.problems)
    if view.dry_run:
        notices += (
            '<p class="notice">DRY_RUN is on in this web process\'s settings: '
            "workers with it write nothing to GitHub.</p>"
        )
    limit = "no limit" if view.budget_limit <= 0 else f"{tokens(view.budget_limit)} tokens per installation"
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">'
        f"{refresh}<title>hookwise status</title><style>{_CSS}</style></head><body>"
        f'<header><h1>hookwise status</h1><span class="meta">{iso(view.generated_at)} · '
        "refresh the page to update (or add <code>?refresh=30</code>)</span></header><main>"
        f"{notices}{_tiles(view)}"
        f"<h2>Queue</h2>{_queue(view)}"
        "<h2>Recent deliveries <small>newest first; cost estimated from the price table</small></h2>"
        f"{_delivery_rows(view)}"
        f"<h2>Dead letters <small>jobs that failed for good</small></h2>{_dead(view)}"
        f"<h2>Model budget today <small>UTC day; {limit}</small></h2>{_budgets(view)}"
        f"<h2>Triage agreement <small>with maintainers, per repository</small></h2>{_agreement(view)}"
        "<footer>Shows no secret, token or issue text: errors are redacted and shortened. "
        "Served only with STATUS_PASSWORD set.</footer>"
        "</main></body></html>"
    )

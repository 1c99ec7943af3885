"""The status page's health sections: the workers seen in the last minute, each dependency's
circuit breaker, the jobs parked for fair share. Each section is its own function of the view
model (bot/core/operations/health.py), folded into the page by bot/core/views/status.py."""

from __future__ import annotations

from bot.core.operations.health import Health, span
from bot.core.views.format import esc, utc


def _ago(moment: float, now: float) -> str:
    return f"{span(now - moment)} ago"  # to the second: a heartbeat is due every 5 s


def render_workers(health: Health, now: float) -> str:
    if health.workers is None:
        return '<p class="empty" id="workers">Workers could not be read.</p>'
    if not health.workers:
        waiting = f", and {health.jobs_waiting} job(s) are waiting" if health.jobs_waiting else ""
        return (
            f'<p class="err" id="workers">No worker has been seen in the last minute{waiting}. '
            "Start one: <code>python -m bot worker</code>.</p>"
        )
    rows = "".join(
        "<tr>"
        f'<td class="mono">{esc(w.host)}</td><td class="num">{w.pid}</td>'
        f'<td class="num" title="{utc(w.seen_at, now)} UTC">{_ago(w.seen_at, now)}</td>'
        f'<td class="num">{w.running} of {w.slots}</td><td class="num">{w.done}</td>'
        f'<td class="num" title="{utc(w.started_at, now)} UTC">{span(now - w.started_at)}</td>'
        f'<td class="mono muted">{esc(w.worker_id)}</td>'
        "</tr>"
        for w in health.workers
    )
    head = (
        '<tr><th>host</th><th class="num">pid</th><th class="num">last heartbeat</th>'
        '<th class="num">jobs running</th><th class="num">jobs done</th><th class="num">up for</th>'
        "<th>worker</th></tr>"
    )
    return f'<table id="workers"><thead>{head}</thead><tbody>{rows}</tbody></table>'


def render_dependencies(health: Health, now: float) -> str:
    if not health.dependencies:
        return '<p class="empty" id="dependencies">No call to GitHub or the model has failed yet.</p>'
    rows = []
    for d in health.dependencies:
        if d.open:
            state = '<span class="badge failed">open</span>'
            since = span(now - d.opened_at) if d.opened_at is not None else "—"
            probe = f"in {span(d.probe_at - now)}" if d.probe_at > now else "due"
        else:
            state = '<span class="badge done">closed</span>'
            since, probe = "—", "—"
        rows.append(
            "<tr>"
            f'<td>{esc(d.label)}</td><td>{state}</td><td class="num">{since}</td>'
            f'<td class="num">{d.failures}</td><td class="num">{d.waiting}</td><td class="num">{probe}</td>'
            f'<td class="err">{esc(d.last_error) if d.last_error else ""}</td>'
            "</tr>"
        )
    head = (
        '<tr><th>dependency</th><th>circuit</th><th class="num">open for</th><th class="num">failures in a row</th>'
        '<th class="num">jobs waiting on it</th><th class="num">next probe</th><th>last error</th></tr>'
    )
    return (
        f'<table id="dependencies"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'
        '<p class="muted">While a circuit is open, one probe at a time reaches the service; the jobs that '
        "need it wait without using up their retries, for up to RETRY_FOR.</p>"
    )


def render_parked(health: Health) -> str:
    """The fair-share backlog, one line (and the largest installations when there is one)."""
    window = f" (the queue takes {health.window} at once: the workers' slots)" if health.window else ""
    if not health.parked:
        return f'<p id="parked">No job is parked for fair share{window}.</p>'
    largest = ", ".join(
        f"installation {installation}: {commands + bulk}" + (f" ({commands} commands)" if commands else "")
        for installation, commands, bulk in health.parked_largest[:5]
    )
    return (
        f'<p id="parked">{health.parked} job(s) of {health.parked_installations} installation(s) parked for '
        f"fair share, moved to the queue in turn{window}: {esc(largest)}.</p>"
    )

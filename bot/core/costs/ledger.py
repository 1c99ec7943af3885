"""The cost ledger's arithmetic and the `python -m bot costs` report. Pure.

Every model call is filed under (installation, repository, task, provider, model) in the UTC hour
it was made, with its calls, input, output, cache-write and cache-read tokens, its estimated cost
(priced per call when it was made, bot/core/costs/pricing.py and bot/core/model/providers.py) and how many of
its calls had their tokens estimated (an answer without `usage`, bot/core/model/providers.py). Fields
filed before providers existed (`installation|repository|task|model|column`) read as the Claude
API's. Events skipped because an installation had used
its day's budget are filed the same way, as `skipped`. Hours make `--since 2h` exact to the hour;
the budget counts per UTC day.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from bot.core.costs.pricing import PRICES_CHECKED, PriceTable
from bot.core.model.providers import Provider, provider_price

SEPARATOR = "|"  # neither an owner/repo name nor a model id can hold one
COLUMNS = ("calls", "input", "output", "cache_write", "cache_read", "usd", "skipped", "estimated")
LEGACY_PROVIDER = Provider.ANTHROPIC.value  # the provider of a field filed before providers
RETENTION_DAYS = 35
MAX_SINCE_S = 31 * 24 * 3600


def utc_day(epoch_s: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(epoch_s))


def utc_hour(epoch_s: float) -> str:
    return time.strftime("%Y-%m-%dT%H", time.gmtime(epoch_s))


def hours_between(start_s: float, end_s: float) -> list[str]:
    """Every UTC hour from the one holding `start_s` to the one holding `end_s`, oldest first."""
    first = int(start_s // 3600)
    last = int(end_s // 3600)
    return [utc_hour(hour * 3600) for hour in range(first, last + 1)]


def field_name(installation_id: int, repository: str, task: str, provider: str, model: str, column: str) -> str:
    return SEPARATOR.join((str(installation_id), repository, task, provider, model, column))


@dataclass(slots=True)
class CostRow:
    installation_id: int
    repository: str
    task: str
    model: str  # "" for a row of skipped events only
    provider: str = ""  # "" for a row of skipped events only
    calls: int = 0
    input: int = 0
    output: int = 0
    cache_write: int = 0
    cache_read: int = 0
    usd: float = 0.0
    skipped: int = 0
    estimated: int = 0  # calls whose tokens are estimates (the answer carried no usage)

    @property
    def key(self) -> tuple[int, str, str, str, str]:
        return (self.installation_id, self.repository, self.task, self.provider, self.model)

    @property
    def tokens(self) -> int:
        return self.input + self.output + self.cache_write + self.cache_read

    def add(self, other: CostRow) -> None:
        self.calls += other.calls
        self.input += other.input
        self.output += other.output
        self.cache_write += other.cache_write
        self.cache_read += other.cache_read
        self.usd += other.usd
        self.skipped += other.skipped
        self.estimated += other.estimated


def field_parts(name: str) -> list[str] | None:
    """A field's parts: `installation|repository|task|provider|model|column`, or the five of a
    field filed before providers (no provider); None for anything else."""
    parts = name.split(SEPARATOR)
    return parts if len(parts) in (5, 6) else None


def rows_from_hashes(hashes: Iterable[Mapping[str, str]]) -> list[CostRow]:
    """The hours' hashes (`field_name` -> number) summed into one row per key, sorted. A field
    filed before providers (five parts, no provider) is the Claude API's."""
    rows: dict[tuple[int, str, str, str, str], CostRow] = {}
    for counters in hashes:
        for name, value in counters.items():
            parts = field_parts(name)
            if parts is not None and len(parts) == 5:  # installation|repository|task|model|column
                parts.insert(3, LEGACY_PROVIDER if parts[3] else "")
            if parts is None or parts[5] not in COLUMNS:
                continue
            installation, repository, task, provider, model, column = parts
            try:
                key = (int(installation), repository, task, provider, model)
                number = float(value)
            except ValueError:
                continue
            row = rows.setdefault(key, CostRow(key[0], repository, task, model, provider))
            current = getattr(row, column)
            setattr(row, column, current + (number if column == "usd" else int(number)))
    return sorted(rows.values(), key=lambda r: (r.installation_id, r.repository.lower(), r.task, r.provider, r.model))


@dataclass(frozen=True, slots=True)
class BudgetLine:
    installation_id: int
    used: int
    limit: int  # 0: no limit


def budget_status(used: int, limit: int) -> str:
    """One line for `@app help` and `costs`: how much of today's budget is used."""
    if limit <= 0:
        return f"{used:,} model tokens used today (UTC); no daily limit"
    share = 100 * used / limit
    if used >= limit:
        return (
            f"{used:,} of {limit:,} model tokens used today (UTC): used up, so new events are skipped until 00:00 UTC"
        )
    return f"{used:,} of {limit:,} model tokens used today (UTC), {share:.1f} %"


@dataclass(frozen=True, slots=True)
class Report:
    since_label: str  # e.g. "2026-12-01 10:00 UTC (1d)"
    rows: list[CostRow]
    budgets: list[BudgetLine] = field(default_factory=list)
    day: str = ""


_HEAD = ("installation", "repository", "task", "provider", "model", "calls", "skipped", "input", "output",
         "cache write", "cache read", "tokens", "est. USD")  # fmt: skip
ESTIMATED_TOKENS_MARK = "~"  # before a row's token total: some of its calls' tokens are estimates
ESTIMATED_TOKENS_NOTE = (
    "tokens estimated for {calls:,} call(s): the server's answer carried no usage, so hookwise counted "
    "what it sent and what came back (bot/core/tokens.py)"
)


def _cells(row: CostRow, mark: str, first: str = "") -> list[str]:
    model = (row.model or "-") if row.task else ""  # "-": events skipped for the budget, no call made
    provider = (row.provider or "-") if row.task else ""
    estimated = ESTIMATED_TOKENS_MARK if row.estimated else ""
    return [
        first or str(row.installation_id),
        row.repository,
        row.task,
        provider,
        model + mark,
        f"{row.calls:,}",
        f"{row.skipped:,}",
        f"{row.input:,}",
        f"{row.output:,}",
        f"{row.cache_write:,}",
        f"{row.cache_read:,}",
        f"{estimated}{row.tokens:,}",
        _usd(row.usd),
    ]


def _usd(value: float) -> str:
    """Four decimals, and `<$0.0001` for a cost that would print as zero though it is not."""
    return "<$0.0001" if 0 < value < 0.00005 else f"${value:,.4f}"


def format_report(report: Report, prices: PriceTable) -> str:
    """The `costs` report: a row per installation, repository, task and model, a subtotal per
    installation, the total, today's budget per installation, and notes for estimated prices."""
    lines = [f"model calls and estimated cost since {report.since_label}; prices checked {PRICES_CHECKED}"]
    if not report.rows:
        lines.append("no model calls and no skipped events in that time")
    notes: dict[str, str] = {}
    table: list[list[str]] = [list(_HEAD)]
    total = CostRow(0, "", "", "")
    installations = sorted({row.installation_id for row in report.rows})
    for installation in installations:
        mine = [row for row in report.rows if row.installation_id == installation]
        subtotal = CostRow(installation, "(all)", "", "")
        for row in mine:
            provider = row.provider or LEGACY_PROVIDER
            note = provider_price(provider, row.model, prices).note if row.model else ""
            if note:
                notes[f"{row.model} ({provider})" if provider != LEGACY_PROVIDER else row.model] = note
            table.append(_cells(row, " *" if note else ""))
            subtotal.add(row)
        if len(mine) > 1:
            table.append(_cells(subtotal, ""))
        total.add(subtotal)
    if report.rows:
        table.append(_cells(total, "", first="total"))
        widths = [max(len(r[i]) for r in table) for i in range(len(_HEAD))]
        numeric = set(range(5, len(_HEAD)))
        for cells in table:
            padded = [
                c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            ]
            lines.append("  ".join(padded).rstrip())
    if report.budgets:
        lines.append(f"budget today ({report.day} UTC), per installation:")
        for budget in report.budgets:
            lines.append(f"  {budget.installation_id}: {budget_status(budget.used, budget.limit)}")
    estimated = sum(row.estimated for row in report.rows)
    if notes or estimated:
        lines.append("notes:")
        lines += [f"  * {model}: {note}" for model, note in sorted(notes.items())]
        if estimated:
            lines.append(f"  {ESTIMATED_TOKENS_MARK} " + ESTIMATED_TOKENS_NOTE.format(calls=estimated))
    return "\n".join(lines)

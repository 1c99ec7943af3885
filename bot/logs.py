"""Log set-up: one line per record, level from LOG_LEVEL, format from LOG_FORMAT.

`bound(delivery=..., installation=..., repo=...)` adds those fields to every line logged inside it
(in this task), so a line from deep in a handler - a model retry, a dry-run write - still says
which delivery, installation and repository it is about. The fields are kept as values, not as a
preformatted string, so each format prints them its own way:

- text (the default): `2026-12-01 10:00:00,123 level=INFO logger=hookwise.worker <msg> delivery=... repo=...`
- json (`LOG_FORMAT=json`, Probot's variable): one JSON object per line,
  `{"time": "2026-12-01T10:00:00.123Z", "level": "info", "logger": "hookwise.worker", "msg": "...",
  "delivery": "...", "installation": 461842, "repo": "owner/name"}`, plus `exc` (the traceback)
  when the line carries one.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from bot.config import LogFormat

__all__ = ["ContextFilter", "JsonFormatter", "bound", "bound_fields", "configure"]

_EMPTY: Mapping[str, object] = MappingProxyType({})
_FIELDS: ContextVar[Mapping[str, object]] = ContextVar("hookwise_log_fields", default=_EMPTY)
TEXT_FORMAT = "%(asctime)s level=%(levelname)s logger=%(name)s %(message)s%(context)s"
# The keys every JSON line has; a bound field of the same name cannot replace them.
BASE_KEYS = ("time", "level", "logger", "msg")


@contextmanager
def bound(**fields: object) -> Iterator[None]:
    """Add `fields` to every line logged inside the block (nested blocks add to the outer ones)."""
    token = _FIELDS.set(MappingProxyType({**_FIELDS.get(), **fields}))
    try:
        yield
    finally:
        _FIELDS.reset(token)


def bound_fields() -> Mapping[str, object]:
    """The fields bound here and now (read-only)."""
    return _FIELDS.get()


class ContextFilter(logging.Filter):
    """Puts the bound fields on each record: `fields` (a dict) and `context` (their text form)."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = dict(_FIELDS.get())
        record.fields = fields
        record.context = "".join(f" {key}={value}" for key, value in fields.items())
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601, milliseconds), level, logger, msg, the bound fields."""

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, UTC)
        line: dict[str, Any] = {
            "time": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields: Mapping[str, object] = getattr(record, "fields", None) or _FIELDS.get()
        for key, value in fields.items():
            line.setdefault(key, value)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def configure(level: str, log_format: LogFormat | str = LogFormat.TEXT) -> None:
    """Send every logger's lines to stderr in `log_format`, from `level` up."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == LogFormat.JSON:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiohttp's access log duplicates our delivery lines; keep it for debug only.
    logging.getLogger("aiohttp.access").setLevel(logging.DEBUG if level == "debug" else logging.WARNING)

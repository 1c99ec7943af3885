"""Log set-up: one line per record, key=value fields, level from LOG_LEVEL.

`bound(delivery=..., installation=..., repo=...)` adds those fields to every line logged inside it
(in this task), so a line from deep in a handler - a model retry, a dry-run write - still says
which delivery, installation and repository it is about.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_CONTEXT: ContextVar[str] = ContextVar("hookwise_log_context", default="")


@contextmanager
def bound(**fields: object) -> Iterator[None]:
    token = _CONTEXT.set(" ".join(f"{key}={value}" for key, value in fields.items()))
    try:
        yield
    finally:
        _CONTEXT.reset(token)


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        context = _CONTEXT.get()
        record.context = f" {context}" if context else ""
        return True


def configure(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s level=%(levelname)s logger=%(name)s %(message)s%(context)s"))
    handler.addFilter(_ContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiohttp's access log duplicates our delivery lines; keep it for debug only.
    logging.getLogger("aiohttp.access").setLevel(logging.DEBUG if level == "debug" else logging.WARNING)

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

Records are formatted and written by a thread (`BackgroundWriter`). The web process's line per
delivery goes through `GatheredLines`: the lines of one event-loop turn travel as one record and
are written as the lines they are.
"""

from __future__ import annotations

import asyncio
import atexit
import contextvars
import json
import logging
import queue
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from bot.config import LogFormat

__all__ = [
    "BackgroundWriter",
    "ContextFilter",
    "GatheredLines",
    "GatheredRecord",
    "JsonFormatter",
    "bound",
    "bound_fields",
    "configure",
]

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
    """Puts the bound fields on each record as `fields` (the read-only mapping bound in this task:
    cheap, on the event loop) and `context` (their text form, for formats that name it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = _FIELDS.get()
        record.fields = fields
        if not hasattr(record, "context"):
            record.context = _context(fields)
        return True


def _context(fields: Mapping[str, object]) -> str:
    return "".join(f" {key}={value}" for key, value in fields.items())


class TextFormatter(logging.Formatter):
    """`TEXT_FORMAT`, with the time formatted once per second rather than once per line."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)
        self._second = -1
        self._stamp = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        second = int(record.created)
        if second != self._second:
            self._second, self._stamp = second, super().formatTime(record, datefmt).rsplit(",", 1)[0]
        return f"{self._stamp},{int(record.msecs):03d}"


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


# A line taken by GatheredLines: when, the message and its arguments, the fields bound there.
_Line = tuple[float, str, tuple[object, ...], Mapping[str, object]]


class GatheredRecord(logging.LogRecord):
    """One record standing for the lines `GatheredLines` took in one turn of the event loop.

    hookwise's writer thread writes them as the lines they are (`lines()`: each its own record, with
    its own time and fields, formatted as if logged alone). Any other handler (pytest's caplog, say)
    reads one message of those lines, one per line."""

    def __init__(self, name: str, level: int, taken: list[_Line]) -> None:
        super().__init__(name, level, "(unknown file)", 0, "%d lines", (len(taken),), None)
        self.taken = taken

    def lines(self) -> list[logging.LogRecord]:
        records = []
        for created, msg, args, fields in self.taken:
            record = logging.LogRecord(self.name, self.levelno, self.pathname, 0, msg, args, None)
            record.relativeCreated -= (record.created - created) * 1000
            record.created, record.msecs = created, float(int((created - int(created)) * 1000))
            record.fields, record.context = fields, _context(fields)
            records.append(record)
        return records

    def getMessage(self) -> str:
        return "\n".join(f"{msg % args if args else msg}{_context(fields)}" for _, msg, args, fields in self.taken)


class GatheredLines:
    """Lines logged for every delivery on the event loop, handed to logging once per loop turn.

    Making and handling a LogRecord on the loop for each delivery took the web process 18-25 us of
    its core per delivery under load, a sixth of all it did for one (bench/README.md); one record
    for a turn's lines costs that once per turn. Each line keeps the time it was taken and
    the fields bound where it was taken, so what is written is what `logger.log` would have written.
    """

    def __init__(self, logger: logging.Logger, level: int = logging.INFO) -> None:
        self._logger = logger
        self._level = level
        self._taken: list[_Line] = []
        # The loop a hand-over is scheduled on. Not a flag: a loop closed before its turn ended
        # (a test's) must not keep every later line waiting for a hand-over that never comes.
        self._scheduled: asyncio.AbstractEventLoop | None = None

    def log(self, msg: str, *args: object) -> None:
        if not self._logger.isEnabledFor(self._level):
            return
        self._taken.append((time.time(), msg, args, _FIELDS.get()))
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not on a loop: nothing ends the turn, so the line goes now
            self.flush()
            return
        if self._scheduled is not loop:
            self._scheduled = loop
            # In an empty context: the record itself is about no delivery; its lines carry theirs.
            loop.call_soon(self.flush, context=contextvars.Context())

    def flush(self) -> None:
        """Hand the lines taken so far to logging, as one record (called when the turn ends)."""
        taken, self._taken, self._scheduled = self._taken, [], None
        if taken:
            self._logger.handle(GatheredRecord(self._logger.name, self._level, taken))


_Item = logging.LogRecord | threading.Event | None  # a record; a flush request; the end


class _Enqueue(logging.Handler):
    """The handler on the event loop's side: it only hands the record (with its bound fields, which
    live in this task's context) to the writer thread. Formatting and the write happen there."""

    def __init__(self, writer: BackgroundWriter, records: queue.SimpleQueue[_Item]) -> None:
        super().__init__()
        self.writer = writer
        self._records = records

    def emit(self, record: logging.LogRecord) -> None:
        self._records.put(record)

    def flush(self) -> None:
        """Wait (a few seconds at most) until the writer has written every record handed to it.
        Nothing to wait for once the writer has stopped (logging's own flush at exit comes after)."""
        if not self.writer.running:
            return
        written = threading.Event()
        self._records.put(written)
        written.wait(timeout=5)


class BackgroundWriter:
    """A thread that formats records and writes them to a stream, as many as are waiting in one
    write (under load a burst of delivery lines costs one syscall, not one each), so neither the
    formatting nor the write of every delivery's line runs on the event loop."""

    def __init__(self, stream: Any, formatter: logging.Formatter) -> None:
        self._stream = stream
        self._formatter = formatter
        self._records: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="hookwise-log", daemon=True)
        self._thread.start()

    def handler(self) -> logging.Handler:
        return _Enqueue(self, self._records)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        """Write what is waiting and end the thread (at exit, and before a new configure)."""
        if self._thread.is_alive():
            self._records.put(None)
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            batch = [self._records.get()]
            while batch[-1] is not None:
                try:
                    batch.append(self._records.get_nowait())
                except queue.Empty:
                    break
            lines = [self._line(item) for item in batch if isinstance(item, logging.LogRecord)]
            if lines:
                try:
                    self._stream.write("\n".join(lines) + "\n")
                    self._stream.flush()
                except (OSError, ValueError):  # stderr closed at exit: nothing to write to
                    pass
            for item in batch:
                if isinstance(item, threading.Event):
                    item.set()
            if batch[-1] is None:
                return

    def _line(self, record: logging.LogRecord) -> str:
        if isinstance(record, GatheredRecord):
            return "\n".join(self._format(line) for line in record.lines())
        return self._format(record)

    def _format(self, record: logging.LogRecord) -> str:
        try:
            return self._formatter.format(record)
        except Exception as exc:  # a bad format string in somebody's log call: say so, go on
            return f"(unformattable log record from {record.name}: {exc!r})"


def configure(level: str, log_format: LogFormat | str = LogFormat.TEXT, *, stream: Any = None) -> None:
    """Send every logger's lines to `stream` (stderr) in `log_format`, from `level` up, through the
    writer thread."""
    root = logging.getLogger()
    for previous in root.handlers:  # configured again (tests, `receive`): one writer thread, not two
        if isinstance(previous, _Enqueue):
            previous.writer.stop()
    formatter = JsonFormatter() if log_format == LogFormat.JSON else TextFormatter()
    # The logging HOWTO's own optimisations: no caller lookup, thread or process names per record.
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    writer = BackgroundWriter(stream if stream is not None else sys.stderr, formatter)
    atexit.register(writer.stop)
    handler = writer.handler()
    handler.addFilter(ContextFilter())
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiohttp's access log duplicates our delivery lines; keep it for debug only.
    logging.getLogger("aiohttp.access").setLevel(logging.DEBUG if level == "debug" else logging.WARNING)

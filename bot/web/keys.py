"""Every aiohttp AppKey of the web process, typed. No logic."""

from __future__ import annotations

from aiohttp import web
from redis.asyncio import Redis

from bot.adapters.store.ledger import Ledger
from bot.adapters.store.status import StatusReaders
from bot.adapters.store.trends import SignatureFailures
from bot.config import Settings
from bot.logs import GatheredLines
from bot.web.drain import Drain
from bot.web.metrics import WebMetrics

SETTINGS = web.AppKey("settings", Settings)
REDIS = web.AppKey("redis", Redis)
LEDGER = web.AppKey("ledger", Ledger)
METRICS = web.AppKey("metrics", WebMetrics)
SECRETS = web.AppKey("webhook_secrets", list[bytes])
DRAIN = web.AppKey("drain", Drain)
STATUS_READERS = web.AppKey("status_readers", StatusReaders)
SIGNATURE_FAILURES = web.AppKey("signature_failures", SignatureFailures)  # counted for the status page
LINES = web.AppKey("delivery_lines", GatheredLines)  # the per-delivery log lines, handed over once per loop turn

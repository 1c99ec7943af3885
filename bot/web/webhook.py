"""POST $WEBHOOK_PATH: verify -> parse -> decide -> dedupe+enqueue -> answer.

No GitHub or AI call happens here: the answer goes back in milliseconds, whatever the model does.
Every failure maps to the status the operating contract gives it. 503 means one thing only: Redis
could not take the job (unreachable, or out of memory under `noeviction`: the accept script's
first write is refused and nothing is remembered), so GitHub (or the sweeper) should try again
later. Anything the same bytes
would fail on again is a 400, and a bug is logged with its traceback and answered 400 too: never a
500, never a 503 that invites the same failure again.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any
from urllib.parse import parse_qs

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError

from bot.adapters.store.errors import OUT_OF_MEMORY, REDIS_DOWN, is_out_of_memory
from bot.adapters.store.ledger import Accepted
from bot.core.ingress import intake, signature
from bot.logs import bound
from bot.web.keys import LEDGER, LINES, METRICS, SECRETS, SIGNATURE_FAILURES

log = logging.getLogger("hookwise.webhook")

MAX_BODY_BYTES = 25 * 1024 * 1024  # GitHub caps payloads at 25 MB
JSON_TYPE = "application/json"
FORM_TYPE = "application/x-www-form-urlencoded"
UNEXPECTED = "could not process this delivery; it was not accepted"


class Rejected(Exception):
    """A delivery answered with an error status; `outcome` labels the metric."""

    def __init__(self, status: int, message: str, outcome: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.outcome = outcome


def _answer(status: int, body: dict[str, Any]) -> web.Response:
    return web.Response(body=json.dumps(body, separators=(",", ":")).encode(), status=status, content_type=JSON_TYPE)


_DUPLICATE = b'{"status":"duplicate"}'


def _queued(delivery_id: str, job_id: str) -> web.Response:
    """The 202, written without a JSON encoder: both ids are GUID-like (checked at the door)."""
    body = b'{"status":"queued","delivery":"%s","job":"%s"}' % (delivery_id.encode(), job_id.encode())
    return web.Response(body=body, status=202, content_type=JSON_TYPE)


def json_text(body: bytes, content_type: str) -> bytes | str:
    """The delivery's JSON text, from either content type GitHub sends (`payload=` for forms)."""
    if content_type != FORM_TYPE:
        return body
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    if "payload" not in fields:
        raise Rejected(400, "form body has no payload field", "bad_request")
    return fields["payload"][0]


async def _read_body(request: web.Request) -> bytes:
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        raise Rejected(413, "body over 25 MiB", "too_large") from exc
    except (RequestPayloadError, HttpProcessingError) as exc:  # e.g. a Content-Encoding that does not decode
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise Rejected(400, f"unreadable body: {reason[:200]}", "bad_request") from exc


async def _read_verified(request: web.Request) -> tuple[str, str, bytes | str]:
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise Rejected(413, "body over 25 MiB", "too_large")
    if request.content_type not in (JSON_TYPE, FORM_TYPE):
        raise Rejected(415, f"unsupported content type {request.content_type!r}", "bad_type")
    body = await _read_body(request)
    header = request.headers.get("X-Hub-Signature-256")
    secrets: list[bytes] = request.app[SECRETS]
    if not signature.is_valid(body, header, secrets):
        problem = "missing" if header is None else "not matching"
        raise Rejected(401, f"X-Hub-Signature-256 {problem}", "bad_signature")
    event = request.headers.get("X-GitHub-Event", "").strip()
    delivery_id = request.headers.get("X-GitHub-Delivery", "").strip()
    if not event or not delivery_id:
        raise Rejected(400, "X-GitHub-Event and X-GitHub-Delivery are required", "bad_request")
    if not intake.is_event_name(event):
        raise Rejected(400, "X-GitHub-Event is not an event name", "bad_request")
    if not intake.is_delivery_id(delivery_id):
        raise Rejected(400, "X-GitHub-Delivery is not a GUID", "bad_request")
    return event, delivery_id, json_text(body, request.content_type)


async def handle_webhook(request: web.Request) -> web.Response:
    started = time.perf_counter()
    app = request.app
    event = "-"
    try:
        event, delivery_id, text = await _read_verified(request)
        response, outcome = await _dispatch(app, event, delivery_id, text)
    except Rejected as rejection:
        response, outcome = _answer(rejection.status, {"error": rejection.message}), rejection.outcome
        app[LINES].log("delivery rejected status=%d reason=%r", rejection.status, rejection.message)
        if outcome == "bad_signature":  # counted for the status page's warning; never waits for Redis
            app[SIGNATURE_FAILURES].note(missing="X-Hub-Signature-256" not in request.headers)
    except Exception:
        # A bug: the same bytes would fail the same way again, so not a 503 ("try later"). Logged
        # with its traceback and the delivery id for a maintainer; nothing was remembered.
        delivery = request.headers.get("X-GitHub-Delivery", "-")[:64]
        log.exception("delivery=%r event=%r unexpected error answering a delivery", delivery, event[:64])
        response, outcome, event = _answer(400, {"error": UNEXPECTED}), "error", "-"
    app[METRICS].delivered(event, outcome, time.perf_counter() - started)
    return response


async def _dispatch(app: web.Application, event: str, delivery_id: str, text: bytes | str) -> tuple[web.Response, str]:
    decision = intake.decide(event, text, delivery_id)
    if isinstance(decision, intake.Malformed):
        raise Rejected(400, decision.error, "bad_request")
    if isinstance(decision, intake.Ignore):
        status = "pong" if event == "ping" else "ignored"
        log.debug("event=%s ignored: %s delivery=%s", event, decision.reason, delivery_id)
        return _answer(200, {"status": status, "reason": decision.reason}), "ignored"
    job = decision.job
    # One binding for everything logged about this delivery from here, in this task.
    with bound(delivery=delivery_id, installation=job.installation_id, repo=job.repository):
        try:
            result = await app[LEDGER].accept(job)
        except REDIS_DOWN as exc:
            if is_out_of_memory(exc):
                log.warning("event=%s not queued, %s (maxmemory reached): %s", event, OUT_OF_MEMORY, exc)
                return _answer(503, {"error": "queue full, delivery not accepted; redeliver later"}), "unavailable"
            log.warning("event=%s not queued, Redis unavailable: %s", event, exc)
            return _answer(503, {"error": "queue unavailable, delivery not accepted; redeliver later"}), "unavailable"
        if isinstance(result, Accepted):
            app[LINES].log("event=%s action=%s target=%d queued job=%s", event, job.action, job.number, result.job_id)
            return _queued(delivery_id, result.job_id), "queued"
        app[LINES].log("event=%s duplicate (state %s)", event, result.state)
        return web.Response(body=_DUPLICATE, content_type=JSON_TYPE), "duplicate"

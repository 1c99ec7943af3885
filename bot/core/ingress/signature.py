"""The one place that verifies webhook signatures.

GitHub signs the raw request body with HMAC-SHA256 and sends `X-Hub-Signature-256: sha256=<hex>`.
Only sha256 counts: the legacy sha1 header alone is not enough. Any of several secrets may match,
so a secret can be rotated without dropping deliveries.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

PREFIX = "sha256="
_HEX = frozenset("0123456789abcdef")


def sign(body: bytes, secret: bytes) -> str:
    """The header value GitHub would send for `body` (used by tests, the demo and the bench)."""
    return PREFIX + hmac.new(secret, body, hashlib.sha256).hexdigest()


def is_valid(body: bytes, header: str | None, secrets: Sequence[bytes]) -> bool:
    """True when `header` is a well-formed sha256 signature of `body` under one of `secrets`."""
    if not header or not header.startswith(PREFIX):
        return False
    received = header[len(PREFIX) :].strip().lower()
    if len(received) != 64 or not set(received) <= _HEX:
        return False
    digest = bytes.fromhex(received)
    matched = False
    for secret in secrets:
        # One-shot HMAC (OpenSSL's, no Python object per call); every secret is checked, no early
        # exit, so timing does not reveal which one matched.
        matched |= hmac.compare_digest(hmac.digest(secret, body, "sha256"), digest)
    return matched

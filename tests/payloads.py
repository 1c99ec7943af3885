"""Read the recorded fixtures: webhook bodies byte for byte, API bodies as JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent / "fixtures"
WEBHOOKS = FIXTURES / "github-webhooks"
API = FIXTURES / "github-api"


def load_bytes(relpath: str) -> bytes:
    """The exact bytes of `tests/fixtures/github-webhooks/<relpath>` (what GitHub signed)."""
    return (WEBHOOKS / relpath).read_bytes()


def load_payload(relpath: str) -> dict[str, Any]:
    """A webhook body from `tests/fixtures/github-webhooks/<relpath>`, parsed (a fresh copy each call)."""
    payload = json.loads(load_bytes(relpath))
    assert isinstance(payload, dict)
    return payload


def load_api(relpath: str) -> Any:
    """A recorded REST API body from `tests/fixtures/github-api/<relpath>`, parsed."""
    return json.loads((API / relpath).read_bytes())

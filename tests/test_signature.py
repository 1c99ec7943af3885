"""bot.core.ingress.signature: HMAC-SHA256 over the exact delivery bytes, any of several secrets."""

from __future__ import annotations

import hmac
import json

import pytest

from bot.core.ingress.signature import is_valid, sign
from tests.helpers import webhook_bytes as load_bytes

BODY = load_bytes("pull_request/closed.merged.app.json")
SECRET = b"It's a Secret to Everybody"
OTHER = b"the-old-secret"


def _hex(body: bytes, secret: bytes, digest: str = "sha256") -> str:
    return hmac.new(secret, body, digest).hexdigest()


def test_sign_matches_an_independent_hmac_over_the_fixture_bytes() -> None:
    assert sign(BODY, SECRET) == "sha256=" + _hex(BODY, SECRET)


def test_valid_signature_over_exact_bytes() -> None:
    assert is_valid(BODY, "sha256=" + _hex(BODY, SECRET), [SECRET])


@pytest.mark.parametrize(
    "relpath",
    ["issues/opened.json", "issue_comment/created.on-pull-request.json", "ping/app-hook.json", "push/payload.json"],
)
def test_valid_for_other_real_bodies(relpath: str) -> None:
    body = load_bytes(relpath)
    assert is_valid(body, sign(body, SECRET), [SECRET])


def test_reserialised_json_does_not_match() -> None:
    reserialised = json.dumps(json.loads(BODY)).encode()
    assert reserialised != BODY
    assert not is_valid(reserialised, sign(BODY, SECRET), [SECRET])


def test_one_flipped_byte_in_the_body_fails() -> None:
    tampered = bytearray(BODY)
    tampered[len(tampered) // 2] ^= 0x01
    assert not is_valid(bytes(tampered), sign(BODY, SECRET), [SECRET])


@pytest.mark.parametrize("signed_with", [SECRET, OTHER])
def test_any_of_several_secrets_matches(signed_with: bytes) -> None:
    """Secret rotation: a delivery signed with the old or the new secret is accepted."""
    assert is_valid(BODY, sign(BODY, signed_with), [OTHER, SECRET])
    assert is_valid(BODY, sign(BODY, signed_with), [SECRET, OTHER])


def test_wrong_secret_fails() -> None:
    assert not is_valid(BODY, sign(BODY, b"wrong"), [SECRET, OTHER])


def test_no_secrets_configured_fails() -> None:
    assert not is_valid(BODY, sign(BODY, SECRET), [])


def test_sha1_signature_alone_is_not_enough() -> None:
    assert not is_valid(BODY, "sha1=" + _hex(BODY, SECRET, "sha1"), [SECRET])


def test_sha256_digest_under_sha1_prefix_fails() -> None:
    assert not is_valid(BODY, "sha1=" + _hex(BODY, SECRET), [SECRET])


@pytest.mark.parametrize("header", [None, ""])
def test_missing_header_fails(header: str | None) -> None:
    assert not is_valid(BODY, header, [SECRET])


@pytest.mark.parametrize(
    "header",
    [
        "sha256=",
        "sha256",
        _hex(BODY, SECRET),  # no prefix
        "SHA256=" + _hex(BODY, SECRET),
        "sha512=" + _hex(BODY, SECRET),
        "sha256=" + "z" * 64,  # right length, not hex
        "sha256=" + _hex(BODY, SECRET)[:-1],  # one short
        "sha256=" + _hex(BODY, SECRET) + "0",  # one long
        "sha256=" + _hex(BODY, SECRET)[:40],  # sha1 length
        "sha256=" + _hex(BODY, SECRET) * 2,
        "sha256=" + _hex(BODY, SECRET)[:32],
    ],
    ids=[
        "empty-digest",
        "no-equals",
        "no-prefix",
        "upper-prefix",
        "sha512-prefix",
        "not-hex",
        "one-short",
        "one-long",
        "sha1-length",
        "doubled",
        "half",
    ],
)
def test_malformed_headers_fail(header: str) -> None:
    assert not is_valid(BODY, header, [SECRET])


def test_uppercase_hex_is_the_same_digest() -> None:
    # GitHub sends lower-case hex; upper case is the same HMAC, so accepting it weakens nothing.
    assert is_valid(BODY, "sha256=" + _hex(BODY, SECRET).upper(), [SECRET])


def test_non_ascii_digest_is_rejected_not_raised() -> None:
    assert not is_valid(BODY, "sha256=" + "é" * 64, [SECRET])

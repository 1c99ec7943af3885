"""What redis-py answers, as text: the client is made without `decode_responses`, so keys, members
and fields come back as bytes (a value written by hand, or by another tool, may not be UTF-8)."""

from __future__ import annotations


def text(value: bytes | str | None) -> str:
    """`value` as a str: bytes are decoded as UTF-8 (an invalid byte becomes U+FFFD rather than an
    error: a scan of the whole keyspace meets keys hookwise did not write); None is ""."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)

"""Text at its bounds: clipped to a size, saying where; a validation error as one line. Pure."""

from __future__ import annotations

from pydantic import ValidationError

from bot.core.tokens import estimate_tokens

CLIP_NOTE = "\n… [cut]"


def clip(text: str, limit: int, *, tokens: int | None = None) -> str:
    """`text` within `limit` characters (and `tokens` estimated tokens), saying where it was cut."""
    if len(text) > limit:
        text = text[: max(limit - len(CLIP_NOTE), 0)].rstrip() + CLIP_NOTE
    if tokens is None or estimate_tokens(text) <= tokens:
        return text
    low, high = 0, len(text)  # the longest prefix that fits with the note
    while low < high:
        middle = (low + high + 1) // 2
        if estimate_tokens(text[:middle] + CLIP_NOTE) <= tokens:
            low = middle
        else:
            high = middle - 1
    return text[:low] + CLIP_NOTE


def first_error(exc: ValidationError, *, whole: str = "") -> str:
    """pydantic's first complaint as one line for people: `triage.max_labels: Input should be ...`
    (`whole` names the thing itself when the complaint is about no field of it)."""
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or whole
    return f"{where}: {first['msg']}" if where else str(first["msg"])

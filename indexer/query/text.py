"""What a user typed, made safe to read: engine-neutral query text clean-up."""

from __future__ import annotations

import unicodedata

MAX_QUERY_CHARS = 1000


def clean(text: str) -> str:
    """The query text without control characters, folded to NFC, bounded."""
    text = unicodedata.normalize("NFC", text)
    text = "".join(" " if unicodedata.category(c)[0] == "C" else c for c in text)
    text = " ".join(text.split())
    if len(text) > MAX_QUERY_CHARS:
        cut = text.rfind(" ", 0, MAX_QUERY_CHARS)
        text = text[: cut if cut > 0 else MAX_QUERY_CHARS]
    return text

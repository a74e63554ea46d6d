"""What a user typed, made safe to read: engine-neutral query text clean-up."""

from __future__ import annotations

import re
import unicodedata

from ..errors import QueryError

MAX_QUERY_CHARS = 1000
MAX_DEPTH = 20  # parentheses nested deeper are refused (Whoosh's parser recurses on them)

# Characters that render as nothing (Unicode's Default_Ignorable_Code_Point,
# less the Hangul fillers, which are letters to the tokenizer): a soft hyphen
# or zero-width joiner inside a word must not split it ("verte\u00adbroplasty").
INVISIBLE = ("\u00ad\u034f\u061c\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
             "\u2060-\u206f\ufe00-\ufe0f\ufeff\ufff0-\ufff8\U0001bca0-\U0001bca3"
             "\U0001d173-\U0001d17a\U000e0000-\U000e0fff")
_INVISIBLE = re.compile(f"[{INVISIBLE}]+")


def without_invisibles(text: str) -> str:
    """`text` without the characters that render as nothing."""
    return _INVISIBLE.sub("", text)


def clean(text: str) -> str:
    """The query text without invisible or control characters, folded to NFC, bounded."""
    # An invisible character joins the letters around it, as in the index.
    text = unicodedata.normalize("NFC", without_invisibles(text))
    text = "".join(" " if unicodedata.category(c)[0] == "C" else c for c in text)
    text = " ".join(text.split())
    if len(text) > MAX_QUERY_CHARS:
        cut = text.rfind(" ", 0, MAX_QUERY_CHARS)
        text = text[: cut if cut > 0 else MAX_QUERY_CHARS]
    return text


def check_nesting(text: str) -> None:
    """QueryError for parentheses nested deeper than MAX_DEPTH: the same on either engine."""
    depth = deepest = 0
    for char in text:
        if char == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif char == ")" and depth:
            depth -= 1
    if deepest > MAX_DEPTH:
        raise QueryError(f"parentheses are nested {deepest} deep; at most {MAX_DEPTH} are allowed")

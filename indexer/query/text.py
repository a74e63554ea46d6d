"""What a user typed, made safe to read: engine-neutral query text clean-up."""

from __future__ import annotations

import re
import unicodedata

from ..errors import QueryError

MAX_QUERY_CHARS = 1000
MAX_DEPTH = 20  # parentheses nested deeper are refused (Whoosh's parser recurses on them)
# The same costly queries are refused on either engine, in the same words:
MIN_LITERAL = 2  # letters a wildcard needs besides * and ?
MAX_PATTERNS = 8  # wildcard, prefix, range and fuzzy terms searched at once
MAX_OPEN_PATTERNS = 1  # of them, those starting with a wildcard (each reads the whole word list)
MAX_BOOST = 100.0

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


def too_broad(shown: str) -> QueryError:
    """The refusal of a wildcard with fewer than MIN_LITERAL letters."""
    return QueryError(f"'{shown}' is too broad: give a wildcard at least {MIN_LITERAL} "
                      "letters besides * and ? (e.g. spin* or *itis)")


def not_a_boost(value: str) -> QueryError:
    """The refusal of `^value` that is not a number."""
    return QueryError(
        f"'^{value}' is not a boost: give a number from 0 to {MAX_BOOST:g} "
        "(e.g. spine^2 to weigh spine more, spine^0.5 less, or NOT spine to leave it out)")


def check_patterns(patterns: set[tuple[str, bool]]) -> None:
    """QueryError when a query has too many patterns ((text, anchored) pairs)
    or too many that start with a wildcard (not anchored)."""
    open_ones = sorted(text for text, anchored in patterns if not anchored)
    if len(open_ones) > MAX_OPEN_PATTERNS:
        raise QueryError(
            f"{len(open_ones)} terms start with a wildcard ({', '.join(open_ones[:3])}"
            f"{', …' if len(open_ones) > 3 else ''}); at most {MAX_OPEN_PATTERNS} may: "
            "begin the others with letters (e.g. spin* rather than *pin*)")
    if len(patterns) > MAX_PATTERNS:
        raise QueryError(
            f"the query has {len(patterns)} wildcard, fuzzy and range terms; at most "
            f"{MAX_PATTERNS} are searched at once: remove some or write the words out")

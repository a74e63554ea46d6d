"""Abbreviations mined from the abstracts: "long form (SHORT)" pairs.

The Schwartz–Hearst algorithm (PSB 2003): for each parenthesised short form,
find the shortest run of preceding words whose letters contain the short
form's characters in order, the first at the start of a word.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable

_PAREN = re.compile(r"\(([^()]{2,12})\)")
_WORD = re.compile(r"\S+")


def is_short_form(text: str) -> bool:
    """Schwartz–Hearst's test: 2-10 chars, at most 2 words, a letter, alphanumeric start."""
    return (2 <= len(text) <= 10 and len(text.split()) <= 2
            and any(c.isalpha() for c in text) and text[0].isalnum())


def best_long_form(short: str, candidate: str) -> str | None:
    """The shortest end of `candidate` that spells out `short`, or None."""
    s, c = short.lower(), candidate.lower()
    si, ci = len(s) - 1, len(c) - 1
    while si >= 0:
        ch = s[si]
        if not ch.isalnum():
            si -= 1
            continue
        # The short form's first character must begin a word of the long form.
        while ci >= 0 and (c[ci] != ch or (si == 0 and ci > 0 and c[ci - 1].isalnum())):
            ci -= 1
        if ci < 0:
            return None
        si -= 1
        ci -= 1
    start = c.rfind(" ", 0, ci + 1) + 1
    return candidate[start:].strip()


def find_pairs(text: str) -> Iterable[tuple[str, str]]:
    """(short, long) pairs written "long form (SHORT)" in `text`."""
    for match in _PAREN.finditer(text):
        short = match[1].strip()
        if not is_short_form(short):
            continue
        before = text[: match.start()].rstrip()
        # Only words of this sentence or clause can be the long form.
        before = re.split(r"[.;:\[\]()]\s", before)[-1]
        words = _WORD.findall(before)
        limit = min(len(short) + 5, len(short) * 2)
        candidate = " ".join(words[-limit:])
        long = best_long_form(short, candidate)
        if long:
            long = long.lstrip("[{\"'")  # "[Fas ligand (FasL)" from a bracketed title
        if not long or len(long) <= len(short):
            continue
        # One word stands for an upper-case short form only when it is much
        # longer and starts with it: "tuberculosis (TB)", not "data (DA)".
        if " " not in long and not (short.isupper() and len(long) >= 3 * len(short)):
            continue
        # Lower-case text ("ffa") gives many chance matches: there, accept
        # only strict initialisms ("free fatty acids").
        if short.islower():
            initials = "".join(w[0] for w in re.split(r"[\s-]+", long.lower()) if w)
            if initials != short:
                continue
        yield short, long


def mine(texts: Iterable[str], min_count: int = 2) -> dict[str, tuple[str, list[str]]]:
    """Short form (lower case) -> (as written, long forms), if seen often or unambiguous.

    Long forms are grouped ignoring case, spaces and hyphens (the first
    spelling seen is kept); a short form with several long
    forms keeps only those seen `min_count` times, most frequent first.
    """
    return tally((find_pairs(text) for text in texts), min_count)


def tally(found: Iterable[Iterable[tuple[str, str]]],
          min_count: int = 2) -> dict[str, tuple[str, list[str]]]:
    """`mine` of texts whose (short, long) pairs were already found, in text order."""
    counts: dict[str, Counter] = defaultdict(Counter)
    shorts: dict[str, Counter] = defaultdict(Counter)
    spelling: dict[tuple[str, str], str] = {}
    for pairs in found:
        for short, long in pairs:
            # "cerebro-spinal fluid" and "cerebrospinal fluid" are one long form.
            key = (short.lower(), re.sub(r"[\s-]+", "", long.lower()))
            counts[key[0]][key[1]] += 1
            shorts[key[0]][short] += 1
            spelling.setdefault(key, " ".join(long.split()))
    pairs = {}
    for short, longs in counts.items():
        if len(longs) == 1:
            kept = list(longs)
        else:
            kept = [lf for lf, n in longs.most_common(3) if n >= min_count]
        if kept:
            written = shorts[short].most_common(1)[0][0]
            pairs[short] = (written, [spelling[(short, lf)] for lf in kept])
    return pairs

"""Spelling suggestions for a whole query, word by word ("Did you mean")."""

from __future__ import annotations

from typing import Callable

from . import limits


def corrected_query(text: str, is_known: Callable[[str], bool],
                    closest: Callable[[str], list[str]]) -> str | None:
    """`text` with unknown words replaced by their closest index words, or None
    when no word changes; `closest(word)` gives the candidates, best first."""
    words = text.split()
    changed = False
    corrected = []
    # Each lookup is a fuzzy scan of the lexicon, slower the longer the
    # word: look up each word once, a few words per query, none too long.
    looked_up: dict[str, list] = {}
    for word in words:
        bare = word.strip("\"'()").lower()
        if (not bare.isalpha() or not 4 <= len(bare) <= limits.MAX_SUGGEST_CHARS
                or ":" in word or is_known(bare)):
            corrected.append(word)
            continue
        if bare not in looked_up and len(looked_up) < limits.MAX_SUGGEST_WORDS:
            looked_up[bare] = closest(bare)
        options = looked_up.get(bare)
        if options and options[0] != bare:
            # Keep the quotes and brackets around the word as typed.
            start = word.lower().index(bare)
            corrected.append(word[:start] + options[0] + word[start + len(bare):])
            changed = True
        else:
            corrected.append(word)
    return " ".join(corrected) if changed else None

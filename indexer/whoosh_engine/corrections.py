"""Spelling suggestions for a whole query, word by word ("Did you mean")."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from ..query.spelling import Speller
from . import limits
from .memory import CORRECTIONS_KEPT, PerGeneration, Recent


def suggestion(text: str, searcher, generation: Path, memory: PerGeneration,
               speller: Callable[[], Speller]) -> str | None:
    """`text` with its unknown words replaced by the closest index words
    (corrected_query), each look-up remembered for the generation: people
    misspell the same words."""
    known = memory.table("known", generation, lambda _g: Recent(CORRECTIONS_KEPT))
    corrections = memory.table("corrections", generation, lambda _g: Recent(CORRECTIONS_KEPT))

    def is_known(word: str) -> bool:
        found = known.get(word)
        if found is None:
            found = known.put(word, _in_lexicon(searcher, word))
        return found

    def closest(word: str) -> list[str]:
        found = corrections.get(word)
        if found is None:
            limits.check_time()
            best = speller().correct(word)
            found = corrections.put(word, [best] if best else [])
        return found

    return corrected_query(text, is_known, closest)


def _in_lexicon(searcher, word: str) -> bool:
    reader = searcher.reader()
    return any(reader.frequency(f"spell_{f}", word) for f in ("title", "abstract", "keywords")
               if f"spell_{f}" in searcher.schema)


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

"""Spelling corrections from the generation's vocabulary, built once per generation.

Whoosh's corrector walks a Levenshtein automaton over each segment's word
graph: two seconds for an unknown word over the 100 segments of a
100,000-page index. The vocabulary the build saves for suggest-as-you-type
(indexer.suggest) already lists every index word with its document
frequency; here it is grouped by word length once, and a correction compares
the word with the words of nearby lengths in C (rapidfuzz's optimal string
alignment distance: a swap of two letters is one edit, as in Whoosh).

The choice is Whoosh's: the smallest distance (at most 2), then the most
frequent word, then alphabetical order.
"""

from __future__ import annotations

from collections import defaultdict

from rapidfuzz import process
from rapidfuzz.distance import OSA

MAX_DISTANCE = 2


class Speller:
    """The closest index word to an unknown word."""

    def __init__(self, counts: dict[str, int]):
        by_length: dict[int, list[str]] = defaultdict(list)
        for word in counts:
            if word.isalpha():  # not numbers, codes or MeSH headings
                by_length[len(word)].append(word)
        self._by_length = {n: sorted(words) for n, words in by_length.items()}
        self._counts = counts

    def correct(self, word: str, maxdist: int = MAX_DISTANCE) -> str | None:
        """The index word closest to `word`, or None if none is within `maxdist` edits."""
        best: tuple[int, int, str] | None = None
        for length in range(len(word) - maxdist, len(word) + maxdist + 1):
            words = self._by_length.get(length)
            if not words:
                continue
            for found, distance, _ in process.extract(
                    word, words, scorer=OSA.distance, score_cutoff=maxdist, limit=None):
                if found == word:
                    continue
                candidate = (int(distance), -self._counts[found], found)
                if best is None or candidate < best:
                    best = candidate
        return best[2] if best else None


def in_lexicon(searcher, word: str) -> bool:
    """Whether `word` is a spelling-field word of the index `searcher` reads."""
    reader = searcher.reader()
    return any(reader.frequency(f"spell_{f}", word) for f in ("title", "abstract", "keywords")
               if f"spell_{f}" in searcher.schema)

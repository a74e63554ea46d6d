"""Suggest as you type: complete the word being typed from the index's vocabulary.

The vocabulary is the index's unstemmed words (of titles, abstracts and
keywords) and whole MeSH keywords, with their document frequencies. The
engine saves it beside each generation (indexer.whoosh_engine.vocabulary) and
loads it once per generation into sorted lists searched with bisect, so a
completion costs a binary search plus a look at the words sharing the prefix.
"""

from __future__ import annotations

import heapq
import re
from bisect import bisect_left
from dataclasses import dataclass

from .terms import fold

MAX_LIMIT = 20
MAX_INPUT = 200
# Prefixes this short share thousands of words; their answers are kept.
CACHED_PREFIX_CHARS = 2
CACHE_SIZE = 4096
# The word being typed: letters and digits at the end of the text, after any
# field prefix, quote or bracket ("title:verte", "(spinal tub").
_LAST_WORD = re.compile(r"[^\W_]+$")


@dataclass
class _Table:
    """Completions sorted by their folded form, with document frequencies."""

    keys: list[str]
    shown: list[str]
    freqs: list[int]

    @classmethod
    def from_counts(cls, counts: dict[str, tuple[str, int]]) -> "_Table":
        keys = sorted(counts)
        return cls(keys, [counts[k][0] for k in keys], [counts[k][1] for k in keys])

    def top(self, prefix: str, limit: int) -> list[tuple[int, str]]:
        """The `limit` most frequent (freq, shown) whose key starts with `prefix`."""
        lo = bisect_left(self.keys, prefix)
        hi = bisect_left(self.keys, prefix + "\U0010ffff", lo)
        best = heapq.nlargest(limit, range(lo, hi),
                              key=lambda i: (self.freqs[i], -len(self.keys[i])))
        return [(self.freqs[i], self.shown[i]) for i in best]


class Vocabulary:
    """The completions of one index generation."""

    def __init__(self, words: dict[str, int], mesh: dict[str, int]):
        self._words = _Table.from_counts({w: (w, n) for w, n in words.items()})
        folded: dict[str, tuple[str, int]] = {}
        for term, n in mesh.items():  # "Spine" and "spine": one key, the commoner spelling
            key = fold(term)
            if key not in folded or n > folded[key][1]:
                folded[key] = (term, n)
        self._mesh = _Table.from_counts(folded)
        self._cache: dict[tuple[str, int], list[str]] = {}

    def __len__(self) -> int:
        return len(self._words.keys) + len(self._mesh.keys)

    def word_counts(self) -> dict[str, int]:
        """Every word (not MeSH keyword) with its document frequency."""
        return dict(zip(self._words.keys, self._words.freqs))

    def suggest(self, text: str, limit: int = 8) -> list[str]:
        """Completions of `text`, most frequent first.

        The last word is completed and the words before it kept ("spinal tub"
        -> "spinal tuberculosis"); a MeSH keyword that the whole text begins
        is offered whole ("tuberculosis, sp" -> "Tuberculosis, Spinal").
        """
        text = " ".join(str(text)[:MAX_INPUT].split())
        limit = max(0, min(int(limit), MAX_LIMIT))
        if not text or not limit:
            return []
        cache_key = (text, limit)
        if cache_key in self._cache:
            return list(self._cache[cache_key])
        found = self._candidates(text, limit)
        if len(text) <= CACHED_PREFIX_CHARS:
            if len(self._cache) >= CACHE_SIZE:  # odd input must not grow it forever
                self._cache.clear()
            self._cache[cache_key] = found
        return list(found)

    def _candidates(self, text: str, limit: int) -> list[str]:
        scored: list[tuple[int, int, str]] = []
        match = _LAST_WORD.search(text)
        if match:
            head, prefix = text[:match.start()], fold(match.group())
            scored += [(n, 0, head + word) for n, word in self._words.top(prefix, limit)]
        whole = fold(text.lstrip("\"'("))
        # After two or more words, a MeSH keyword matches the whole text while a
        # word's count is of its last word alone, an overestimate: MeSH first.
        mesh_rank = -1 if " " in whole else 1
        if whole:
            scored += [(n, mesh_rank, term) for n, term in self._mesh.top(whole, limit)]
        # Most documents first; of equals, the word before the MeSH keyword.
        scored.sort(key=lambda s: (s[1] >= 0, -s[0], s[1], len(s[2]), s[2]))
        out, seen = [], set()
        for _, _, shown in scored:
            if fold(shown) not in seen:
                seen.add(fold(shown))
                out.append(shown)
        return out[:limit]


__all__ = ["Vocabulary", "fold"]

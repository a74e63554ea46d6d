"""Suggest as you type: complete the word being typed from the index's vocabulary.

The vocabulary comes from the spelling fields (unstemmed words of titles,
abstracts and keywords) and the `mesh_term` field (whole MeSH keywords). The
build saves it beside each generation (reading it from 100,000 documents takes
seconds); the Index loads it once per generation into sorted lists searched
with bisect, so a completion costs a binary search plus a look at the words
sharing the prefix.
"""

from __future__ import annotations

import heapq
import json
import os
import re
from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from whoosh.support.charset import accent_map

from ..whoosh_engine.generations import load_json, per_segment, save_json, segment_file, segment_ids

WORD_FIELDS = ("spell_title", "spell_abstract", "spell_keywords")
VOCABULARY_FILE = "suggest.json"  # beside each generation, written by the build
MESH_FIELD = "mesh_term"
MAX_LIMIT = 20
MAX_INPUT = 200
# Prefixes this short share thousands of words; their answers are kept.
CACHED_PREFIX_CHARS = 2
CACHE_SIZE = 4096
# The word being typed: letters and digits at the end of the text, after any
# field prefix, quote or bracket ("title:verte", "(spinal tub").
_LAST_WORD = re.compile(r"[^\W_]+$")


def fold(text: str) -> str:
    """Lower case without accents, as the analyzer folds words before indexing them."""
    return text.lower().translate(accent_map)


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


def _field_counts(reader, name: str) -> dict[str, int]:
    """Each term of field `name` with its document frequency.

    Summed segment by segment: a MultiReader merges the segments' term lists
    term by term, several times slower over the ~100 segments of a large build.
    """
    counts: dict[str, int] = {}
    if name not in reader.schema.names():
        return counts
    for segment in getattr(reader, "readers", None) or [reader]:
        for term, info in segment.iter_field(name):
            text = term.decode("utf-8") if isinstance(term, bytes) else term
            counts[text] = counts.get(text, 0) + info.doc_frequency()
    return counts


def read_counts(reader) -> tuple[dict[str, int], dict[str, int]]:
    """(words, MeSH keywords) of a Whoosh reader, each with its document frequency."""
    words: dict[str, int] = {}
    for name in WORD_FIELDS:
        for word, n in _field_counts(reader, name).items():
            if any(c.isalpha() for c in word):  # numbers complete nothing useful
                # One word in several fields: its most frequent field
                # approximates the documents holding it.
                words[word] = max(words.get(word, 0), n)
    return words, _field_counts(reader, MESH_FIELD)


SEGMENT_KIND = "suggest.json"  # one segment's term counts (generations.per_segment)
# Beside each generation: each field's counts summed, and the segments summed.
TOTALS_FILE = "suggest-totals.json"


def segment_counts(segment) -> dict[str, dict[str, int]]:
    """Each word and MeSH field's terms with their document frequencies, in
    one segment (a SegmentReader; deleted documents counted, as Whoosh does)."""
    return {name: _field_counts(segment, name) for name in (*WORD_FIELDS, MESH_FIELD)}


def _sum(parts) -> dict[str, Counter]:
    """Each field's document frequencies summed over segments' counts."""
    totals: dict[str, Counter] = {name: Counter() for name in (*WORD_FIELDS, MESH_FIELD)}
    for _, counts in parts:
        for name, total in totals.items():
            total.update(counts.get(name, {}))
    return totals


def _read_counts_of(totals: dict[str, Counter]) -> tuple[dict[str, int], dict[str, int]]:
    """read_counts' (words, MeSH keywords) from each field's totals."""
    words: dict[str, int] = {}
    for name in WORD_FIELDS:
        for word, n in totals[name].items():
            if any(c.isalpha() for c in word):
                words[word] = max(words.get(word, 0), n)
    return words, dict(totals[MESH_FIELD])


def _counts_from_segments(parts) -> tuple[dict[str, int], dict[str, int]]:
    """read_counts of a whole index, from its segments' saved counts."""
    return _read_counts_of(_sum(parts))


def save_segment_counts(folder: str | os.PathLike) -> None:
    """Save the term counts of each segment of the index in `folder` that has none yet."""
    per_segment(Path(folder), SEGMENT_KIND, segment_counts, save_json, load_json)


def write_vocabulary(folder: str | os.PathLike, previous: str | os.PathLike | None = None) -> None:
    """Save the index's vocabulary beside it, so Index.suggest loads it in milliseconds.

    Summed from each segment's counts, read once when the segment is written
    and kept with it. An update starts from the `previous` generation's sums
    (TOTALS_FILE): it adds its new segments' counts and takes away those of
    the segments it merged away, whatever the number of segments.
    """
    folder = Path(folder)
    ids = segment_ids(folder)
    totals = _totals_after(folder, Path(previous), ids) if previous else None
    if totals is None:
        totals = _sum(per_segment(folder, SEGMENT_KIND, segment_counts, save_json,
                                  load_json))
    words, mesh = _read_counts_of(totals)
    payload = json.dumps({"words": words, "mesh": mesh}, ensure_ascii=False,
                         separators=(",", ":"))
    (folder / VOCABULARY_FILE).write_text(payload, encoding="utf-8")
    (folder / TOTALS_FILE).write_text(json.dumps(
        {"segments": ids, "totals": totals}, ensure_ascii=False, separators=(",", ":")),
        encoding="utf-8")


def _totals_after(folder: Path, previous: Path, ids: list[str]) -> dict[str, Counter] | None:
    """The previous generation's sums brought to the segments `ids` of `folder`;
    None when they cannot be (no sums saved, a segment's counts missing)."""
    try:
        saved = json.loads((previous / TOTALS_FILE).read_text(encoding="utf-8"))
        before = list(saved["segments"])
        totals = {name: Counter(saved["totals"][name]) for name in (*WORD_FIELDS, MESH_FIELD)}
        for gone in set(before) - set(ids):
            with open(segment_file(previous, gone, SEGMENT_KIND), "rb") as handle:
                counts = load_json(handle)
            for name, total in totals.items():
                total.subtract(counts.get(name, {}))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    new = set(ids) - set(before)
    for _, counts in per_segment(folder, SEGMENT_KIND, segment_counts, save_json,
                                 load_json, only=new):
        for name, total in totals.items():
            total.update(counts.get(name, {}))
    for total in totals.values():
        for term in [t for t, n in total.items() if n <= 0]:
            del total[term]
    return totals


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

    @classmethod
    def from_reader(cls, reader) -> "Vocabulary":
        """The words and MeSH keywords of a Whoosh reader, with their doc frequencies."""
        return cls(*read_counts(reader))

    @classmethod
    def load(cls, folder: str | os.PathLike, reader) -> "Vocabulary":
        """The vocabulary the build saved in `folder`; else read from `reader` (slower)."""
        try:
            data = json.loads((Path(folder) / VOCABULARY_FILE).read_text(encoding="utf-8"))
            return cls(data["words"], data["mesh"])
        except (OSError, ValueError, KeyError, TypeError):
            return cls.from_reader(reader)

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

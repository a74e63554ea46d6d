"""Reading a generation's postings columns (written by .columns) at search time.

Memory-mapped and read-only: the web workers of one machine share one copy
in the page cache, and threads share one `Columns`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

# The module, not its names: the key hash is looked up when used, so the
# columns are read with the very function they were written with.
from . import columns


class Columns:
    """One generation's columns, memory-mapped, read-only, shared by threads."""

    def __init__(self, arrays: dict):
        self.hashes = arrays["hashes"]
        self.starts = arrays["starts"]
        self.docs = arrays["docs"]
        self.tfs = arrays["tfs"]
        self.keys = arrays["keys"]
        self.key_starts = arrays["key_starts"]
        stats = arrays["stats"]
        # Written before the sets had their fields listed: the text fields.
        self.fields = tuple(stats.get("fields", columns.TEXT.fields))
        self.lengths = {f: arrays["lengths"][i] for i, f in enumerate(self.fields)}
        self.deleted = arrays["deleted"]
        self.doc_count_all = int(stats["doc_count_all"])
        self.field_length = stats["field_length"]
        self.has_deletions = bool(stats["has_deletions"])
        # Each posting's positions, in posting order, and where each term's
        # begin (.positions); None in columns written without them.
        self.positions = arrays.get("positions")
        self.pos_starts = arrays.get("pos_starts")
        # Each posting's BM25 term-frequency part (.impacts) and the settings
        # it was computed with; None in columns written without them.
        self.impacts = arrays.get("impacts")
        self.impact_settings = stats.get("impacts")

    @classmethod
    def load(cls, folder: str | Path) -> Columns:
        """The text fields' columns saved beside a generation; computed now if it has none."""
        saved = cls._saved(Path(folder), columns.TEXT)
        # A generation from before the columns (or an older layout): read in memory.
        return saved if saved is not None else cls(columns._read(Path(folder)))

    @classmethod
    def load_names(cls, folder: str | Path) -> Columns | None:
        """The name fields' columns saved beside a generation; None if it has
        none (written before them: Whoosh searches those fields)."""
        return cls._saved(Path(folder), columns.NAMES)

    @classmethod
    def _saved(cls, folder: Path, kept: columns.ColumnSet) -> Columns | None:
        stats_file = folder / f"{kept.prefix}stats.json"
        if not stats_file.exists():
            return None
        stats = json.loads(stats_file.read_text())
        if stats.get("version") != columns.VERSION:
            return None  # an older layout
        # Plain arrays over the mapping (it stays open through their base):
        # every index into a numpy memmap runs memmap.__getitem__ in Python,
        # which was 5-10% of a search at 100,000 pages.
        names = ("hashes", "starts", "docs", "tfs", "keys", "key_starts", "lengths",
                 "deleted") + (("positions", "pos_starts") if stats.get("positions") else ()) + (
                 ("impacts",) if stats.get("impacts") else ())
        arrays = {name: np.asarray(np.load(folder / f"{kept.prefix}{name}.npy", mmap_mode="r"))
                  for name in names}
        arrays["stats"] = stats
        return cls(arrays)

    @classmethod
    def from_reader(cls, reader) -> Columns:
        return cls(columns._from_reader(reader))

    def _find(self, fieldname: str, text: str | bytes) -> int:
        key = columns.term_key(fieldname, text)
        h = columns.key_hash(key)
        hashes, key_starts = self.hashes, self.key_starts
        # ndarray methods and plain ints: numpy's module-level wrappers and
        # scalar comparisons cost more than the search itself.
        i = int(hashes.searchsorted(np.uint64(h)))
        while i < len(hashes) and int(hashes[i]) == h:
            if self.keys[key_starts[i]:key_starts[i + 1]].tobytes() == key:
                return i
            i += 1
        return -1

    def span(self, fieldname: str, text: str | bytes) -> tuple[int, int]:
        """Where a term's postings start and end in `docs` and `tfs`; (0, 0) if absent."""
        i = self._find(fieldname, text)
        return (0, 0) if i < 0 else (int(self.starts[i]), int(self.starts[i + 1]))

    def spans(self, fieldname: str, texts: list) -> list[tuple[int, int]]:
        """span() of many terms of one field, found with one search of the hashes."""
        if not texts or not len(self.hashes):
            return [(0, 0)] * len(texts)
        keys = [columns.term_key(fieldname, text) for text in texts]
        wanted = np.fromiter((columns.key_hash(k) for k in keys), dtype=np.uint64,
                             count=len(keys))
        at = np.minimum(self.hashes.searchsorted(wanted), len(self.hashes) - 1)
        hit = (self.hashes[at] == wanted).tolist()
        key_lo, key_hi = self.key_starts[at].tolist(), self.key_starts[at + 1].tolist()
        lo, hi = self.starts[at].tolist(), self.starts[at + 1].tolist()
        found = []
        for n, key in enumerate(keys):
            if not hit[n]:
                found.append((0, 0))
            elif self.keys[key_lo[n]:key_hi[n]].tobytes() == key:
                found.append((lo[n], hi[n]))
            else:  # another key with the same hash first: look further, one at a time
                found.append(self.span(fieldname, texts[n]))
        return found

    def term_at(self, start: int) -> int:
        """The term whose postings begin at `start` (a span's start)."""
        return int(self.starts.searchsorted(start))

    def postings(self, fieldname: str, text: str | bytes) -> tuple[np.ndarray, np.ndarray]:
        """Document numbers (ascending) and weights of a term; empty if absent."""
        return self.postings_at(*self.span(fieldname, text))

    def postings_at(self, start: int, end: int) -> tuple[np.ndarray, np.ndarray]:
        """The postings of a span (see span)."""
        if start == end:
            return _EMPTY_DOCS, _EMPTY_TFS
        return self.docs[start:end], self.tfs[start:end]

    def doc_frequency(self, fieldname: str, text: str | bytes) -> int:
        """Documents with the term, deleted ones included (as Whoosh counts)."""
        start, end = self.span(fieldname, text)
        return end - start

    def avg_length(self, fieldname: str) -> float:
        return self.field_length.get(fieldname, 0) / (self.doc_count_all or 1)

    def impacts_for(self, fieldname: str, k1: float, b: float) -> np.ndarray | None:
        """The postings' saved term-frequency parts if a field's were computed
        with `k1` and `b` (then its postings' slices are right), else None."""
        saved = self.impact_settings
        if saved is None or saved["k1"] != k1 or saved["b"].get(fieldname) != b:
            return None
        return self.impacts


def among(docs: np.ndarray, ascending: np.ndarray) -> np.ndarray:
    """Which of `docs` are in `ascending` (a node's documents): a binary search
    each, where np.isin sorts both (a millisecond for a few against 50,000)."""
    if not len(ascending):
        return np.zeros(len(docs), dtype=bool)
    at = np.minimum(np.searchsorted(ascending, docs), len(ascending) - 1)
    return ascending[at] == docs


_EMPTY_DOCS = np.zeros(0, dtype=np.int32)
_EMPTY_TFS = np.zeros(0, dtype=np.float32)

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
from .schema import TEXT_FIELDS


class Columns:
    """One generation's columns, memory-mapped, read-only, shared by threads."""

    def __init__(self, arrays: dict):
        self.hashes = arrays["hashes"]
        self.starts = arrays["starts"]
        self.docs = arrays["docs"]
        self.tfs = arrays["tfs"]
        self.keys = arrays["keys"]
        self.key_starts = arrays["key_starts"]
        self.lengths = {f: arrays["lengths"][i] for i, f in enumerate(TEXT_FIELDS)}
        self.deleted = arrays["deleted"]
        stats = arrays["stats"]
        self.doc_count_all = int(stats["doc_count_all"])
        self.field_length = stats["field_length"]
        self.has_deletions = bool(stats["has_deletions"])

    @classmethod
    def load(cls, folder: str | Path) -> Columns:
        """The columns saved beside a generation; computed now if it has none."""
        folder = Path(folder)
        stats_file = folder / f"{columns.PREFIX}stats.json"
        if stats_file.exists():
            stats = json.loads(stats_file.read_text())
            if stats.get("version") == columns.VERSION:
                # Plain arrays over the mapping (it stays open through their
                # base): every index into a numpy memmap runs memmap.__getitem__
                # in Python, which was 5-10% of a search at 100,000 pages.
                arrays = {name: np.asarray(np.load(folder / f"{columns.PREFIX}{name}.npy",
                                                   mmap_mode="r"))
                          for name in ("hashes", "starts", "docs", "tfs", "keys",
                                       "key_starts", "lengths", "deleted")}
                arrays["stats"] = stats
                return cls(arrays)
        # A generation from before the columns (or an older layout): read in memory.
        return cls(columns._read(folder))

    @classmethod
    def from_reader(cls, reader) -> Columns:
        return cls(columns._from_reader(reader))

    def _find(self, fieldname: str, text: str | bytes) -> int:
        key = columns.term_key(fieldname, text)
        h = np.uint64(columns.key_hash(key))
        i = int(np.searchsorted(self.hashes, h))
        while i < len(self.hashes) and self.hashes[i] == h:
            if bytes(self.keys[self.key_starts[i]:self.key_starts[i + 1]]) == key:
                return i
            i += 1
        return -1

    def postings(self, fieldname: str, text: str | bytes) -> tuple[np.ndarray, np.ndarray]:
        """Document numbers (ascending) and weights of a term; empty if absent."""
        i = self._find(fieldname, text)
        if i < 0:
            return _EMPTY_DOCS, _EMPTY_TFS
        start, end = self.starts[i], self.starts[i + 1]
        return self.docs[start:end], self.tfs[start:end]

    def doc_frequency(self, fieldname: str, text: str | bytes) -> int:
        """Documents with the term, deleted ones included (as Whoosh counts)."""
        i = self._find(fieldname, text)
        return 0 if i < 0 else int(self.starts[i + 1] - self.starts[i])

    def avg_length(self, fieldname: str) -> float:
        return self.field_length.get(fieldname, 0) / (self.doc_count_all or 1)


_EMPTY_DOCS = np.zeros(0, dtype=np.int32)
_EMPTY_TFS = np.zeros(0, dtype=np.float32)

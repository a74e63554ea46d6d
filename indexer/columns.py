"""The text fields' postings as numpy columns, saved beside each generation.

Whoosh scores one posting at a time in Python; a query over 100,000 pages
touches hundreds of thousands of postings. The same postings, copied once per
generation into flat arrays (document numbers and term frequencies, grouped
by term, plus every document's field lengths), let indexer.scoring compute
the same BM25F for a whole posting list in one numpy step.

The columns are read from the finished Whoosh index, segment by segment, so
they hold exactly what Whoosh's scorer sees: document numbers, weights,
quantized field lengths, and the statistics (document frequency, document
count, total field length) that count deleted documents until their segment
is rewritten. Files are memory-mapped: the web workers of one machine share
one copy in the page cache.

Terms are found by a 64-bit hash of "field\\0term" (sorted, searched with
numpy), checked against the term's own bytes, so no per-process dictionary
of every term is needed.
"""

from __future__ import annotations

import hashlib
import json
from itertools import accumulate
from pathlib import Path

import numpy as np
from whoosh import index as whoosh_index

from .schema import TEXT_FIELDS

PREFIX = "columns-"  # files beside the Whoosh files: columns-docs.npy, ...
VERSION = 1


def term_key(fieldname: str, text: str | bytes) -> bytes:
    raw = text.encode("utf-8") if isinstance(text, str) else text
    return fieldname.encode("ascii") + b"\0" + raw


def key_hash(key: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little")


def _read(folder: Path) -> dict[str, np.ndarray | dict]:
    """Every posting of the text fields of the Whoosh index in `folder`."""
    ix = whoosh_index.open_dir(str(folder))
    try:
        reader = ix.reader()
        try:
            return _from_reader(reader)
        finally:
            reader.close()
    finally:
        ix.close()


def _from_reader(reader) -> dict:
    size = reader.doc_count_all()
    runs_keys: list[bytes] = []
    runs_counts: list[int] = []
    docs: list[int] = []
    tfs: list[float] = []
    lengths = np.zeros((len(TEXT_FIELDS), size), dtype=np.float32)
    deleted = np.zeros(size, dtype=bool)
    for sub, offset in _leaves(reader):
        for docnum in sub.deleted_docs_set if sub.has_deletions() else ():
            deleted[offset + docnum] = True
        for f, fieldname in enumerate(TEXT_FIELDS):
            if fieldname not in sub.schema:
                continue
            for docnum in range(sub.doc_count_all()):
                lengths[f, offset + docnum] = sub.doc_field_length(docnum, fieldname, 0) or 0
            for btext in sub.lexicon(fieldname):
                matcher = sub.postings(fieldname, btext)
                # Deleted documents' postings are kept (Whoosh counts them in
                # document frequencies); scoring leaves them out.
                raw = getattr(matcher, "child", matcher) if sub.has_deletions() else matcher
                ids, weights = _postings_of(raw)
                runs_keys.append(term_key(fieldname, btext))
                runs_counts.append(len(ids))
                docs.extend([d + offset for d in ids] if offset else ids)
                tfs.extend(weights)
    return _assemble(runs_keys, runs_counts, docs, tfs, lengths, deleted, reader)


def _postings_of(matcher) -> tuple[list[int], list[float]]:
    if hasattr(matcher, "_read_weights") and not matcher._byteids:
        ids: list[int] = []
        weights: list[float] = []
        while matcher.is_active():
            if matcher._data is None:
                matcher._read_data()
            block_ids = list(accumulate(matcher._data[0]))
            matcher._read_weights()
            start = matcher._i
            ids.extend(block_ids[start:] if start else block_ids)
            weights.extend(matcher._weights[start:matcher._blocklength])
            matcher._next_block()
        return ids, weights
    ids, weights = [], []
    while matcher.is_active():
        ids.append(matcher.id())
        weights.append(matcher.weight())
        matcher.next()
    return ids, weights


def _leaves(reader):
    if reader.is_atomic():
        return [(reader, 0)]
    return reader.leaf_readers()


def _assemble(runs_keys, runs_counts, docs, tfs, lengths, deleted, reader) -> dict:
    counts = np.asarray(runs_counts, dtype=np.int64)
    # One entry per distinct key; a key's runs (one per segment) are merged
    # in segment order, so its document numbers stay ascending.
    unique = sorted(set(runs_keys), key=lambda k: (key_hash(k), k))
    index_of = {k: i for i, k in enumerate(unique)}
    run_term = np.fromiter((index_of[k] for k in runs_keys), dtype=np.int64,
                           count=len(runs_keys))
    posting_term = np.repeat(run_term, counts)
    order = np.argsort(posting_term, kind="stable")
    doc_array = np.asarray(docs, dtype=np.int32)[order]
    tf_array = np.asarray(tfs, dtype=np.float32)[order]
    per_term = np.bincount(run_term, weights=counts, minlength=len(unique)).astype(np.int64)
    starts = np.zeros(len(unique) + 1, dtype=np.int64)
    np.cumsum(per_term, out=starts[1:])
    hashes = np.fromiter((key_hash(k) for k in unique), dtype=np.uint64, count=len(unique))
    key_starts = np.zeros(len(unique) + 1, dtype=np.int64)
    np.cumsum([len(k) for k in unique], out=key_starts[1:])
    blob = np.frombuffer(b"".join(unique), dtype=np.uint8)
    stats = {
        "version": VERSION,
        "doc_count_all": reader.doc_count_all(),
        "field_length": {f: reader.field_length(f) for f in TEXT_FIELDS},
        "has_deletions": bool(deleted.any()),
    }
    return {
        "hashes": hashes, "starts": starts, "docs": doc_array, "tfs": tf_array,
        "keys": blob, "key_starts": key_starts, "lengths": lengths, "deleted": deleted,
        "stats": stats,
    }


def write_columns(folder: str | Path) -> None:
    """Save the columns of the Whoosh index in `folder` (a new generation)."""
    folder = Path(folder)
    arrays = _read(folder)
    for name, value in arrays.items():
        if name != "stats":
            np.save(folder / f"{PREFIX}{name}.npy", value)
    # Written last: its presence says the arrays are complete.
    (folder / f"{PREFIX}stats.json").write_text(json.dumps(arrays["stats"]))


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
        stats_file = folder / f"{PREFIX}stats.json"
        if stats_file.exists():
            stats = json.loads(stats_file.read_text())
            if stats.get("version") == VERSION:
                arrays = {name: np.load(folder / f"{PREFIX}{name}.npy", mmap_mode="r")
                          for name in ("hashes", "starts", "docs", "tfs", "keys",
                                       "key_starts", "lengths", "deleted")}
                arrays["stats"] = stats
                return cls(arrays)
        # A generation from before the columns (or an older layout): read in memory.
        return cls(_read(folder))

    @classmethod
    def from_reader(cls, reader) -> Columns:
        return cls(_from_reader(reader))

    def _find(self, fieldname: str, text: str | bytes) -> int:
        key = term_key(fieldname, text)
        h = np.uint64(key_hash(key))
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

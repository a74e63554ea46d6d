"""The postings of the text fields (and, apart, of the names) as numpy
columns, saved beside each generation.

Whoosh scores one posting at a time in Python; a query over 100,000 pages
touches hundreds of thousands of postings. The same postings, copied once per
generation into flat arrays (document numbers and term frequencies, grouped
by term, plus every document's field lengths), let .scoring compute
the same BM25F for a whole posting list in one numpy step.

The columns are read from the finished Whoosh index, segment by segment, so
they hold exactly what Whoosh's scorer sees: document numbers, weights,
quantized field lengths, and the statistics (document frequency, document
count, total field length) that count deleted documents until their segment
is rewritten. Files are memory-mapped: the web workers of one machine share
one copy in the page cache.

Terms are found by a 64-bit hash of "field\\0term" (sorted, searched with
numpy), checked against the term's own bytes, so no per-process dictionary
of every term is needed. This module reads them from the index, a segment
at a time; .assembly puts a generation's together and writes them;
.postings reads them.
"""

from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path

import numpy as np
from whoosh import index as whoosh_index

from .positions import decoder
from .schema import NAME_FIELDS, TEXT_FIELDS


@dataclass(frozen=True)
class ColumnSet:
    """Fields kept as one set of columns: the generation's files (`prefix`),
    the segments' (`kind`), and the fields, in the order of their lengths' rows."""

    prefix: str
    kind: str
    fields: tuple[str, ...]


TEXT = ColumnSet("columns-", "columns.pickle", TEXT_FIELDS)
# Author and journal names, apart: their terms are not the words searched
# (the vocabulary, spelling, abbreviations read TEXT's keys), and a set
# missing from an older generation only leaves those fields to Whoosh, which
# took 25-35 ms for "author:Scott-Coombes" over the 130 segments of 100,000 pages.
NAMES = ColumnSet("names-", "names.pickle", NAME_FIELDS)
SETS = (TEXT, NAMES)
PREFIX = TEXT.prefix  # files beside the Whoosh files: columns-docs.npy, ...
VERSION = 1


def term_key(fieldname: str, text: str | bytes) -> bytes:
    raw = text.encode("utf-8") if isinstance(text, str) else text
    return fieldname.encode("ascii") + b"\0" + raw


def key_hash(key: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little")


def _read(folder: Path, fields: tuple[str, ...] = TEXT_FIELDS) -> dict[str, np.ndarray | dict]:
    """Every posting of `fields` of the Whoosh index in `folder`, read
    through one reader (the reference for write_columns' faster way)."""
    ix = whoosh_index.open_dir(str(folder))
    try:
        reader = ix.reader()
        try:
            return _from_reader(reader, fields)
        finally:
            reader.close()
    finally:
        ix.close()


def _from_reader(reader, fields: tuple[str, ...] = TEXT_FIELDS) -> dict:
    size = reader.doc_count_all()
    runs_keys: list[bytes] = []
    runs_counts: list[int] = []
    docs: list[int] = []
    tfs: list[float] = []
    lengths = np.zeros((len(fields), size), dtype=np.float32)
    deleted = np.zeros(size, dtype=bool)
    for sub, offset in _leaves(reader):
        for docnum in sub.deleted_docs_set if sub.has_deletions() else ():
            deleted[offset + docnum] = True
        for f, fieldname in enumerate(fields):
            if fieldname not in sub.schema:
                continue
            for docnum in range(sub.doc_count_all()):
                lengths[f, offset + docnum] = sub.doc_field_length(docnum, fieldname, 0) or 0
            for btext, ids, weights in _term_postings(sub, fieldname):
                runs_keys.append(term_key(fieldname, btext))
                runs_counts.append(len(ids))
                docs.extend([d + offset for d in ids] if offset else ids)
                tfs.extend(weights)
    field_length = {f: reader.field_length(f) for f in fields}
    return assemble(runs_keys, runs_counts, docs, tfs, lengths, deleted,
                    reader.doc_count_all(), field_length)


def _term_postings(sub, fieldname: str, positions: list | None = None):
    """(term, document numbers, weights) of every term of a field of one
    segment; each posting's positions appended to `positions` if given."""
    # Deleted documents' postings are kept (Whoosh counts them in document
    # frequencies); scoring leaves them out. So the segment's own matcher,
    # not postings(): its FilterMatcher skips deleted documents, the first
    # ones even in the matcher it wraps.
    terms, format_ = sub._terms, sub.schema[fieldname].format
    decode = decoder(format_) if positions is not None else None
    for btext in sub.lexicon(fieldname):
        matcher = terms.matcher(fieldname, btext, format_)
        ids, weights = _postings_of(matcher, positions, decode)
        yield btext, ids, weights


def _postings_of(matcher, positions: list | None = None,
                 decode=None) -> tuple[list[int], list[float]]:
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
            if positions is not None:
                matcher._read_values()
                for value in matcher._values[start:matcher._blocklength]:
                    positions.append(decode(value))
            matcher._next_block()
        return ids, weights
    ids, weights = [], []
    while matcher.is_active():
        ids.append(matcher.id())
        weights.append(matcher.weight())
        if positions is not None:
            positions.append(matcher.value_as("positions"))
        matcher.next()
    return ids, weights


def _leaves(reader):
    if reader.is_atomic():
        return [(reader, 0)]
    return reader.leaf_readers()


def assemble(runs_keys, runs_counts, docs, tfs, lengths, deleted, doc_count_all,
             field_length) -> dict:
    """The columns of postings given as runs (a key's postings from one segment)."""
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
    return arrays_of(hashes, starts, doc_array, tf_array, blob, key_starts, lengths, deleted,
                     doc_count_all, field_length)


def arrays_of(hashes, starts, docs, tfs, blob, key_starts, lengths, deleted, doc_count_all,
              field_length) -> dict:
    """The arrays and statistics a set of columns is saved as."""
    stats = {
        "version": VERSION,
        "doc_count_all": int(doc_count_all),
        "fields": list(field_length),  # the lengths' rows
        "field_length": {f: int(n) for f, n in field_length.items()},
        "has_deletions": bool(deleted.any()),
    }
    return {
        "hashes": hashes, "starts": starts, "docs": docs, "tfs": tfs,
        "keys": blob, "key_starts": key_starts, "lengths": lengths, "deleted": deleted,
        "stats": stats,
    }


# --- one segment at a time ----------------------------------------------------------
#
# A segment's postings never change (deletions live in the index's TOC), so
# each segment's columns are read once, when the segment is written, and saved
# beside it (generations.per_segment); an update hard-links them with the
# segment and reads only its new segment. A generation's columns are then
# put together from its segments' with numpy alone (.assembly).

SEGMENT_KIND = TEXT.kind


def segment_columns(sub, fields: tuple[str, ...] = TEXT_FIELDS) -> dict[str, np.ndarray]:
    """The columns of `fields` of one segment (a SegmentReader), deleted
    documents included, with document numbers counted from the segment's first."""
    size = sub.doc_count_all()
    keys: list[bytes] = []
    counts: list[int] = []
    docs: list[int] = []
    tfs: list[float] = []
    positions: list[list[int]] = []  # each posting's
    lengths = np.zeros((len(fields), size), dtype=np.float32)
    for f, fieldname in enumerate(fields):
        if fieldname not in sub.schema:
            continue
        for docnum in range(size):
            lengths[f, docnum] = sub.doc_field_length(docnum, fieldname, 0) or 0
        for btext, ids, weights in _term_postings(sub, fieldname, positions):
            keys.append(term_key(fieldname, btext))
            counts.append(len(ids))
            docs.extend(ids)
            tfs.extend(weights)
    # Positions are kept when each posting's count of them is its weight
    # (.positions finds where a posting's begin from the weights).
    kept = all(len(p) == w for p, w in zip(positions, tfs))
    return {
        **({"positions": np.fromiter((x for p in positions for x in p), dtype=np.int32,
                                     count=sum(map(len, positions)))} if kept else {}),
        "hashes": np.fromiter((key_hash(k) for k in keys), dtype=np.uint64, count=len(keys)),
        "counts": np.asarray(counts, dtype=np.int64),
        "key_lens": np.fromiter(map(len, keys), dtype=np.int64, count=len(keys)),
        "keys": np.frombuffer(b"".join(keys), dtype=np.uint8),
        "docs": np.asarray(docs, dtype=np.int32),
        "tfs": np.asarray(tfs, dtype=np.float32),
        "lengths": lengths,
        "field_length": np.asarray([sub.field_length(f) for f in fields], dtype=np.int64),
        "doc_count_all": np.asarray([size], dtype=np.int64),
    }


def save_segment(handle, arrays: dict) -> None:
    # A pickle of plain arrays loads twice as fast as an .npz (the index's
    # own TOC is a pickle too: the folder is trusted as much).
    pickle.dump({name: np.ascontiguousarray(a) for name, a in arrays.items()}, handle,
                protocol=5)


def load_segment(handle) -> dict:
    return pickle.load(handle)

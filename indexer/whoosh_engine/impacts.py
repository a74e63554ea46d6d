"""Each posting's BM25 term-frequency part, written once per generation.

A search scores a term's postings as (tf * (k1 + 1)) / (tf + norm[doc]) and
then multiplies by the term's idf. The first part depends only on the
posting, the document's field length and the generation's statistics, yet
over feedback's 60 terms computing it (a gather of the norms and four passes)
was an eighth of a lexical search at 100,000 pages. The build therefore
writes it for every posting, with the product's k1 and b, beside the
columns (columns-impacts.npy, 8 bytes a posting); a search with those
settings reads its slice, one with others (tuning) computes it. Both ways
run `saturate` on the same float64 values: the same bits.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

import numpy as np

# Postings computed at a time when the build writes them: bounds its memory.
CHUNK = 1 << 20


def length_norms(lengths: np.ndarray, k1: float, b: float, average: float) -> np.ndarray:
    """BM25's k1 * (1 - b + b * length / average) for every document's field length."""
    return k1 * ((1 - b) + b * lengths.astype(np.float64) / average)


def saturate(tfs: np.ndarray, norms: np.ndarray, k1: float) -> np.ndarray:
    """(tf * (k1 + 1)) / (tf + norm) per posting, `norms` being each posting's
    document's; `norms` (float64) is overwritten. In place: two passes fewer
    over a common word's postings, and the same bits."""
    tf = tfs.astype(np.float64)
    norms += tf
    tf *= k1 + 1
    tf /= norms
    return tf


def settings(k1: float, b: dict[str, float]) -> dict:
    """What a set of impacts was computed with (saved in its columns' stats)."""
    return {"k1": k1, "b": dict(sorted(b.items()))}


def field_of_terms(keys: np.ndarray, key_starts: np.ndarray,
                   fields: tuple[str, ...]) -> np.ndarray:
    """Each term's field, as its index in `fields` (-1 for none): a term's
    key is "field\\0term" (.columns.term_key), compared a byte at a time."""
    starts, lengths = key_starts[:-1], np.diff(key_starts)
    found = np.full(len(starts), -1, dtype=np.int8)
    for i, field in enumerate(fields):
        prefix = field.encode("ascii") + b"\0"
        match = lengths >= len(prefix)
        for j, byte in enumerate(prefix):
            at = np.minimum(starts + j, max(len(keys) - 1, 0))
            match &= keys[at] == byte
        found[match] = i
    return found


def write(handle: BinaryIO, columns, k1: float, b: dict[str, float]) -> None:
    """Every posting's term-frequency part over `columns` (a .postings.Columns),
    deleted documents' too, with `k1` and each field's `b`, as a .npy file
    written a chunk at a time: a build holds one chunk, not 8 bytes for every
    posting (124 MB at 100,000 pages)."""
    np.lib.format.write_array_header_1_0(handle, {
        "descr": np.lib.format.dtype_to_descr(np.dtype(np.float64)),
        "fortran_order": False, "shape": (len(columns.docs),)})
    for parts in _chunks(columns, k1, b):
        handle.write(parts.tobytes())


def _chunks(columns, k1: float, b: dict[str, float]) -> Iterator[np.ndarray]:
    fields = columns.fields
    norms = [length_norms(columns.lengths[f], k1, b[f], columns.avg_length(f) or 1)
             for f in fields]
    per_term = field_of_terms(columns.keys, columns.key_starts, fields)
    field_at = np.repeat(per_term, np.diff(columns.starts))
    for start in range(0, len(columns.docs), CHUNK):
        end = min(start + CHUNK, len(columns.docs))
        docs, field = columns.docs[start:end], field_at[start:end]
        below = np.zeros(end - start)
        for i, norm in enumerate(norms):
            here = field == i
            below[here] = norm.take(docs[here])
        yield saturate(columns.tfs[start:end], below, k1)

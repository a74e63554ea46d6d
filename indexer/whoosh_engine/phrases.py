"""Where a phrase's words stand together, read from the index's positions.

Reading positions costs a Python step per candidate document, so what was
found is kept twice: for the live generation as a whole (scoring.Engine's
`phrases`, one look-up per search), and per segment across generations
(`per_segment`): an update writes a new generation that keeps most of the
old one's segments, and a worker's first searches on it then read the
positions of its new segments only. A segment's documents never change and
its deletions only grow, so what held among its candidates once still
holds among the fewer candidates of a later generation.
"""

from __future__ import annotations

import numpy as np
from whoosh import query as wq

from .memory import Recent
from .postings import among


def phrase_documents(searcher, query: wq.Phrase, candidates: np.ndarray,
                     per_segment: Recent, read: dict | None = None) -> np.ndarray:
    """The `candidates` (ascending, each holding every word, none deleted)
    where the phrase's words stand in order (within its slop).

    `read` keeps the positions read for one search: a concept's forms, and
    each in either word order, share words and documents (20 phrases for
    "cervical myelopathy"), and decoding a block of positions is the cost.
    """
    read = {} if read is None else read
    key = (query.fieldname, tuple(query.words), query.slop)
    known = per_segment.get(key) or {}
    learned: dict[str, np.ndarray] = {}
    found = []
    for sub, offset in searcher.subsearchers or [(searcher, 0)]:
        lo, hi = np.searchsorted(candidates, [offset, offset + sub.doc_count_all()])
        if lo == hi:
            continue
        local = candidates[lo:hi] - offset
        segment = _segment_id(sub)
        where = known.get(segment)
        if where is None:
            where = np.array(_in_order(sub, query, local.tolist(), read), dtype=np.int64)
        else:
            where = where[among(where, local)]
        if segment is not None:
            learned[segment] = where
        found.append(where + offset)
    per_segment.put(key, learned)
    return np.concatenate(found) if found else np.zeros(0, dtype=np.int64)


def _segment_id(searcher) -> str | None:
    segment = getattr(searcher.reader(), "segment", None)
    return segment().segment_id() if segment is not None else None


def _in_order(searcher, query: wq.Phrase, docs: list[int], read: dict) -> list[int]:
    """Those of `docs` (a segment's) where the phrase's words stand in order."""
    if query.slop != 1:  # proximity: Whoosh's span matcher
        wanted = set(docs)
        return [d for d in query.docs(searcher) if d in wanted]
    return _adjacent(searcher.reader(), query, docs, read)


def _adjacent(reader, query: wq.Phrase, docs: list[int], read: dict) -> list[int]:
    """Those of `docs` (ascending, each holding every word) where the phrase's
    words stand side by side, read from the index's positions."""
    starts: dict[int, set[int]] = {}
    for i, word in enumerate(query.words):
        positions = _positions(reader, query.fieldname, word, docs, read)
        left = []
        for docnum in docs:
            found = positions.get(docnum)
            if found is None:
                continue
            here = set(found) if i == 0 else starts[docnum].intersection(p - i for p in found)
            if here:
                starts[docnum] = here
                left.append(docnum)
        docs = left
    return docs


def _positions(reader, fieldname: str, word: str, docs: list[int], read: dict) -> dict:
    """The positions of `word` in each of `docs` (ascending; None where it is
    not), from `read` or the postings."""
    known = read.setdefault((id(reader), fieldname, word), {})
    missing = [d for d in docs if d not in known]
    if missing:
        matcher = reader.postings(fieldname, reader.schema[fieldname].to_bytes(word))
        for docnum in missing:
            if matcher.is_active():
                matcher.skip_to(docnum)
            present = matcher.is_active() and matcher.id() == docnum
            known[docnum] = matcher.value_as("positions") if present else None
    return known

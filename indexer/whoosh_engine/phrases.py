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
              per_segment: Recent) -> np.ndarray:
    """The `candidates` (ascending, each holding every word, none deleted)
    where the phrase's words stand in order (within its slop)."""
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
            where = np.array(_in_order(sub, query, local.tolist()), dtype=np.int64)
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


def _in_order(searcher, query: wq.Phrase, docs: list[int]) -> list[int]:
    """Those of `docs` (a segment's) where the phrase's words stand in order."""
    if query.slop != 1:  # proximity: Whoosh's span matcher
        wanted = set(docs)
        return [d for d in query.docs(searcher) if d in wanted]
    return _adjacent(searcher.reader(), query, docs)


def _adjacent(reader, query: wq.Phrase, docs: list[int]) -> list[int]:
    """Those of `docs` (ascending, each holding every word) where the phrase's
    words stand side by side, read from the index's positions."""
    field = query.fieldname
    to_bytes = reader.schema[field].to_bytes
    matchers = [reader.postings(field, to_bytes(word)) for word in query.words]
    found = []
    for docnum in docs:
        starts: set[int] | None = None
        for i, matcher in enumerate(matchers):
            matcher.skip_to(docnum)
            if not matcher.is_active() or matcher.id() != docnum:
                starts = None
                break
            positions = matcher.value_as("positions")
            starts = ({p for p in positions} if i == 0
                      else starts.intersection(p - i for p in positions))
            if not starts:
                break
        if starts:
            found.append(docnum)
    return found

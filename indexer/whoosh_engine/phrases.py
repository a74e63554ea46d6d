"""Where a phrase's words stand together.

From the columns' positions (.positions) when the generation's columns hold
them: a few numpy steps per word. Otherwise, and for phrases with a slop,
from Whoosh's postings, a Python step per candidate document; the positions
read are then shared by a search's phrases.
"""

from __future__ import annotations

import numpy as np
from whoosh import query as wq

from .positions import adjacent


def phrase_documents(searcher, query: wq.Phrase, candidates: np.ndarray,
                     read: dict | None = None, columns=None, span=None) -> np.ndarray:
    """The `candidates` (ascending, each holding every word, none deleted)
    where the phrase's words stand in order (within its slop).

    From the `columns`' positions when they hold them (`span(word)`: where a
    word's postings are), else from Whoosh's postings: `read` then keeps the
    positions read for one search, as a concept's forms, and each in either
    word order, share words and documents (20 phrases for "cervical
    myelopathy"), and decoding a block of positions is the cost.
    """
    if query.slop == 1 and columns is not None and columns.positions is not None:
        return adjacent(columns, span, query.words, candidates)
    read = {} if read is None else read
    found = [np.zeros(0, dtype=np.int64)]
    for sub, offset in searcher.subsearchers or [(searcher, 0)]:
        lo, hi = np.searchsorted(candidates, [offset, offset + sub.doc_count_all()])
        if lo < hi:
            local = (candidates[lo:hi] - offset).tolist()
            found.append(np.array(_in_order(sub, query, local, read), dtype=np.int64) + offset)
    return np.concatenate(found)


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

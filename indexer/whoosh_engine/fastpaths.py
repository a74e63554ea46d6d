"""The set of documents a filter query lets through, from whole posting blocks.

Filters (year range, journal, MeSH keyword) are Whoosh queries over
non-text fields; Whoosh would step a tree of matchers one document at a
time. `match_set` reads each term's posting blocks whole and combines the
per-term sets with set operations, falling back to Whoosh for any query type
it does not know (tests/test_scoring.py compares it with Whoosh).
"""

from __future__ import annotations

from itertools import accumulate

from whoosh import query as wq
from whoosh.codec.whoosh3 import W3LeafMatcher
from whoosh.reading import TermNotFound

# Filter masks remembered per reader (a results page's facet links repeat a few).
FILTERS_KEPT = 256


def leaf_ids(matcher) -> list[int]:
    """Every document number of a fresh postings matcher, read a block at a time."""
    if type(matcher) is not W3LeafMatcher or matcher._byteids:
        return list(matcher.all_ids())
    ids: list[int] = []
    while not matcher._atend and matcher._i < matcher._blocklength:
        if matcher._data is None:
            matcher._read_data()
        block = accumulate(matcher._data[0])  # the block's delta-coded ids
        ids.extend(block if matcher._i == 0 else list(block)[matcher._i:])
        matcher._next_block()
    return ids


def _term_docs(reader, query: wq.Term) -> set[int]:
    try:
        if (query.fieldname, query.text) not in reader:
            return set()
        return set(leaf_ids(reader.postings(query.fieldname, query.text)))
    except TermNotFound:
        return set()


def match_set(searcher, query: wq.Query) -> set[int]:
    """The document numbers `query` matches (what `query.docs(searcher)` yields)."""
    if not searcher.subsearchers:
        return _docs(searcher, searcher.reader(), query)
    found: set[int] = set()
    for sub, offset in searcher.subsearchers:  # one per segment
        docs = _docs(sub, sub.reader(), query)
        found.update([d + offset for d in docs] if offset else docs)
    return found


def _docs(searcher, reader, query: wq.Query) -> set[int]:
    kind = type(query)
    if kind is wq.Term:
        return _term_docs(reader, query)
    if isinstance(query, wq.Or) and not query.minmatch and query.subqueries:
        found: set[int] = set()
        for sub in query.subqueries:
            found |= _docs(searcher, reader, sub)
        return found
    if kind is wq.And and query.subqueries:
        positive = [s for s in query.subqueries if type(s) is not wq.Not]
        negative = [s.query for s in query.subqueries if type(s) is wq.Not]
        if positive:
            sets = sorted((_docs(searcher, reader, s) for s in positive), key=len)
            found = sets[0].intersection(*sets[1:])
            for sub in negative:
                if found:
                    found -= _docs(searcher, reader, sub)
            return found
    if kind is wq.AndMaybe:
        return _docs(searcher, reader, query.a)
    if kind is wq.AndNot:
        found = _docs(searcher, reader, query.a)
        return found - _docs(searcher, reader, query.b) if found else found
    return set(query.docs(searcher))


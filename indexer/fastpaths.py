"""Cheaper ways to compute what Whoosh computes, with the same answers.

Two costs dominated a results page at 20,000 pages and more (see
bench/RESULTS.md and docs/benchmarks.md):

- `terms=True` (which the highlighter needs to mark the words each hit
  matched) records the matched terms of *every* scored document, a Python
  loop over every term matcher per document. `search_with_terms` records them
  only for the documents that enter the top-N heap; the hits shown are among
  those, and each one's terms are recorded at the same moment with the same
  matcher state as before, so its snippet is unchanged.
- The facet counts and the total need the set of every match. Whoosh
  gathers it by stepping a tree of union matchers one document at a time;
  `match_set` reads each term's posting blocks whole and combines the
  per-term sets with C-speed set operations, falling back to Whoosh for any
  query type it does not know.

tests/test_search_perf_equivalence.py checks both against Whoosh's own ways.
"""

from __future__ import annotations

from itertools import accumulate

from whoosh import query as wq
from whoosh.codec.whoosh3 import W3LeafMatcher
from whoosh.collectors import FilterCollector, TermsCollector, TopCollector
from whoosh.reading import TermNotFound


# --- the matched terms, for the hits on the page ----------------------------------

class HeapTermsCollector(TermsCollector):
    """A TermsCollector around a TopCollector that records the matched terms only
    of documents entering the top-N heap (a hit shown was one of them)."""

    def collect(self, sub_docnum: int):
        top = self.child
        items = top.items
        size, root = len(items), items[0] if items else None
        top.collect(sub_docnum)
        if len(items) == size and items[0] is root:
            return  # not in the top N: its terms can never be shown
        global_docnum = top.offset + sub_docnum
        for tm in self.termmatchers:
            if tm.is_active() and tm.id() == sub_docnum:
                term = tm.term()
                self.termdocs[term].append(global_docnum)
                self.docterms[global_docnum].append(term)


def search_with_terms(searcher, query, **kwargs):
    """`searcher.search(query, terms=True, **kwargs)`, recording terms only for the top N.

    Whoosh's own TermsCollector is kept where every document is collected
    anyway (sorted or unlimited searches).
    """
    collector = searcher.collector(**kwargs)
    outer, inner = None, collector
    if isinstance(inner, FilterCollector):
        outer, inner = inner, inner.child
    wrapped = HeapTermsCollector(inner) if type(inner) is TopCollector else TermsCollector(inner)
    if outer is None:
        collector = wrapped
    else:
        outer.child = wrapped
    searcher.search_with_collector(query, collector)
    return collector.results()


# --- the set of every match ---------------------------------------------------------

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


def filtered_match_set(searcher, query: wq.Query, restrict) -> set[int]:
    """The matches of `query` that pass the filter `restrict` (a query, a set or None)."""
    found = match_set(searcher, query)
    if restrict is not None and found:
        found &= restrict if isinstance(restrict, set) else match_set(searcher, restrict)
    return found


# --- per-reader memory: a reader is one generation's, and never changes -------------

FILTERS_KEPT = 256
FREQUENCIES_KEPT = 500_000


def filter_set(searcher, restrict: wq.Query | None) -> set[int] | None:
    """The documents passing the filter `restrict`, as the set Whoosh would make of it.

    Whoosh turns a filter query into this set on every search (and the
    feedback pass, the ranked pass and the facet counts each did it again);
    the facet links of a results page repeat a few filters, so the sets are
    remembered per reader. Callers must not change the set.
    """
    if restrict is None:
        return None
    reader = searcher.reader()
    cache = reader.__dict__.setdefault("_medsearch_filters", {})
    found = cache.get(restrict)
    if found is None:
        if len(cache) >= FILTERS_KEPT:
            cache.clear()
        found = cache[restrict] = match_set(searcher, restrict)
    return found


def doc_frequency(reader, fieldname: str, text) -> int:
    """`reader.doc_frequency(fieldname, text)`, remembered per reader.

    Over a multi-segment index each look-up asks every segment; feedback asks
    for hundreds of terms per search, mostly the same ones.
    """
    cache = reader.__dict__.setdefault("_medsearch_df", {})
    key = (fieldname, text)
    df = cache.get(key)
    if df is None:
        if len(cache) >= FREQUENCIES_KEPT:
            cache.clear()
        df = cache[key] = reader.doc_frequency(fieldname, text)
    return df


def matches_any(searcher, query: wq.Query, results, restrict: wq.Query | None) -> bool:
    """`len(results) > 0` for `results` of `query` filtered by `restrict`,
    without len()'s full re-run of the query.

    Whoosh's len() is the filtered count when the collector counted as it
    went, else the query's matches ignoring the filter: a hit in `results`
    settles it; with no hit, only the second kind can be non-zero, and the
    match set (without the filter) answers it.
    """
    if not results.is_empty():
        return True
    if restrict is None or results.collector is None or results.collector.computes_count():
        return False
    return bool(match_set(searcher, query))

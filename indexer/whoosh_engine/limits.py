"""Bounds on what one search may cost, so that no query holds a worker long.

- Wildcard, prefix and range terms expand to at most MAX_EXPANSION index
  terms (the most frequent of those matching), found by looking at no more
  than MAX_SCAN terms of the field; a pattern needs MIN_LITERAL letters
  besides its wildcards (`*itis` is fine, `a*` or `*a` is too broad).
- A fuzzy word (`spine~2`) allows at most MAX_EDITS edits and expands, like
  a wildcard, to MAX_EXPANSION terms, the closest first.
- A query holds at most MAX_PATTERNS wildcard, prefix, range and fuzzy terms, and
  at most MAX_OPEN_PATTERNS of them may start with a wildcard (each reads
  the field's whole word list while the process's other searches wait):
  a costlier query is refused before it runs.
- Parentheses nest at most MAX_DEPTH deep; boosts are capped at MAX_BOOST.
  (MIN_LITERAL, MAX_PATTERNS, MAX_OPEN_PATTERNS, MAX_DEPTH and MAX_BOOST are in
  indexer.query.text: the Solr engine refuses the same queries in the same words.)
- A search stops TIME_LIMIT seconds after it was asked for, the wait for
  its turn included (indexer.turns), with a QueryError; where threads share
  a searcher (the web workers), also TURN_LIMIT seconds after its turn began.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from itertools import islice

from rapidfuzz import process
from rapidfuzz.distance import OSA
from whoosh import query as wq
from whoosh.collectors import ScoredCollector, WrappingCollector
from whoosh.query.ranges import TermRange
from whoosh.searching import Searcher, TimeLimit

from ..errors import QueryError
from ..query.text import MAX_BOOST, MIN_LITERAL, check_patterns, too_broad

MAX_EXPANSION = 64
MAX_SCAN = 50_000
MAX_EDITS = 2  # as Lucene: more edits match nearly any word
AUTO_EDITS = -1  # `spine~`: 0 edits up to 2 letters, 1 up to 5, else 2 (Elasticsearch's AUTO)
TIME_LIMIT = 3.0  # seconds
TURN_LIMIT = 0.5  # seconds a web request's search may keep the others waiting
# Spelling suggestions: words looked up per query, and the longest looked up.
MAX_SUGGEST_WORDS = 8
MAX_SUGGEST_CHARS = 30

_WILDCARDS = re.compile(r"[*?]")


# --- term expansion ------------------------------------------------------------

def _capped(reader, fieldname: str, btexts: Iterable[bytes]) -> list[bytes]:
    """At most MAX_EXPANSION of `btexts`: the ones in the most documents."""
    found = list(islice(btexts, MAX_SCAN))
    if len(found) > MAX_EXPANSION:
        found.sort(key=lambda b: -reader.doc_frequency(fieldname, b))
        found = sorted(found[:MAX_EXPANSION])
    return found


class BoundedWildcard(wq.Wildcard):
    """A Wildcard that scans at most MAX_SCAN terms and expands to MAX_EXPANSION."""

    def _btexts(self, ixreader) -> Iterator[bytes]:
        pattern = re.compile(self._get_pattern())
        prefix = self._find_prefix(self.text)
        if prefix:
            candidates = ixreader.expand_prefix(self.fieldname, prefix)
        else:
            candidates = ixreader.lexicon(self.fieldname)
        from_bytes = ixreader.schema[self.fieldname].from_bytes
        matching = (b for b in islice(candidates, MAX_SCAN) if pattern.match(from_bytes(b)))
        return iter(_capped(ixreader, self.fieldname, matching))


class BoundedPrefix(wq.Prefix):
    def _btexts(self, ixreader) -> Iterator[bytes]:
        return iter(_capped(ixreader, self.fieldname, super()._btexts(ixreader)))


class BoundedTermRange(TermRange):
    def _btexts(self, ixreader) -> Iterator[bytes]:
        return iter(_capped(ixreader, self.fieldname, super()._btexts(ixreader)))


class BoundedFuzzy(wq.FuzzyTerm):
    """A FuzzyTerm over the field's own (stemmed) terms: at most MAX_SCAN looked
    at, MAX_EXPANSION kept (the closest, then the most frequent); a swap of
    two letters is one edit, as in indexer.spelling."""

    def _btexts(self, ixreader) -> Iterator[bytes]:
        edits = self.maxdist
        if edits == AUTO_EDITS:
            edits = 0 if len(self.text) <= 2 else 1 if len(self.text) <= 5 else 2
        edits = max(0, min(edits, MAX_EDITS))
        field = ixreader.schema[self.fieldname]
        prefix = self.text[:self.prefixlength]
        words = [field.from_bytes(b) for b in islice(
            ixreader.expand_prefix(self.fieldname, prefix), MAX_SCAN)]
        found = process.extract(self.text, words, scorer=OSA.distance,
                                score_cutoff=edits, limit=None)
        found.sort(key=lambda match: (match[1], -ixreader.doc_frequency(
            self.fieldname, field.to_bytes(match[0]))))
        return iter(sorted(field.to_bytes(word) for word, _, _ in found[:MAX_EXPANSION]))


_BOUNDED = {wq.Wildcard: BoundedWildcard, wq.Prefix: BoundedPrefix, TermRange: BoundedTermRange,
            wq.FuzzyTerm: BoundedFuzzy}


def bound(query: wq.Query) -> wq.Query:
    """Bound the expensive parts of a freshly parsed query, in place; returns it."""
    bounded = _BOUNDED.get(type(query))
    if bounded is not None:
        if bounded in (BoundedWildcard, BoundedPrefix):
            _check_pattern(query.text, bounded is BoundedPrefix)
        query.__class__ = bounded
        if bounded is BoundedFuzzy:
            query.constantscore = False  # ranked by BM25 of the words found, as a plain word
    if getattr(query, "boost", 1.0) > MAX_BOOST:  # incl. inf (spine^1e400)
        query.boost = MAX_BOOST
    for sub in getattr(query, "subqueries", None) or ():
        bound(sub)
    for name in ("a", "b", "child", "query"):
        sub = getattr(query, name, None)
        if isinstance(sub, wq.Query):
            bound(sub)
    return query


def _check_pattern(text: str, prefix: bool) -> None:
    literal = len(_WILDCARDS.sub("", text))
    if literal < MIN_LITERAL:
        raise too_broad(text + "*" if prefix else text)


def check_cost(query: wq.Query) -> wq.Query:
    """Refuse a bounded query with more patterns than a search may expand; returns it."""
    check_patterns(set(_patterns(query)))  # one per field each: count the texts
    return query


def _patterns(query: wq.Query) -> Iterator[tuple[str, bool]]:
    """(text, starts with letters) of each wildcard, prefix, range and fuzzy term in `query`."""
    if isinstance(query, BoundedWildcard):
        yield query.text, bool(query._find_prefix(query.text))
    elif isinstance(query, BoundedPrefix):
        yield query.text + "*", True
    elif isinstance(query, BoundedTermRange):
        yield f"[{query.start} TO {query.end}]", True
    elif isinstance(query, BoundedFuzzy):  # scans up to MAX_SCAN words, in C
        yield f"{query.text}~{query.maxdist}", True
    for sub in getattr(query, "subqueries", None) or ():
        yield from _patterns(sub)
    for name in ("a", "b", "child", "query"):
        sub = getattr(query, name, None)
        if isinstance(sub, wq.Query):
            yield from _patterns(sub)


# --- the time limit -----------------------------------------------------------------

_clock = threading.local()


class DeadlineCollector(WrappingCollector):
    """Raises TimeLimit once the thread's search deadline has passed."""

    def __init__(self, child, deadline: float):
        super().__init__(child)
        self.deadline = deadline

    def collect_matches(self) -> None:
        child, deadline, clock = self.child, self.deadline, time.monotonic
        for sub_docnum in child.matches():
            if clock() > deadline:
                raise TimeLimit
            child.collect(sub_docnum)


class BoundedSearcher(Searcher):
    """A Searcher whose searches stop at the deadline set by `timed`."""

    def search_with_collector(self, q, collector, context=None) -> None:
        _without_matcher_replacement(collector)
        deadline = getattr(_clock, "deadline", None)
        if deadline is not None:
            if time.monotonic() > deadline:
                raise TimeLimit
            collector = DeadlineCollector(collector, deadline)
        super().search_with_collector(q, collector, context)

    def field_length(self, fieldname) -> int:
        """Whoosh's total length of a field, remembered: the scorer of each
        segment asks for the whole index's, which sums every segment (100 at
        100,000 pages), so a term in half of them cost 5,000 look-ups."""
        if self.has_parent():
            return self.get_parent().field_length(fieldname)
        known = self.__dict__.setdefault("_field_lengths", {})
        if fieldname not in known:
            known[fieldname] = self.reader().field_length(fieldname)
        return known[fieldname]


def _without_matcher_replacement(collector) -> None:
    """Turn off Whoosh's mid-search matcher replacement in `collector`'s chain.

    In whoosh3 3.54, replacing a union by a cheaper matcher once the top N
    fill up drops the OR coordination bonus, so a limited search scored some
    documents lower than an unlimited one and ranked them out of order
    (tests/test_demo.py).
    """
    while collector is not None:
        if isinstance(collector, ScoredCollector):
            collector.replace = 0
        collector = getattr(collector, "child", None)


def searcher(ix, **kwargs) -> BoundedSearcher:
    """A searcher on `ix` that honours the time limit."""
    return BoundedSearcher(ix.reader(), fromindex=ix, **kwargs)


@contextmanager
def deadline(seconds: float):
    """Searches in this thread stop `seconds` from now (nested: the outer one wins)."""
    if getattr(_clock, "deadline", None) is not None:
        yield
        return
    _clock.deadline = time.monotonic() + seconds
    _clock.stopped_after = None
    try:
        yield
    except TimeLimit:
        if _clock.stopped_after is not None:
            seconds = _clock.stopped_after
        raise QueryError(
            f"the search took longer than {seconds:g} s and was stopped: "
            "try more specific words or fewer wildcards") from None
    finally:
        _clock.deadline = None


@contextmanager
def narrowed(seconds: float | None):
    """Within the block, this thread's deadline is at most `seconds` away (None: as it is)."""
    before = getattr(_clock, "deadline", None)
    soon = None if seconds is None else time.monotonic() + seconds
    if soon is None or (before is not None and before <= soon):
        yield
        return
    _clock.deadline = soon
    try:
        yield
    except TimeLimit:
        _clock.stopped_after = seconds  # the message names the limit that stopped it
        raise
    finally:
        _clock.deadline = before


def time_left() -> float | None:
    """Seconds until this thread's deadline (negative once past), or None without one."""
    deadline = getattr(_clock, "deadline", None)
    return None if deadline is None else deadline - time.monotonic()


def check_time() -> None:
    """Stop a search whose deadline has passed (between costly steps)."""
    deadline = getattr(_clock, "deadline", None)
    if deadline is not None and time.monotonic() > deadline:
        raise TimeLimit

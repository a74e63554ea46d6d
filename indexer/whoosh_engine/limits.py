"""Bounds on what one search may cost, so that no query holds a worker long.

- Wildcard, prefix and range terms expand to at most MAX_EXPANSION index
  terms (the most frequent of those matching), found by looking at no more
  than MAX_SCAN terms of the field; a pattern needs MIN_LITERAL letters
  besides its wildcards (`*itis` is fine, `a*` or `*a` is too broad).
- Parentheses nest at most MAX_DEPTH deep; boosts are capped at MAX_BOOST.
- A search stops after TIME_LIMIT seconds with a QueryError.
"""

from __future__ import annotations

import functools
import re
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from itertools import islice

from whoosh import query as wq
from whoosh.collectors import ScoredCollector, WrappingCollector
from whoosh.query.ranges import TermRange
from whoosh.searching import Searcher, TimeLimit

from ..errors import QueryError

MAX_EXPANSION = 64
MAX_SCAN = 50_000
MIN_LITERAL = 2
MAX_DEPTH = 20
MAX_BOOST = 100.0
TIME_LIMIT = 3.0  # seconds
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


_BOUNDED = {wq.Wildcard: BoundedWildcard, wq.Prefix: BoundedPrefix, TermRange: BoundedTermRange}


def bound(query: wq.Query) -> wq.Query:
    """Bound the expensive parts of a freshly parsed query, in place; returns it."""
    bounded = _BOUNDED.get(type(query))
    if bounded is not None:
        if bounded is not BoundedTermRange:
            _check_pattern(query.text, bounded is BoundedPrefix)
        query.__class__ = bounded
    if getattr(query, "boost", 1.0) > MAX_BOOST:
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
        shown = text + "*" if prefix else text
        raise QueryError(
            f"'{shown}' is too broad: give a wildcard at least {MIN_LITERAL} letters "
            "besides * and ? (e.g. spin* or *itis)")


def check_nesting(text: str) -> None:
    """Refuse parentheses nested deeper than MAX_DEPTH (Whoosh recurses on them)."""
    depth = deepest = 0
    for char in text:
        if char == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif char == ")" and depth:
            depth -= 1
    if deepest > MAX_DEPTH:
        raise QueryError(f"parentheses are nested {deepest} deep; at most {MAX_DEPTH} are allowed")


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
    try:
        yield
    except TimeLimit:
        raise QueryError(
            f"the search took longer than {seconds:g} s and was stopped: "
            "try more specific words or fewer wildcards") from None
    finally:
        _clock.deadline = None


def timed(method):
    """Decorate an Index method: it runs under the index's time limit."""
    @functools.wraps(method)
    def run(self, *args, **kwargs):
        with deadline(getattr(self, "time_limit", TIME_LIMIT)):
            return method(self, *args, **kwargs)
    return run


def check_time() -> None:
    """Stop a search whose deadline has passed (between costly steps)."""
    deadline = getattr(_clock, "deadline", None)
    if deadline is not None and time.monotonic() > deadline:
        raise TimeLimit

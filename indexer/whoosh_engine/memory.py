"""What the Whoosh engine keeps per generation: tables read once (facet
values, the vocabulary) and memories of recent work (searches ranked, the
queries they decided on, spelling look-ups), each dropped with its
generation; facet values are also kept per segment (facets.Coded). A
search remembered gives the Results a first search gives
(tests/test_query_memory.py): what it depends on is in its key, and the
generation's documents do not change.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import NamedTuple

import numpy as np

CORRECTIONS_KEPT = 20_000  # spelling look-ups remembered per generation (each an LRU)
# Searches remembered per generation, twice over: the query each decided on
# (after feedback and any spelling fallback, a few kB) and its ranked hits.
QUERIES_KEPT = 512
# Ranked searches are remembered only this deep: a page past the 100th of
# ten is asked for rarely and weighs the most.
DEEPEST_KEPT = 1000


class Ranked(NamedTuple):
    """A search's first hits in order, and what its every page shows besides."""

    docs: np.ndarray
    scores: np.ndarray
    parts: list  # what each score is made of (indexer.semantic.rerank.reorder)
    total: int
    facets: dict
    suggestion: str | None
    expansions: list
    note: str  # why the semantic rerank is off, "" when it ran or was not asked for
    words: frozenset  # the abstract's words to mark in snippets


class PerGeneration:
    """Named tables, each loaded once per generation and shared by a process's threads."""

    def __init__(self):
        self._tables: dict[str, tuple[Path, object]] = {}  # name -> (generation, table)
        self._lock = threading.Lock()
        # Kept across generations, by segment: an update keeps most segments.
        self.segment_facets: dict = {}  # segment id -> facets.Coded

    def table(self, name: str, generation: Path, load):
        """The table `name` of `generation`, `load(generation)` the first time."""
        cached = self._tables.get(name)
        if cached is None or cached[0] != generation:
            with self._lock:  # one thread reads the table, the others wait
                cached = self._tables.get(name)
                if cached is None or cached[0] != generation:
                    cached = self._tables[name] = (generation, load(generation))
        return cached[1]


class Recent:
    """The most recently used values of one generation (an LRU), shared by the
    threads of a process: phrase documents (as Lucene keeps recent clauses'
    documents: the same synonym phrases come back with every search for a
    lay term), feedback documents' analysed terms, spelling look-ups and
    searches."""

    def __init__(self, size: int = 4096):
        self.size = size
        self._docs: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key) -> np.ndarray | None:
        with self._lock:
            docs = self._docs.get(key)
            if docs is not None:
                self._docs.move_to_end(key)
            return docs

    def clear(self) -> None:
        with self._lock:
            self._docs.clear()

    def put(self, key, docs: np.ndarray) -> np.ndarray:
        with self._lock:
            self._docs[key] = docs
            if len(self._docs) > self.size:
                self._docs.popitem(last=False)
        return docs

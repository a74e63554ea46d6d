"""Word positions as numpy columns: phrases found without reading postings.

Whoosh keeps a posting's positions in a pickled list inside a compressed
block, so finding a phrase in 15,000 candidate documents decoded thousands of
blocks in Python (half a second for a concept at 100,000 pages). The
columns (.columns) also hold, in the order of their postings, each
posting's positions; a phrase is then one vectorized step per word.

A posting's weight is its count of positions (Whoosh's Positions and
Characters formats, field boost 1), so a posting's positions start where
the counts before it in its term's run end: the columns store only where
each term's positions begin.
"""

from __future__ import annotations

from itertools import accumulate
from pickle import loads

import numpy as np
from whoosh.formats import Characters, Positions

# A key per (candidate, where its phrase would start): candidate * STRIDE + start.
STRIDE = 1 << 32
# A posting's value: its count of positions (4 bytes), then the pickled deltas.
_COUNT_BYTES = 4


def decoder(format_):
    """A posting's value -> its positions, as format_.decoder("positions")
    gives them, without Whoosh's per-position Python loop."""
    if type(format_) is Positions:
        return lambda value: list(accumulate(loads(_stopped(value)[_COUNT_BYTES:])))
    if type(format_) is Characters:
        return lambda value: list(accumulate(
            code[0] for code in loads(_stopped(value)[_COUNT_BYTES:])))
    return format_.decoder("positions")


def _stopped(value: bytes) -> bytes:
    return value if value.endswith(b".") else value + b"."  # as Whoosh decodes


def adjacent(columns, span, words, candidates: np.ndarray) -> np.ndarray:
    """Those of `candidates` (ascending, each holding every word) where
    `words` stand side by side, from the columns' positions; `span(word)` is
    where a word's postings are (scoring.Engine._span)."""
    keys = None
    for i, word in enumerate(words):
        start, end = span(word)
        counts = columns.tfs[start:end].astype(np.int64)
        first = columns.pos_starts[columns.term_at(start)] + np.cumsum(counts) - counts
        at = np.searchsorted(columns.docs[start:end], candidates)
        found = gather_runs(columns.positions, first[at], counts[at]).astype(np.int64)
        owner = np.repeat(np.arange(len(candidates), dtype=np.int64), counts[at])
        here = owner * STRIDE + (found - i)
        keys = here if keys is None else np.intersect1d(keys, here, assume_unique=True)
        if not len(keys):
            return np.zeros(0, dtype=np.int64)
    return candidates[np.unique(keys // STRIDE)].astype(np.int64)


def gather_runs(source: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """source[starts[0]:starts[0] + lengths[0]] + source[starts[1]:...] + ...,
    in one gather (a posting's positions here, a match's codes in .facets)."""
    at = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(lengths.sum())
    return source[at]

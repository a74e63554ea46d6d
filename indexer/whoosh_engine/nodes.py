"""What .scoring's evaluation of a (sub)query gives, and how nodes combine."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Node:
    """The documents a (sub)query matches, ascending, with their scores and matched-term counts."""

    docs: np.ndarray  # int64
    scores: np.ndarray  # float64
    counts: np.ndarray  # int32: leaf terms matched in each document
    terms: int  # leaf terms of the query present in the index (coordination)
    single: bool = False  # one leaf matched each document: counts are all 1

    def __len__(self) -> int:
        return len(self.docs)


NO_DOCS = np.zeros(0, dtype=np.int64)
EMPTY = Node(NO_DOCS, np.zeros(0), np.zeros(0, dtype=np.int32), 0)


def passing(node: Node, restrict: np.ndarray | None) -> Node:
    """`node` with only the documents where the boolean array `restrict` is true."""
    if restrict is None or not len(node):
        return node
    keep = restrict[node.docs]
    return Node(node.docs[keep], node.scores[keep], node.counts[keep], node.terms)


def without(node: Node, docs: np.ndarray) -> Node:
    """`node` without `docs` (a NOT: Whoosh's AndNot)."""
    if not len(docs):
        return node
    keep = ~np.isin(node.docs, docs, assume_unique=True)
    return Node(node.docs[keep], node.scores[keep], node.counts[keep], node.terms)


def and_maybe(required: Node, optional: Node, size: int) -> Node:
    """`required` with `optional`'s scores and counts added where it matches
    too (Whoosh's AndMaybe), over an index of `size` documents."""
    if not len(required) or not len(optional):
        return Node(required.docs, required.scores, required.counts,
                    required.terms + optional.terms)
    if len(required) * 16 > len(optional) + size // 8:
        # Many to look up (the user's words in feedback's clause): spread
        # the optional side over the index, where a binary search each
        # costs more. Absent, it adds 0.0, as below.
        spread = np.zeros(size)
        spread[optional.docs] = optional.scores
        scores = required.scores + spread[required.docs]
        counted = np.zeros(size, dtype=np.int32)
        counted[optional.docs] = optional.counts
        counts = required.counts + counted[required.docs]
    else:
        at = np.searchsorted(optional.docs, required.docs)
        at[at == len(optional.docs)] = 0
        found = optional.docs[at] == required.docs
        scores = required.scores + np.where(found, optional.scores[at], 0.0)
        counts = required.counts + np.where(found, optional.counts[at], 0)
    return Node(required.docs, scores, counts.astype(np.int32),
                required.terms + optional.terms)


def union(children: list[Node], size: int) -> Node:
    """The children's documents, each once, their scores and counts summed
    in the children's order (Whoosh's Or), over an index of `size` documents."""
    terms = sum(c.terms for c in children)
    live = [c for c in children if len(c)]
    if not live:
        return Node(NO_DOCS, np.zeros(0), np.zeros(0, dtype=np.int32), terms)
    if len(live) == 1:
        only = live[0]
        return Node(only.docs, only.scores.copy(), only.counts, terms, only.single)
    docs = np.concatenate([c.docs for c in live])
    scores = np.concatenate([c.scores for c in live])
    # Leaves (feedback's 60 terms) match once each: a document's count is how
    # many hold it, and their counts need not be gathered and summed.
    leaves = all(c.single for c in live)
    counts = None if leaves else np.concatenate([c.counts for c in live])
    if len(docs) * 8 < size:
        # Few postings: sort them rather than sweep the whole index.
        order = np.argsort(docs, kind="stable")
        docs, scores = docs[order], scores[order]
        first = np.flatnonzero(np.r_[True, docs[1:] != docs[:-1]])
        counted = (np.diff(np.r_[first, len(docs)]) if leaves
                   else np.add.reduceat(counts[order], first))
        return Node(docs[first], np.add.reduceat(scores, first), counted.astype(np.int32), terms)
    return swept(docs, scores, size, terms, counts)


def swept(docs: np.ndarray, scores: np.ndarray, size: int, terms: int,
          counts: np.ndarray | None = None) -> Node:
    """union's sweep over the index: each document's `scores` summed in
    array order; its count is `counts` summed, or (leaves) how many hold it."""
    present = np.bincount(docs, minlength=size)
    where = np.flatnonzero(present != 0)  # a boolean's: 3x faster than an integer array's
    summed = np.bincount(docs, weights=scores, minlength=size)[where]
    counted = (present[where] if counts is None
               else np.bincount(docs, weights=counts, minlength=size)[where])
    return Node(where, summed, counted.astype(np.int32), terms)

"""Mixing the lexical score with the meaning: the lexical top candidates, reordered.

Over the first `depth` lexical hits, each hit's score becomes its lexical
score over the best one's (so 1.0 at the top) plus `weight` times the
cosine of its vector with the query's (negative cosines count as 0: a
document is not pushed below the unmixed ones past `depth`). A document
without a vector gets the lexical part alone. Hits past `depth` keep their
lexical order below, with their normalised lexical score, so the scores
still fall from the first hit to the last.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

_WEIGHED = re.compile(r"\S[\^~]")  # word^2 (a boost), word~1 (similar spellings)


def reranked(text: str) -> bool:
    """Whether the semantic rerank applies to a query: not when it weighs its
    own words (spine^2) or asks for spellings by edits (spine~2): the user
    then says how to rank, and is ranked as written. Quotes, fields and
    operators say what to match, and what they match is reranked."""
    return not _WEIGHED.search(text)


class Parts(Sequence):
    """What each hit's score is made of ({"words": ...}, and "meaning" where
    the rerank added to it), made when a hit is read: a search ranks a
    hundred hits for its reranking and shows ten."""

    def __init__(self, words, meaning=None):
        self._words = np.asarray(words, dtype=np.float64)
        self._meaning = meaning  # per hit, NaN where it was not reranked; None: none was

    def __len__(self) -> int:
        return len(self._words)

    def __getitem__(self, at):
        found = range(len(self._words))[at]
        return [self._part(i) for i in found] if isinstance(found, range) else self._part(found)

    def _part(self, i: int) -> dict[str, float]:
        part = {"words": round(float(self._words[i]), 4)}
        if self._meaning is not None and not np.isnan(self._meaning[i]):
            part["meaning"] = round(float(self._meaning[i]), 4)
        return part


def words_only(scores) -> Parts:
    """What each score is made of when nothing was reranked: the words alone."""
    return Parts(scores)


def reorder(scores, cosines, weight: float, depth: int, normalise: str = "max"
            ) -> tuple[np.ndarray, np.ndarray, Parts]:
    """`mix`, with what each mixed score is made of ({"words": ..., "meaning": ...},
    adding up to it; "words" alone past `depth`): (order, scores, parts)."""
    head = min(depth, len(scores))
    order, mixed, lexical = mix(scores, cosines, weight, depth, normalise)
    return order, mixed, Parts(lexical, np.where(order < head, mixed - lexical, np.nan))


def mix(scores: np.ndarray, cosines: np.ndarray, weight: float, depth: int,
        normalise: str = "max") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(order, mixed scores, lexical parts) for hits in lexical order with their
    cosines (only the first `depth` are used); `order` indexes the input.

    `normalise` "max": lexical score over the best one's; "minmax": over the
    range of the first `depth` (the last of them 0, hits past it below 0)."""
    scores = np.asarray(scores, dtype=np.float64)
    best = scores[0] if len(scores) and scores[0] > 0 else 1.0
    lexical = scores / best
    if normalise == "minmax" and len(scores) > 1:
        low = scores[min(depth, len(scores)) - 1]
        lexical = (scores - low) / ((scores[0] - low) or 1.0)
    mixed = lexical.copy()
    head = min(depth, len(scores))
    mixed[:head] += weight * np.maximum(np.asarray(cosines[:head], dtype=np.float64), 0.0)
    # Stable: equal mixed scores keep the lexical order.
    order = np.concatenate([np.argsort(-mixed[:head], kind="stable"),
                            np.arange(head, len(scores))]).astype(np.int64)
    return order, mixed[order], lexical[order]

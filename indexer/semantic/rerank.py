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

import numpy as np


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

"""The semantic rerank's weight and depth, compared on NFCorpus dev only (issue #14).

    python tools/tune_semantic.py            # every dev query
    python tools/tune_semantic.py --quick    # the first 60 queries of each set

Prints nDCG@10 on the three dev query sets and their mean, for the product's
settings without the rerank and with each candidate weight (lexical score
over the best + weight x cosine) and depth (lexical hits reranked). The
collection is embedded once into the vector cache (~/.cache/medsearch/vectors).
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import tune_relevance  # noqa: E402

from indexer.query.settings import DEFAULT  # noqa: E402

tune_relevance.CANDIDATES = {
    "no semantic": DEFAULT.without_semantic(),
    **{f"semantic {w}, depth {d}": replace(DEFAULT, semantic=w, semantic_depth=d)
       for d in (100, 50) for w in (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0)},
    **{f"minmax {w}, depth 100": replace(DEFAULT, semantic=w, semantic_norm="minmax")
       for w in (0.5, 1.0, 1.5, 2.0)},
}

if __name__ == "__main__":
    sys.exit(tune_relevance.main())

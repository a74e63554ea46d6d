"""The concept lever's weights, compared on NFCorpus dev only (issue #14).

    python tools/tune_concepts.py            # every dev query
    python tools/tune_concepts.py --quick    # the first 60 queries of each set

Prints nDCG@10 on the three dev query sets and their mean, for the product's
settings without concepts and with each candidate weight.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import tune_relevance  # noqa: E402

from indexer.query.settings import DEFAULT  # noqa: E402

tune_relevance.CANDIDATES = {
    "no concepts": replace(DEFAULT, concepts=0.0),
    **{f"concepts {w}, words {v}": replace(DEFAULT, concepts=w, concept_words=v)
       for w in (1.0, 1.5, 2.0) for v in (0.75, 0.5, 0.25)},
}

if __name__ == "__main__":
    sys.exit(tune_relevance.main())

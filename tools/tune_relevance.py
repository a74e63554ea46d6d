"""Compare ranking settings on NFCorpus dev, the only split used for tuning.

    python tools/tune_relevance.py            # the candidates below
    python tools/tune_relevance.py --quick    # the first 60 queries of each set

Prints nDCG@10 for the three dev query sets and their mean. MED has no dev
split and the test sets are for reporting: neither is used here.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from indexer.evaluation import evaluate, testsets  # noqa: E402
from indexer.query.settings import DEFAULT  # noqa: E402

BASE = evaluate.BASE


def title(weight):
    return (("abstract", 1.0), ("keywords", 1.5), ("title", weight))


CANDIDATES_BEFORE = {
    "untuned": evaluate.UNTUNED,
    "base (default, switches off)": BASE,
    "title 2.0": replace(BASE, boosts=title(2.0)),
    "title 1.0": replace(BASE, boosts=title(1.0)),
    "k1 0.9 b 0.5": replace(BASE, k1=0.9, b=0.5),
    "coordination 2.0": replace(BASE, coordination=2.0),
    "phrase 0.1, slop 4": replace(BASE, phrase=0.1, slop=4),
    "prf 0.3, 5 docs, 10 terms": replace(BASE, prf=0.3, prf_docs=5, prf_terms=10),
    "prf 0.5, 5 docs, 20 terms": replace(BASE, prf=0.5, prf_docs=5, prf_terms=20),
    "prf 0.5, 10 docs, 20 terms": replace(BASE, prf=0.5, prf_docs=10, prf_terms=20),
    "prf 1.0, 10 docs, 20 terms": replace(BASE, prf=1.0, prf_docs=10, prf_terms=20),
    "title b 0.3 (per-field b)": replace(BASE, field_b=(("title", 0.3),)),
    "abstract b 0.9 (per-field b)": replace(BASE, field_b=(("abstract", 0.9),)),
    "feedback, reorder only": replace(DEFAULT, prf_widen=0),
    "feedback, softmax doc weights": replace(DEFAULT, prf_doc_weight="softmax", prf_temperature=3),
    "feedback, no idf": replace(DEFAULT, prf_idf=False),
    "feedback, 10 docs": replace(DEFAULT, prf_docs=10),
    "feedback, 40 terms, 0.7": replace(DEFAULT, prf_terms=40, prf=0.7),
    "feedback adds up to 20": replace(DEFAULT, prf_widen=20),
    "feedback adds, 1 shared word": replace(DEFAULT, prf_widen_min=1),
    "synonyms 0.3": replace(BASE, synonyms=0.3),
    "default": DEFAULT,
}


CANDIDATES = {
    "default": DEFAULT,
    "whoosh idf": replace(DEFAULT, idf="whoosh"),
    "coordination 0": replace(DEFAULT, coordination=0.0),
    "coordination 2.0": replace(DEFAULT, coordination=2.0),
    "k1 0.9": replace(DEFAULT, k1=0.9),
    "k1 1.5": replace(DEFAULT, k1=1.5),
    "b 0.6": replace(DEFAULT, b=0.6),
    "b 0.9": replace(DEFAULT, b=0.9),
    "title 0.75": replace(DEFAULT, boosts=title(0.75)),
    "title 1.5": replace(DEFAULT, boosts=title(1.5)),
    "prf 0.3": replace(DEFAULT, prf=0.3),
    "prf 0.8": replace(DEFAULT, prf=0.8),
    "prf 10 docs": replace(DEFAULT, prf_docs=10),
    "prf 30 terms": replace(DEFAULT, prf_terms=30),
    "phrase 0.1": replace(DEFAULT, phrase=0.1),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--data")
    parser.add_argument("--before", action="store_true",
                        help="the candidates compared before the numpy scorer and pooled idf")
    args = parser.parse_args()
    candidates = CANDIDATES_BEFORE if args.before else CANDIDATES
    sets = {name: testsets.load(name, args.data) for name in testsets.DEV_SETS}
    with tempfile.TemporaryDirectory() as tmp:
        index = evaluate.open_collection_index(next(iter(sets.values())), Path(tmp), args.data)
        try:
            print(f"{'settings':32s} " + " ".join(f"{n[13:]:>12s}" for n in sets) + "        mean")
            for label, ranking in candidates.items():
                scores = []
                for collection in sets.values():
                    queries = dict(list(collection.queries.items())[:60 if args.quick else None])
                    qrels = {qid: collection.qrels[qid] for qid in queries}
                    run = evaluate.run_medsearch(index, queries, ranking)
                    scores.append(evaluate.score(qrels, run)["nDCG@10"])
                cells = " ".join(f"{s:12.4f}" for s in scores)
                print(f"{label:32s} {cells} {sum(scores) / len(scores):11.4f}", flush=True)
        finally:
            index.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

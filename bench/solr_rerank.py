"""What the semantic rerank costs a search on SolrCloud: `Index.search` with the
product's ranking and with `--no-semantic`'s, interleaved query by query over
bench/queries.json, on an index already built there (e.g. the alias
`bench_engines` that `python -m bench.engines --solr URL` leaves).

    python -m bench.solr_rerank --solr URL [--alias bench_engines] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from bench.engines import summary
from bench.queries import load_queries
from indexer.query.settings import DEFAULT
from indexer.search import Index


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--solr", required=True)
    parser.add_argument("--alias", default="bench_engines")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    index = Index(Path(args.alias), args.solr)  # the alias is the folder's last name
    queries = [q["q"] for q in load_queries()]
    settings = {"rerank": DEFAULT, "words": DEFAULT.without_semantic()}
    for text in queries:  # one unmeasured round: connections, the query vectors kept
        for ranking in settings.values():
            index.search(text, ranking=ranking)
    times: dict[str, list[float]] = {label: [] for label in settings}
    for _ in range(args.rounds):
        for text in queries:
            for label, ranking in settings.items():
                started = time.perf_counter()
                index.search(text, ranking=ranking)
                times[label].append((time.perf_counter() - started) * 1000)
    result: dict = {label: summary(found) for label, found in times.items()}
    result["ratio_p50"] = result["rerank"]["p50"] / result["words"]["p50"]
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()

"""Whoosh beside SolrCloud in one run: build time and `Index.search` latency.

    python -m bench.engines --solr URL [--seeds seeds] [--shards 2 --replicas 2] [--rounds 3]

Builds the seeds folder on both engines (Whoosh into a temporary folder,
SolrCloud into the alias `bench_engines`), then times `Index.search` on the
same queries (bench/queries.json), same process, warm (one round unmeasured
first). Prints one JSON object; the ratio is SolrCloud's over Whoosh's.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from bench.queries import load_queries
from indexer import engine, open_index


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (as bench.searching's, which needs psutil)."""
    ordered = sorted(values)
    return ordered[int(max(1, -(-len(ordered) * p // 100))) - 1]


def summary(values: list[float]) -> dict:
    return {"p50": percentile(values, 50), "p95": percentile(values, 95),
            "p99": percentile(values, 99), "n": len(values)}


def timed_build(seeds: str, root: Path, **solr) -> float:
    started = time.perf_counter()
    engine.build_index(seeds, root, procs=2, **solr)
    return time.perf_counter() - started


def latencies(index, queries: list[str], rounds: int) -> list[float]:
    for text in queries:  # warm: caches, JIT, connections
        index.search(text)
    found = []
    for _ in range(rounds):
        for text in queries:
            started = time.perf_counter()
            index.search(text)
            found.append((time.perf_counter() - started) * 1000)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--solr", required=True)
    parser.add_argument("--seeds", default="seeds")
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    queries = [q["q"] for q in load_queries()]
    with tempfile.TemporaryDirectory() as tmp:
        whoosh_root = Path(tmp) / "index"
        solr_root = Path(tmp) / "bench_engines"
        build = {"whoosh_s": timed_build(args.seeds, whoosh_root, solr=""),
                 "solr_s": timed_build(args.seeds, solr_root, solr=args.solr,
                                       shards=args.shards, replicas=args.replicas)}
        whoosh = open_index(whoosh_root, solr="")
        solr = open_index(solr_root, solr=args.solr)
        search = {"whoosh_ms": summary(latencies(whoosh, queries, args.rounds)),
                  "solr_ms": summary(latencies(solr, queries, args.rounds))}
    build["ratio"] = build["solr_s"] / build["whoosh_s"]
    search["ratio_p50"] = search["solr_ms"]["p50"] / search["whoosh_ms"]["p50"]
    print(json.dumps({"seeds": args.seeds, "documents": len(solr), "shards": args.shards,
                      "replicas": args.replicas, "queries": len(queries), "build": build,
                      "search": search}, indent=1))


if __name__ == "__main__":
    main()

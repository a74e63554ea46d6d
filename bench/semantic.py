"""The semantic rerank's costs: embedding throughput, the cache on a rebuild, search latency.

    python -m bench.semantic                      # the demo pages, then 20,000 pages
    python -m bench.semantic --sizes demo         # the demo pages only
    python -m bench.semantic --sample 600         # texts embedded at 20,000 pages
    python -m bench.semantic --sizes 100000       # 100,000 pages (bench/work/corpus-100000)

For each corpus, in one run:
- a lexical build (`--no-embed`), then its records embedded with an empty
  cache: texts per second, and from it the time 20,000 and 100,000 pages take;
- (demo) a rebuild with embedding on: the cache's hit rate and the embed time;
- `Index.search` + `Results.to_dict()` over bench/queries.json, warm, with the
  rerank off (the baseline) and on, same index, same process, each query's
  pair run back to back. The rerank's first sight of a query includes
  embedding it (each query text is new to it once).

At 20,000 and 100,000 pages only `--sample` records are embedded (embedding
all would take one to several hours on the shared 2 cores): the others keep zero rows,
which the rerank reads and multiplies like any other, so the search figures
are those of a fully embedded index. Writes bench/work/semantic.json and
prints Markdown rows for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import sys
import time
from pathlib import Path

from bench.queries import load_queries

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / "bench" / "work"
CORPORA = {"demo": REPO / "seeds", "20000": WORK / "corpus-20000",
           "100000": WORK / "corpus-100000"}


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (as bench/searching.py, which needs the bench extra)."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


def build_lexical(seeds: Path, root: Path) -> float:
    from indexer import build_index

    shutil.rmtree(root, ignore_errors=True)
    started = time.perf_counter()
    build_index(seeds, root, procs=2, embed=False)
    return time.perf_counter() - started


def embed_fresh(root: Path, cache: Path, sample: int | None) -> dict:
    """Embed the live generation's records (the first `sample` only, if given)
    with an empty cache; the generation's vectors are saved either way."""
    from indexer.semantic import vectors as vec
    from indexer.semantic.model import shared_embedder
    from indexer.whoosh_engine.embedding import document_texts
    from indexer.whoosh_engine.generations import current_generation

    shutil.rmtree(cache, ignore_errors=True)
    generation = current_generation(root)
    embedder = shared_embedder()
    texts = document_texts(root, generation)
    if sample is not None:
        kept = 0
        for i, text in enumerate(texts):
            if text is not None:
                kept += 1
                if kept > sample:
                    texts[i] = None
    matrix, report = vec.embed_texts(texts, vec.VectorCache(cache, embedder.key), embedder)
    vec.save(generation, matrix, embedder.key, report)
    return {"records": len(texts), "embedded": report.embedded, "seconds": report.seconds,
            "per_second": report.embedded / report.seconds if report.seconds else 0.0}


def rebuild_cached(seeds: Path, root: Path, cache: Path) -> dict:
    """A full rebuild with embedding on and the cache left by embed_fresh."""
    from indexer import build_index
    from indexer.whoosh_engine.generations import current_generation
    from indexer.semantic import vectors as vec

    os.environ["MEDSEARCH_VECTOR_CACHE"] = str(cache)
    try:
        started = time.perf_counter()
        report = build_index(seeds, root, procs=2)
        seconds = time.perf_counter() - started
    finally:
        del os.environ["MEDSEARCH_VECTOR_CACHE"]
    info = vec.read_info(current_generation(root)) or {}
    # "N of M records (E embedded, C from the cache) in S s"
    words = report.vectors.replace("(", " ").replace(",", " ").split()
    embedded, cached = int(words[words.index("embedded") - 1]), int(words[words.index("from") - 1])
    return {"build_seconds": seconds, "vectors": report.vectors, "present": info.get("present"),
            "embedded": embedded, "cached": cached,
            "hit_rate": cached / max(1, embedded + cached),
            "embed_seconds": float(words[words.index("in") + 1])}


def latencies(root: Path) -> dict:
    """p50/p95 of Index.search + to_dict with the rerank off and on."""
    from indexer import open_index
    from indexer.errors import QueryError
    from indexer.query.settings import DEFAULT

    queries = load_queries()
    index = open_index(root)
    off = DEFAULT.without_semantic()
    notes = set()

    def run(q: dict, ranking) -> float:
        args = {k: v for k, v in q.items() if k != "q"}
        started = time.perf_counter()
        try:
            res = index.search(q["q"], ranking=ranking, **args)
            res.to_dict()
            if res.semantic_note:
                notes.add(res.semantic_note)
        except QueryError:
            pass
        return (time.perf_counter() - started) * 1000

    try:
        index.search("warm up the model", ranking=DEFAULT)
        for q in queries:  # warm: searchers, lexical caches, the page cache
            run(q, off)
        gc.collect()
        times = {"off": [], "on": []}
        for q in queries:
            times["off"].append(run(q, off))
            times["on"].append(run(q, DEFAULT))
    finally:
        index.close()
    return {name: {"p50": percentile(t, 50), "p95": percentile(t, 95), "n": len(t)}
            for name, t in times.items()} | {"notes": sorted(notes)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="demo,20000")
    parser.add_argument("--sample", type=int, default=600,
                        help="records embedded past the demo pages (default 600)")
    args = parser.parse_args(argv)
    WORK.mkdir(parents=True, exist_ok=True)
    found = {}
    for size in args.sizes.split(","):
        seeds = CORPORA[size]
        if not seeds.exists():
            print(f"no corpus at {seeds}: link or generate it (bench/corpus.py)", file=sys.stderr)
            return 1
        root, cache = WORK / f"semantic-index-{size}", WORK / f"semantic-cache-{size}"
        row = {"lexical_build_seconds": build_lexical(seeds, root)}
        row["embed"] = embed_fresh(root, cache, None if size == "demo" else args.sample)
        if size == "demo":
            row["rebuild"] = rebuild_cached(seeds, root, cache)
        row["search"] = latencies(root)
        found[size] = row
        print(json.dumps({size: row}, indent=1), flush=True)
    (WORK / "semantic.json").write_text(json.dumps(found, indent=1))
    print(markdown(found))
    return 0


def markdown(found: dict) -> str:
    lines = ["| corpus | figure | rerank on | rerank off (baseline) | ratio |", "|---|---|---:|---:|---:|"]
    for size, row in found.items():
        name = "demo" if size == "demo" else f"{int(size):,} pages"
        rate = row["embed"]["per_second"]
        lines.append(f"| {name} | embedding, empty cache: abstracts/s | {rate:.1f} | – | – |")
        for pages in (20_000, 100_000):
            lines.append(f"| {name} | embedding {pages:,} pages at that rate (min, extrapolated) "
                         f"| {pages / rate / 60:.0f} | – | – |")
        if "rebuild" in row:
            r = row["rebuild"]
            lines.append(f"| {name} | rebuild: cache hit rate | {r['hit_rate']:.0%} "
                         f"({r['cached']} of {r['cached'] + r['embedded']}) | – | – |")
            lines.append(f"| {name} | rebuild: embed step (s) | {r['embed_seconds']:.1f} "
                         f"| empty cache {row['embed']['seconds']:.1f} | "
                         f"{r['embed_seconds'] / row['embed']['seconds']:.2f}× |")
        for p in ("p50", "p95"):
            on, off = row["search"]["on"][p], row["search"]["off"][p]
            lines.append(f"| {name} | search {p} (ms) | {on:.1f} | {off:.1f} | {on / off:.2f}× |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())

"""Whoosh beside SolrCloud in one run: build time, `Index.search` latency, the site.

    python -m bench.engines --solr URL [--seeds seeds | --size 100000] [--shards 2 --replicas 2]
                            [--rounds 3] [--web] [--out FILE.json]

Builds the pages on both engines (Whoosh into a temporary folder, SolrCloud
into the alias `bench_engines`), then times `Index.search` on the same
queries (bench/queries.json), same process, warm (one round unmeasured
first). `--size N` reads the generated corpus bench/work/corpus-N (link
the lead's: `ln -s /work/bench-data/corpus-100000 bench/work/`). `--web`
also loads the site (`medsearch serve --workers 2`, bench/web.py's wrk
run: 20 connections, 20 s warm then 20 s measured, per route) on each
engine. For docs/scaling.md it records the SolrCloud collection's shards
(documents and bytes each), each node's JVM heap in use, and the build
split into reading the pages and writing the index. Prints one JSON
object (and writes it to --out); ratios are SolrCloud's over Whoosh's.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from bench.queries import load_queries
from indexer import engine, open_index
from indexer.solr_engine.client import SolrClient

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (as bench.searching's, which needs psutil)."""
    ordered = sorted(values)
    return ordered[int(max(1, -(-len(ordered) * p // 100))) - 1]


def summary(values: list[float]) -> dict:
    return {"p50": percentile(values, 50), "p95": percentile(values, 95),
            "p99": percentile(values, 99), "n": len(values)}


def timed_build(seeds: str, root: Path, **solr) -> dict:
    """The build's seconds, and when reading the pages ended (the rest is writing)."""
    read_done = []

    def progress(done: int, total: int) -> None:
        if done == total and not read_done:
            read_done.append(time.perf_counter())

    started = time.perf_counter()
    engine.build_index(seeds, root, procs=2, progress=progress, **solr)
    ended = time.perf_counter()
    read = (read_done[0] if read_done else ended) - started
    return {"seconds": ended - started, "reading_s": read, "writing_s": ended - started - read}


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


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def shards(url: str, alias: str) -> list[dict]:
    """Each shard of the collection behind `alias`: its leader's documents and bytes."""
    client = SolrClient(url)
    name = client.aliases()[alias]
    answer = client.call("admin/collections", {"action": "COLSTATUS", "collection": name,
                                               "coreInfo": "true"})
    found = []
    for shard, about in sorted(answer.get(name, {}).get("shards", {}).items()):
        core = about.get("leader", {}).get("segInfos", {}).get("info", {}).get("core", {})
        info = about.get("leader", {}).get("segInfos", {}).get("info", {})
        found.append({"shard": shard, "documents": info.get("totalMaxDoc"),
                      "bytes": int(core.get("sizeInGB", 0) * 2**30),
                      "segments": info.get("numSegments")})
    return found


def node_heaps(url: str) -> list[dict]:
    """Each live node's JVM heap in use and its maximum (MB), from admin/info/system."""
    client = SolrClient(url)
    live = client.call("admin/collections", {"action": "CLUSTERSTATUS"}).get(
        "cluster", {}).get("live_nodes", [])
    found = []
    for node in sorted(live):
        host, _, context = node.partition("_")
        memory = SolrClient(f"http://{host}/{context}").call(
            "admin/info/system", {}).get("jvm", {}).get("memory", {}).get("raw", {})
        found.append({"node": node, "heap_used_mb": round(memory.get("used", 0) / 2**20),
                      "heap_max_mb": round(memory.get("max", 0) / 2**20)})
    return found


@contextmanager
def solr_env(url: str | None):
    """MEDSEARCH_SOLR set (or unset) for the site bench/web.py starts."""
    before = os.environ.pop("MEDSEARCH_SOLR", None)
    if url:
        os.environ["MEDSEARCH_SOLR"] = url
    try:
        yield
    finally:
        os.environ.pop("MEDSEARCH_SOLR", None)
        if before is not None:
            os.environ["MEDSEARCH_SOLR"] = before


def web(root: Path, url: str | None) -> dict:
    from bench.web import available, run_web

    missing = available(REPO)
    if missing:
        return {"error": missing}
    with solr_env(url):
        return run_web(REPO, str(root), duration=20, connections=20, workers=2,
                       log=lambda message: print(message, flush=True), never_asked=False)


def seeds_for(args) -> str:
    if not args.size:
        return args.seeds
    folder = HERE / "work" / f"corpus-{args.size}"
    if not folder.exists():
        raise SystemExit(f"no corpus at {folder}: generate it (python -m bench) or link one "
                         f"(ln -s /work/bench-data/corpus-{args.size} {folder})")
    return str(folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--solr", required=True)
    parser.add_argument("--seeds", default="seeds")
    parser.add_argument("--size", type=int, help="the generated corpus bench/work/corpus-SIZE")
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--web", action="store_true", help="also load the site on each engine")
    parser.add_argument("--out", help="write the JSON here too")
    args = parser.parse_args()
    seeds = seeds_for(args)
    if args.web:  # before an hour of building: bench/web.py needs the bench extra (psutil)
        import bench.web  # noqa: F401
    queries = [q["q"] for q in load_queries()]
    say = lambda message: print(message, flush=True)  # noqa: E731
    result: dict = {"seeds": seeds, "shards": args.shards, "replicas": args.replicas,
                    "queries": len(queries), "date": time.strftime("%Y-%m-%d", time.gmtime())}
    with tempfile.TemporaryDirectory() as tmp:
        whoosh_root = Path(tmp) / "index"
        solr_root = Path(tmp) / "bench_engines"
        say("building on Whoosh")
        build = {"whoosh": timed_build(seeds, whoosh_root, solr="")}
        say(f"  {build['whoosh']}; building on SolrCloud")
        build["solr"] = timed_build(seeds, solr_root, solr=args.solr, shards=args.shards,
                                    replicas=args.replicas)
        say(f"  {build['solr']}")
        build["ratio"] = build["solr"]["seconds"] / build["whoosh"]["seconds"]
        whoosh = open_index(whoosh_root, solr="")
        solr = open_index(solr_root, solr=args.solr)
        result["documents"] = len(solr)
        say("timing Index.search")
        search = {"whoosh_ms": summary(latencies(whoosh, queries, args.rounds)),
                  "solr_ms": summary(latencies(solr, queries, args.rounds))}
        search["ratio_p50"] = search["solr_ms"]["p50"] / search["whoosh_ms"]["p50"]
        whoosh.close()
        result.update(build=build, search=search,
                      whoosh_index_bytes=folder_bytes(whoosh_root),
                      solr_shards=shards(args.solr, solr_root.name),
                      solr_heap=node_heaps(args.solr))
        say(json.dumps(search))
        if args.out:  # what is measured so far, should the site's run fail
            Path(args.out).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
        if args.web:
            say("loading the site on Whoosh")
            result["web"] = {"whoosh": web(whoosh_root, None)}
            say("loading the site on SolrCloud")
            result["web"]["solr"] = web(solr_root, args.solr)
            result["solr_heap_after_web"] = node_heaps(args.solr)
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

"""Before and after in the same minutes: first searches timed in process from
a checkout's code, on one index.

    python tools/ab_search.py CHECKOUT INDEX [--forget-phrases] [--rounds N]

Imports `indexer` from CHECKOUT (another worktree: `git worktree add
/tmp/before COMMIT`), opens INDEX with its memory of searches off, runs
bench/queries.json once to warm up, then N rounds timing each search's CPU;
with --forget-phrases the generation's phrase documents are dropped before
each search (what a concept never searched before costs). Prints one line:
p50, p95, p99 and mean in ms. Run it for each checkout in turn, twice over:
the machine's noise shows as the spread between the two.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from pathlib import Path

QUERIES = Path(__file__).resolve().parent.parent / "bench" / "queries.json"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("checkout")
    parser.add_argument("index")
    parser.add_argument("--forget-phrases", action="store_true")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(args.checkout).resolve()))
    from indexer import QueryError, open_index

    index = open_index(args.index)
    index.engine.queries_kept = 0
    tables = index.engine._memory._tables
    queries = json.loads(QUERIES.read_text())

    def run(q: dict) -> None:
        if args.forget_phrases and "phrases" in tables:
            tables["phrases"][1]._docs.clear()
        try:
            index.search(q["q"], **{k: v for k, v in q.items() if k != "q"}).to_dict()
        except QueryError:
            pass

    for q in queries:
        run(q)
    gc.collect()
    cpu = []
    for _ in range(args.rounds):
        for q in queries:
            started = time.thread_time()
            run(q)
            cpu.append((time.thread_time() - started) * 1000)
    cpu.sort()

    def percentile(p: int) -> float:
        return cpu[max(0, -(-len(cpu) * p // 100) - 1)]

    print(f"{args.checkout}: p50 {percentile(50):.1f} p95 {percentile(95):.1f} "
          f"p99 {percentile(99):.1f} mean {sum(cpu) / len(cpu):.1f} ms of CPU "
          f"({len(cpu)} searches{', phrases forgotten' if args.forget_phrases else ''})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Time Index.suggest on a built index: `python tools/suggest_latency.py INDEX [--n 2000]`.

Prefixes are what people type: the first 1 to 8 letters of title words, alone
and after a first word ("spinal tub"), drawn with a fixed seed from the
index's own titles. Prints the one-off cost of reading the vocabulary, then
p50 / p95 / max per suggestion, for the core and through the Flask route.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from indexer import open_index  # noqa: E402
from webui import create_app  # noqa: E402


def prefixes(index, count: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    titles = [h.title for h in index.search("", per_page=100, sort="newest").hits]
    words = [w.lower() for t in titles for w in re.findall(r"[A-Za-z]{3,}", t)]
    out = []
    for _ in range(count):
        word = rng.choice(words)
        typed = word[:rng.randint(1, min(8, len(word)))]
        out.append(f"{rng.choice(words)} {typed}" if rng.random() < 0.3 else typed)
    return out


def report(name: str, seconds: list[float]) -> None:
    ms = sorted(s * 1000 for s in seconds)
    p95 = ms[int(len(ms) * 0.95) - 1]
    print(f"{name}: n={len(ms)} p50={statistics.median(ms):.3f} ms "
          f"p95={p95:.3f} ms max={ms[-1]:.3f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("index", type=Path)
    parser.add_argument("--n", type=int, default=2000)
    args = parser.parse_args()
    index = open_index(args.index)
    print(f"{len(index)} documents in {args.index}")
    started = time.perf_counter()
    index.suggest("a")
    print(f"vocabulary read once per generation: {time.perf_counter() - started:.3f} s")
    typed = prefixes(index, args.n)
    core = []
    for text in typed:
        started = time.perf_counter()
        index.suggest(text)
        core.append(time.perf_counter() - started)
    report("Index.suggest", core)
    client = create_app({"INDEX": str(args.index)}).test_client()
    client.get("/api/suggest?q=a")
    route = []
    for text in typed:
        started = time.perf_counter()
        client.get("/api/suggest", query_string={"q": text})
        route.append(time.perf_counter() - started)
    report("GET /api/suggest (Flask test client)", route)


if __name__ == "__main__":
    main()

"""A worker's first search on a new generation, from a checkout's code.

    python tools/swap_latency.py CHECKOUT INDEX [--query TEXT] [--then TEXT]

Imports `indexer` from CHECKOUT. Builds a scratch index root in a temporary
folder holding two hard-linked copies of INDEX's live generation (the same
segments, as after an `update` that kept them all), opens it, searches a few
queries to warm it, points `current` at the other copy as a build or update
does, and times the first search on it: what reading the new generation's
tables costs the search that finds it (INDEX itself is not touched). Prints
that time beside the next search's (`--then`), on tables then read.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

WARM = ("low back pain", "scoliosis brace", "spinal stenosis")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("checkout")
    parser.add_argument("index")
    parser.add_argument("--query", default="disc herniation")
    parser.add_argument("--then", default="lumbar fusion")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(args.checkout).resolve()))
    from indexer import open_index

    live = Path(args.index).resolve()
    live = live / os.readlink(live / "current")
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        for name in ("gen-a", "gen-b"):
            (root / name).mkdir()
            for entry in os.scandir(live):
                if entry.is_file():
                    os.link(entry.path, root / name / entry.name)
        os.symlink("gen-a", root / "current")
        index = open_index(root)
        for text in WARM:
            index.search(text)
        os.symlink("gen-b", root / "current.new")
        os.replace(root / "current.new", root / "current")
        started = time.perf_counter()
        index.search(args.query)
        first = time.perf_counter() - started
        started = time.perf_counter()
        index.search(args.then)
        then = time.perf_counter() - started
        index.close()
    print(f"{args.checkout}: first search on the new generation {first * 1000:.0f} ms, "
          f"the next one {then * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())

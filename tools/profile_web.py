"""Time and profile the web routes in process (Flask's test client), warm.

    python tools/profile_web.py INDEX [--route /|/api/search]

Prints ms per request for /api/search and /?q= over bench/queries.json, then
a pyinstrument profile of one pass of the chosen route: where a request's
CPU goes, without HTTP or load-tool noise.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.queries import load_queries  # noqa: E402
from webui import create_app  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("index")
    parser.add_argument("--route", default="/", choices=["/", "/api/search"])
    args = parser.parse_args()
    client = create_app({"INDEX": args.index}).test_client()
    queries = [urlencode({"q": q["q"], **{k: v for k, v in q.items() if k != "q"}})
               for q in load_queries()]
    routes = {"/api/search": [f"/api/search?{q}" for q in queries],
              "/": [f"/?{q}" for q in queries]}
    for paths in routes.values():  # warm: caches of the generation
        for path in paths:
            client.get(path)
    for route, paths in routes.items():
        started = time.perf_counter()
        for path in paths:
            client.get(path)
        print(f"{route}: {(time.perf_counter() - started) / len(paths) * 1000:.1f} ms/request")
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0005)
    profiler.start()
    for path in routes[args.route]:
        client.get(path)
    profiler.stop()
    print(profiler.output_text(unicode=True, show_all=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())

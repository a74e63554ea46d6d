"""Time and profile the web routes in process (Flask's test client), warm.

    python tools/profile_web.py INDEX [--route /|/api/search] [--no-query-memory]
        [--rounds N] [--profile FILE] [--dump FILE]

Prints the CPU milliseconds (time.process_time, not wall clock: the machine
is shared) per request of /api/search and /?q= over bench/queries.json, and
of the in-process `Index.search` + `to_dict` loop beside them, as ratios:
what a page costs beyond the search under it. The routes and the loop run
interleaved, round by round, so a busy neighbour weighs on all alike. Then a
pyinstrument profile of one pass of the chosen route: where a request's CPU
goes, without HTTP or load-tool noise.

`--no-query-memory`: the engine remembers no search (the cost of a search
never asked before). `--dump FILE`: every answer's bytes instead, the time a
search took set to 0, to compare before and after a change (`cmp`).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.queries import load_queries  # noqa: E402
from webui import create_app, get_index  # noqa: E402

ROUTES = ("/api/search", "/")


def request_paths() -> dict[str, list[str]]:
    """Each route's URL for each benchmark query."""
    queries = [urlencode({"q": q["q"], **{k: v for k, v in q.items() if k != "q"}})
               for q in load_queries()]
    return {route: [f"{route}?{q}" for q in queries] for route in ROUTES}


def search_loop(index):
    """The in-process loop the web is compared with (bench.searching's api runner)."""
    queries = load_queries()

    def run():
        for q in queries:
            args = {k: v for k, v in q.items() if k != "q"}
            try:
                index.search(q["q"], **args).to_dict()
            except Exception:  # noqa: BLE001 (a bad query costs what it costs, as on the site)
                pass
    return run


def cpu_ms(run, count: int) -> float:
    """CPU milliseconds per item of one `run()` over `count` items."""
    started = time.process_time()
    run()
    return (time.process_time() - started) / count * 1000


def measure(client, index, paths: dict[str, list[str]], rounds: int) -> dict[str, float]:
    """The least CPU ms per request of each route and of the search loop, over
    `rounds` interleaved rounds (the least: the round least disturbed)."""
    runs = {route: (lambda ps=ps: [client.get(p) for p in ps]) for route, ps in paths.items()}
    runs["Index.search"] = search_loop(index)
    count = len(next(iter(paths.values())))
    best: dict[str, float] = {}
    for _ in range(rounds):
        for name, run in runs.items():
            best[name] = min(best.get(name, float("inf")), cpu_ms(run, count))
    return best


def dump(client, paths: dict[str, list[str]], out: Path) -> None:
    """Every answer's status and bytes, searches timed as taking no time."""
    from indexer.whoosh_engine import engine as whoosh_engine

    whoosh_engine.time = SimpleNamespace(perf_counter=lambda: 0.0)
    with open(out, "wb") as handle:
        for route in ROUTES:
            for path in paths[route]:
                response = client.get(path)
                handle.write(f"\n=== {path} {response.status_code} {response.content_type}\n"
                             .encode())
                handle.write(response.data)


def profile(client, paths: list[str], out: str | None) -> None:
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0005)
    profiler.start()
    for path in paths:
        client.get(path)
    profiler.stop()
    text = profiler.output_text(unicode=True, show_all=False)
    if out:
        Path(out).write_text(text)
    else:
        print(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("index")
    parser.add_argument("--route", default="/", choices=ROUTES)
    parser.add_argument("--no-query-memory", action="store_true",
                        help="the engine remembers no search: every one costs a first time")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", metavar="FILE", help="write the profile here, not stdout")
    parser.add_argument("--dump", metavar="FILE", type=Path,
                        help="write every answer's bytes here (took set to 0) and stop")
    args = parser.parse_args()
    app = create_app({"INDEX": args.index})
    client = app.test_client()
    with app.app_context():
        index = get_index()
    if args.no_query_memory:
        index.engine.queries_kept = 0
    paths = request_paths()
    for route in ROUTES:  # warm: caches of the generation
        for path in paths[route]:
            client.get(path)
    if args.dump:
        dump(client, paths, args.dump)
        return 0
    best = measure(client, index, paths, args.rounds)
    base = best["Index.search"]
    for name, ms in best.items():
        print(f"{name}: {ms:.2f} ms CPU/request ({ms / base:.2f}× Index.search)")
    profile(client, paths[args.route], args.profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())

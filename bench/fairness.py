"""Fair serving: do two clients sending costly queries stall everyone else?

    .venv/bin/python -m bench.fairness                   # demo index, 20 s per phase
    .venv/bin/python -m bench.fairness --repo /work/main  # the same against another checkout's code

Serves the demo index with `medsearch serve --workers 2` (bench.web.serving)
and runs, in one run: a warm-up; eight clients sending cheap requests alone
(the benchmark's queries on /api/search, with every fourth request a
suggestion and every fourth an article page); then the same eight with two
more clients sending a costly query (35 wildcards that each read the whole
word list). It prints the cheap clients' p50/p95/p99 in both phases, the
ratio of the p95s, and what the costly clients got back (statuses, latency).
Each client is a thread with one keep-alive connection, sending its next
request when the last one is answered.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote, urlencode

from bench.web import _paths, serving

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CHEAP_CLIENTS = 8
COSTLY_CLIENTS = 2
# Two-letter infixes: `*an*` cannot use the sorted word list, so each reads all of it.
COSTLY_QUERY = " ".join(f"*{a}{b}*" for a, b in itertools.product("aeiou", "lnrstcm"))
ARTICLES = ("21349964", "30000001")  # replaced by the index's own PMIDs at start


def _get(conn: http.client.HTTPConnection, path: str) -> tuple[int, float, bytes]:
    started = time.perf_counter()
    conn.request("GET", path)
    response = conn.getresponse()
    body = response.read()
    return response.status, time.perf_counter() - started, body


def _client(port: int, paths: list[str], stop: threading.Event, out: list, offset: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for path in itertools.islice(itertools.cycle(paths), offset, None):
        if stop.is_set():
            break
        try:
            status, seconds, _ = _get(conn, path)
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            status, seconds = 0, float("nan")
        out.append((path.split("?")[0], status, seconds))
    conn.close()


def _phase(port: int, cheap: list[str], seconds: float, costly: int,
           costly_path: str = "") -> tuple[list, list]:
    stop = threading.Event()
    cheap_out: list = []
    costly_out: list = []
    threads = [threading.Thread(target=_client, args=(port, cheap, stop, cheap_out, i * 37))
               for i in range(CHEAP_CLIENTS)]
    threads += [threading.Thread(target=_client, args=(port, [costly_path], stop, costly_out, 0))
                for _ in range(costly)]
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    return cheap_out, costly_out


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


def _summary(rows: list) -> dict:
    times = [s for _, status, s in rows if status]
    found = {"requests": len(rows), "statuses": dict(Counter(status for _, status, _ in rows))}
    for pct in (50, 95, 99):
        found[f"p{pct}_ms"] = round(_percentile(times, pct) * 1000, 1)
    found["max_ms"] = round(max(times) * 1000, 1) if times else None
    return found


def _by_route(rows: list) -> dict:
    routes = sorted({route.rstrip("0123456789") for route, _, _ in rows})
    return {route: _summary([r for r in rows if r[0].rstrip("0123456789") == route])
            for route in routes}


def _cheap_paths(port: int) -> list[str]:
    """The benchmark's searches, with a suggestion and an article page every fourth."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    _, _, body = _get(conn, "/api/search?q=spine&per_page=20")
    conn.close()
    pmids = [hit["pmid"] for hit in json.loads(body)["hits"]] or list(ARTICLES)
    searches = _paths("/api/search")
    paths = []
    for i, search in enumerate(searches):
        paths.append(search)
        if i % 3 == 1:
            word = search.split("q=")[1].split("&")[0][:4] or "vert"
            paths.append("/api/suggest?q=" + quote(word, safe="%+"))
        if i % 3 == 2:
            paths.append(f"/article/{pmids[i % len(pmids)]}")
    return paths


def run(repo: Path, index: str, seconds: float, costly_query: str = COSTLY_QUERY,
        log=print) -> dict:
    results: dict = {"repo": str(repo), "seconds": seconds, "costly_query": costly_query}
    costly_path = "/api/search?" + urlencode({"q": costly_query})
    with serving(repo, index) as (port, server):
        if port is None:
            raise SystemExit(f"the server did not come up (exit {server.poll()})")
        cheap = _cheap_paths(port)
        log(f"warm-up ({seconds:g} s) ...")
        _phase(port, cheap, seconds, costly=0)
        log(f"eight cheap clients alone ({seconds:g} s) ...")
        alone, _ = _phase(port, cheap, seconds, costly=0)
        log(f"eight cheap clients and two costly ones ({seconds:g} s) ...")
        shared, costly = _phase(port, cheap, seconds, COSTLY_CLIENTS, costly_path)
    results["alone"] = _summary(alone) | {"routes": _by_route(alone)}
    results["with_costly"] = _summary(shared) | {"routes": _by_route(shared)}
    results["costly"] = _summary(costly)
    results["p95_ratio"] = round(results["with_costly"]["p95_ms"] / results["alone"]["p95_ms"], 2)
    return results


def _ensure_index(index: Path) -> None:
    if not (index / "current").exists():
        subprocess.run([sys.executable, "-m", "indexer", "build", "--seeds", str(REPO / "seeds"),
                        "--index", str(index)], cwd=REPO, check=True, capture_output=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fairness",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", type=Path, default=REPO,
                        help="the checkout whose code serves (default: this one)")
    parser.add_argument("--index", type=Path, default=HERE / "work" / "index-fairness",
                        help="built from seeds/ when missing")
    parser.add_argument("--seconds", type=float, default=20, help="length of each phase")
    parser.add_argument("--costly", default=COSTLY_QUERY,
                        help="what the costly clients search for (default: 35 wildcards)")
    args = parser.parse_args(argv)
    _ensure_index(args.index)
    log = lambda *a: print(time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)  # noqa: E731
    results = run(args.repo.resolve(), str(args.index.resolve()), args.seconds, args.costly, log)
    results["date"] = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Web load: `medsearch serve --workers 2` on loopback, driven by wrk.

wrk runs a Lua script that cycles through the benchmark queries and counts
every response that is not 2xx; wrk itself counts socket errors (connect,
read, write, timeout). Bounded: fixed duration, fixed connections.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlencode

import psutil

from bench.queries import load_queries

LUA = r"""
local paths = {%(paths)s}
local threads = {}
local counter = 0
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end
function init(args)
  non2xx = 0
  statuses = {}
  counter = id * 37
end
function request()
  counter = counter + 1
  return wrk.format("GET", paths[(counter %% #paths) + 1])
end
function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  end
end
function done(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do bad = bad + t:get("non2xx") end
  io.write(string.format("NON2XX %%d\n", bad))
  io.write(string.format("REQUESTS %%d\n", summary.requests))
  io.write(string.format("ERRORS %%d %%d %%d %%d %%d\n", summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.status, summary.errors.timeout))
  io.write(string.format("P50 %%f\nP99 %%f\nMAX %%f\n", latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000))
  io.write(string.format("RPS %%f\n", summary.requests / (summary.duration / 1e6)))
end
"""


WARM_SECONDS = 20
# Each worker keeps its own per-generation memories (phrase documents,
# feedback documents' words, decided searches), as the in-process figures'
# warm-up pass does: the site is warmed until every query has been sent
# WARM_PASSES times (so each of 2 workers has most likely seen each one:
# 1 - 0.5**4 = 94%), within WARM_MAX_SECONDS. At 100,000 pages 20 s of
# warming was less than one pass per worker, and the site was measured cold.
WARM_PASSES = 4
WARM_MAX_SECONDS = 120
# `medsearch serve` whose workers remember no searches (what the in-process
# `--no-query-memory` figures measure): the workers fork from this process
# and inherit the class setting. wrk cycles through the same 260 queries, so
# a site that remembers answers nearly all of them from memory.
FORGETFUL = ("import sys; from bench.searching import forget_queries; forget_queries(); "
             "from indexer.cli import main; sys.exit(main(sys.argv[1:]))")
ROUTES = (("page", "/"), ("api", "/api/search"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_up(port: int, proc, timeout: float = 120) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            time.sleep(0.3)
    return False


def available(repo: Path) -> str | None:
    """Why the web benchmark cannot run, or None when it can."""
    if not (repo / "webui" / "server.py").exists():
        return "webui/server.py does not exist yet"
    if not shutil.which("wrk"):
        return "wrk is not installed (apt-get install -y wrk)"
    return None


def _paths(route: str) -> list[str]:
    paths = []
    for q in load_queries():
        args = {"q": q["q"], **{k: v for k, v in q.items() if k != "q"}}
        paths.append(f"{route}?{urlencode(args)}")
    return paths


@contextmanager
def serving(repo: Path, index: str, workers: int = 2, remember: bool = True):
    """`medsearch serve` (the code in `repo`) on a free loopback port: yields
    (port, server process), or (None, process) when it did not come up.
    `remember=False`: its workers remember no searches (FORGETFUL)."""
    port = _free_port()
    program = ["-m", "indexer"] if remember else ["-c", FORGETFUL]
    server = subprocess.Popen(
        [sys.executable, *program, "serve", "--index", index, "--host", "127.0.0.1",
         "--port", str(port), "--workers", str(workers)],
        cwd=repo, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        yield (port if _wait_up(port, server) else None), server
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def run_web(repo: Path, index: str, duration: int = 20, connections: int = 20,
            workers: int = 2, log=print, never_asked: bool = True) -> dict:
    """The site under load, as its workers remember searches (keys "page" and
    "api") and, with `never_asked`, as if every query were new ("page:never
    asked", "api:never asked"), with each site's workers' memory after its load."""
    results: dict = {"workers": workers, "connections": connections, "duration": duration}
    for remember, suffix in ((False, ":never asked"), (True, ""))[0 if never_asked else 1:]:
        with serving(repo, index, workers, remember) as (port, server):
            if port is None:
                return {"error": f"the server did not come up (exit {server.poll()})"}
            before = in_process(repo, index, remember)
            for name, route in ROUTES:
                results[name + suffix] = _load(port, server, route, duration, connections)
                log(f"    web {route}{suffix}: {results[name + suffix]}")
            results.update({key + suffix: value for key, value in _memory(server).items()})
            after = in_process(repo, index, remember)
            results["in_process" + suffix] = bracket(before, after)
            results["app_in_process" + suffix] = {
                name: bracket(before["routes"][name], after["routes"][name]) for name, _ in ROUTES}
            log(f"    in process{suffix}, before and after: {results['in_process' + suffix]}; "
                f"the app's routes: {results['app_in_process' + suffix]}")
    return results


def in_process(repo: Path, index: str, remember: bool) -> dict:
    """One round of the in-process search, and of each route answered by the
    web app in process (`routes`: the search plus the page or JSON, no HTTP
    server), taking turns query by query (bench.searching app), run while
    the site idles: the site's ceiling measured in the same minutes as its
    load, which the machine's other load can make 1.5x slower or faster than
    the search step's, minutes before. On one core, as each worker searches:
    the embedding model on one thread (`--one-core`)."""
    extra = [] if remember else ["--no-query-memory"]
    done = subprocess.run([sys.executable, "-m", "bench.searching", "app", index, "--one-core",
                           "--rounds", "1", *extra], cwd=repo, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"in-process search beside the site failed: {done.stderr[-3000:]}")
    found = json.loads(done.stdout)
    routes = {name: found["routes"][route] for name, route in ROUTES}
    return {**_figures(found), "model_threads": found["model_threads"],
            "routes": {name: _figures(figures) for name, figures in routes.items()}}


def _figures(found: dict) -> dict:
    return {"mean": found["mean"], "p99": found["p99"], "cpu_mean": found["cpu"]["mean"]}


def bracket(before: dict, after: dict) -> dict:
    """The in-process figures from before and after the site's load, and their
    means as the search step writes its figures (mean, p99, cpu.mean)."""
    def mean(key):
        return (before[key] + after[key]) / 2

    return {"before": before, "after": after, "mean": mean("mean"), "p99": mean("p99"),
            "cpu": {"mean": mean("cpu_mean")}}


def _load(port: int, server, route: str, duration: int, connections: int) -> dict:
    """wrk on `route` for `duration` seconds, once every worker is warm."""
    paths = _paths(route)
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "load.lua"
        script.write_text(LUA % {"paths": ",".join(_lua_string(p) for p in paths)})
        # Warm every worker, as the API figures are warm: each opens the
        # index itself after the fork and fills its per-generation caches.
        sent, started = 0, time.monotonic()
        while sent < WARM_PASSES * len(paths) and time.monotonic() - started < WARM_MAX_SECONDS:
            warm = subprocess.run(
                ["wrk", "-t2", f"-c{connections}", f"-d{WARM_SECONDS}s", "-s", str(script),
                 f"http://127.0.0.1:{port}"],
                capture_output=True, text=True, timeout=WARM_SECONDS + 60).stdout
            sent += _parse(warm)["requests"]
        workers = psutil.Process(server.pid).children(recursive=True)
        cpu_before = [_cpu_seconds(w) for w in workers]
        out = subprocess.run(
            ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--timeout", "10s",
             "-s", str(script), f"http://127.0.0.1:{port}"],
            capture_output=True, text=True, timeout=duration + 60).stdout
        used = [_cpu_seconds(w) - before for w, before in zip(workers, cpu_before)]
    result = _parse(out)
    result["warm_requests"] = sent
    # The workers' CPU per answer: what the machine's other load does not
    # inflate much, unlike requests/s (compare with the API's CPU).
    result["cpu_ms_per_request"] = sum(used) * 1000 / max(1, result["requests"])
    # How many cores the workers kept busy, each and together: 2 workers on
    # 2 cores should come near 2 (one worker's share near 1 means it idled).
    result["cores_busy"] = [u / duration for u in used]
    return result


def _memory(server) -> dict:
    """Each worker's memory, in MB."""
    workers = psutil.Process(server.pid).children(recursive=True)
    full = [p.memory_full_info() for p in workers]
    return {
        "worker_rss_mb": [p.memory_info().rss / 2**20 for p in workers],
        # RSS counts the index files' pages in the page cache that a worker has
        # touched (shared by every process); its own memory is the anonymous part.
        "worker_anon_mb": [_anonymous_mb(p.pid) for p in workers],
        # USS: pages only this worker maps (its own memory; the target's measure);
        # PSS: plus its share of pages shared with the other workers (page cache).
        "worker_uss_mb": [m.uss / 2**20 for m in full],
        "worker_pss_mb": [m.pss / 2**20 for m in full],
    }


def _cpu_seconds(process) -> float:
    try:
        times = process.cpu_times()
    except psutil.Error:
        return 0.0
    return times.user + times.system


def _anonymous_mb(pid: int) -> float | None:
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return None
    match = re.search(r"^Anonymous:\s+(\d+) kB", text, re.MULTILINE)
    return int(match[1]) / 1024 if match else None


def _lua_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _parse(out: str) -> dict:
    def grab(key):
        m = re.search(rf"^{key} (.+)$", out, re.MULTILINE)
        return m[1] if m else None

    errors = [int(x) for x in (grab("ERRORS") or "0 0 0 0 0").split()]
    return {"rps": float(grab("RPS") or 0), "p50_ms": float(grab("P50") or 0),
            "p99_ms": float(grab("P99") or 0), "max_ms": float(grab("MAX") or 0),
            "requests": int(grab("REQUESTS") or 0), "non2xx": int(grab("NON2XX") or 0),
            "socket_errors": sum(errors[:3]) + errors[4], "raw_errors": errors}

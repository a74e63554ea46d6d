"""Run the whole benchmark and write bench/RESULTS.md.

    .venv/bin/python -m bench                          # demo, 20000 and 100000 pages
    .venv/bin/python -m bench --sizes demo,20000       # a quicker subset
    .venv/bin/python -m bench --sizes 20000 --skip web,build-p1 --out /tmp/r.md

Work files (generated corpora, indexes, the FTS5 database) go to bench/work/
(git-ignored); the corpora are generated once per size and reused.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shlex
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import psutil

from bench import corpus as corpus_module
from bench.measure import folder_bytes, run_measured
from bench.web import available as web_available
from bench.web import run_web

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORK = HERE / "work"
DATA = Path(os.environ.get("MEDSEARCH_DATA") or REPO.parent / "shared" / "data")
PY = sys.executable
STEPS = ("build-p1", "build-p2", "update", "search", "web")


def log(*args):
    print(time.strftime("%H:%M:%S"), *args, file=sys.stderr, flush=True)


def machine() -> dict:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cores": os.cpu_count(), "cpu": model,
            "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(), "os": platform.platform(terse=True)}


def seeds_for(size: str) -> Path:
    if size == "demo":
        return REPO / "seeds"
    folder = WORK / f"corpus-{size}"
    log(f"[{size}] corpus: generating (or reusing) {size} pages in {folder}")
    return corpus_module.generate(int(size), folder, DATA, log=log)


def medsearch(*args) -> list[str]:
    return [PY, "-m", "indexer", *args]


def build_step(size: str, seeds: Path, procs: int) -> dict:
    root = WORK / f"index-{size}-p{procs}"
    shutil.rmtree(root, ignore_errors=True)
    cmd = medsearch("build", "--seeds", str(seeds), "--index", str(root), "--procs", str(procs))
    log(f"[{size}] build --procs {procs}")
    res = run_measured(cmd, REPO)
    if res["returncode"] != 0:
        raise SystemExit(f"build failed: {res['stderr'][-2000:]}")
    generation = root / os.readlink(root / "current")
    info = json.loads((generation / "build.json").read_text())
    out = {"seconds": res["seconds"], "peak_rss_mb": res["peak_rss_mb"],
           "largest_rss_mb": res["largest_rss_mb"], "pages": info["pages"],
           "indexed": info["indexed"], "skipped": len(info["skipped"]),
           "index_bytes": folder_bytes(generation), "root": str(root)}
    out["pages_per_s"] = out["pages"] / out["seconds"]
    log(f"[{size}]   {out['seconds']:.1f} s, {out['pages_per_s']:.0f} pages/s, "
        f"peak {out['peak_rss_mb']:.0f} MB, index {out['index_bytes'] / 2**20:.0f} MB")
    return out


def update_supported() -> bool:
    return subprocess.run(medsearch("update", "--help"), cwd=REPO,
                          capture_output=True).returncode == 0


def update_step(size: str, seeds: Path, root: str) -> dict:
    """Change 10 pages, run `medsearch update`, then put the pages back."""
    pages = sorted(p for p in seeds.rglob("*.html"))
    rng = random.Random(f"bench-update:{size}")
    chosen = rng.sample(pages, 10)
    backup = {p: p.read_bytes() for p in chosen}
    try:
        for p in chosen:  # a page edited: a sentence added after its heading
            text = p.read_bytes()
            # Some layouts write upper-case tags (<H1>, <TITLE>).
            marker = re.search(rb"</h1>|</title>", text, re.IGNORECASE)
            end = marker.end() if marker else len(text)
            p.write_bytes(text[:end] + b"\n<p>Updated: a new sentence about lumbar "
                          b"stenosis decompression outcomes.</p>" + text[end:])
            os.utime(p)
        cmd = medsearch("update", "--seeds", str(seeds), "--index", root)
        log(f"[{size}] update after 10 changed pages")
        res = run_measured(cmd, REPO)
    finally:
        for p, data in backup.items():
            p.write_bytes(data)
    out = {"seconds": res["seconds"], "peak_rss_mb": res["peak_rss_mb"],
           "returncode": res["returncode"], "stdout": res["stdout"][-500:],
           "stderr": res["stderr"][-500:]}
    log(f"[{size}]   update: {out['seconds']:.1f} s (exit {out['returncode']})")
    return out


NEVER_ASKED = "api:queries never asked before"  # search_step's in-process run without memory
NEVER_ASKED_VARIANT = ", never asked"  # a ranking variant's run without memory
# ... and with no phrase read before: a concept never searched reads positions.
PHRASES_UNREAD = "api:never asked, no phrase read before"


def search_step(size: str, root: str, rounds: int, variants: dict[str, list[str]]) -> dict:
    out = {}
    fts = WORK / f"fts-{size}.db"
    runs = [(engine, engine, []) for engine in ("api", "whoosh", "fts5")]
    # The timed rounds repeat the warm-up's queries, which the engine remembers
    # (what a search decided, per generation): also time each as if never asked.
    runs.append((NEVER_ASKED, "api", ["--no-query-memory"]))
    runs.append((PHRASES_UNREAD, "api", ["--no-query-memory", "--forget-phrases"]))
    for name, settings in variants.items():
        changed = [arg for setting in settings for arg in ("--set", setting)]
        runs.append((f"api:{name}", "api", changed))
        runs.append((f"api:{name}{NEVER_ASKED_VARIANT}", "api", ["--no-query-memory", *changed]))
    for key, engine, extra in runs:
        cmd = [PY, "-m", "bench.searching", engine, root, "--rounds", str(rounds), *extra]
        if engine == "fts5":
            cmd += ["--fts", str(fts), "--build-fts"]
        log(f"[{size}] search: {key}")
        res = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
        if res.returncode:
            raise SystemExit(f"search benchmark failed: {res.stderr[-3000:]}")
        out[key] = json.loads(res.stdout)
        r = out[key]
        log(f"[{size}]   {key}: p50 {r['p50']:.1f} ms, p95 {r['p95']:.1f}, p99 {r['p99']:.1f}, "
            f"rss {r['rss_mb']:.0f} MB")
    return out


def parse_variants(specs: list[str]) -> dict[str, list[str]]:
    """--variant "NAME:SETTING=VALUE,SETTING=VALUE" -> {NAME: ["SETTING=VALUE", ...]}."""
    variants = {}
    for spec in specs:
        name, _, settings = spec.partition(":")
        if not name or not settings:
            raise SystemExit(f"--variant {spec!r}: write NAME:SETTING=VALUE[,SETTING=VALUE]")
        variants[name] = [s for s in settings.split(",") if s]
    return variants


# --- the report ------------------------------------------------------------------

def ratio(a, b) -> str:
    if a is None or b in (None, 0):
        return "–"
    return f"{a / b:.2f}×"


def fmt(value, unit="", digits=1) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}{unit}"


def web_rows(w: dict, s: dict | None) -> list[tuple]:
    """The site's rows, each beside the in-process search of the same kind: a
    site that remembers searches beside the in-process rounds (which repeat the
    warm-up's queries), a site that remembers none beside --no-query-memory.
    The in-process figures are those measured just before and after the
    site's load (bench.web.in_process) when the run has them, else the
    search step's. A run that has them also sets each route beside the same
    route answered by the app in process (its page or JSON included): what
    the serving itself gains on two cores, like for like."""
    if w.get("unavailable") or w.get("error"):
        return [("web", "n/a", w.get("unavailable") or w.get("error"), "–", "–")]
    rows = []
    for suffix, kind, api_key in (("", "asked again", "api"),
                                  (":never asked", "never asked", NEVER_ASKED)):
        if f"page{suffix}" not in w:
            continue
        same_minutes = w.get("in_process" + suffix)
        api = same_minutes or (s or {}).get(api_key)
        when = ", same minutes" if same_minutes else ""
        if same_minutes:
            rows.append((f"web, {kind}: in-process mean just before / after the site's load (ms)",
                         f"{same_minutes['before']['mean']:.1f} / "
                         f"{same_minutes['after']['mean']:.1f}", "–", "–", "–"))
        for key, route in (("page", "/?q="), ("api", "/api/search")):
            x, where = w[key + suffix], f"web {route}, {kind}"
            rate = 1000 / api["mean"] if api else None
            rows.append((f"{where}: requests/s ({w['connections']} connections, "
                         f"{w['workers']} workers)", fmt(x["rps"]),
                         f"1000 / in-process mean (one core){when}", fmt(rate),
                         ratio(x["rps"], rate)))
            app = (w.get("app_in_process" + suffix) or {}).get(key)
            if app:  # like for like: the same route's page or JSON, in process
                app_rate = 1000 / app["mean"]
                rows.append((f"{where}: requests/s beside the same route in process",
                             fmt(x["rps"]), f"1000 / the app's in-process mean for {route} "
                             f"(one core){when}", fmt(app_rate), ratio(x["rps"], app_rate)))
                rows.append((f"{where}: workers' CPU per request beside the same route in process",
                             fmt(x["cpu_ms_per_request"]), f"the app's in-process CPU per {route} "
                             f"request, mean{when}", fmt(app["cpu"]["mean"]),
                             ratio(x["cpu_ms_per_request"], app["cpu"]["mean"])))
            p99 = x["p99_ms"] if x["requests"] > x["non2xx"] else None
            rows.append((f"{where}: p99 (ms)", fmt(p99), f"in-process p99{when}",
                         fmt(api and api["p99"]), ratio(p99, api and api["p99"])))
            rows.append((f"{where}: non-2xx responses / responses; timeouts and socket errors",
                         f"{x['non2xx']} / {x['requests']:,}; {x['socket_errors']}",
                         "–", "–", "–"))
            cpu = api.get("cpu", {}).get("mean") if api else None
            rows.append((f"{where}: workers' CPU per request (ms)",
                         fmt(x["cpu_ms_per_request"]), f"in-process CPU per query, mean{when}",
                         fmt(cpu), ratio(x["cpu_ms_per_request"], cpu)))
            if x.get("cores_busy"):
                rows.append((f"{where}: cores busy, all workers (each)",
                             f"{sum(x['cores_busy']):.2f} ("
                             + ", ".join(f"{c:.2f}" for c in x["cores_busy"]) + ")",
                             "–", "–", "–"))
        for key, what in (("worker_uss_mb", "USS, its own"), ("worker_pss_mb", "PSS"),
                          ("worker_rss_mb", "RSS")):
            if w.get(key + suffix):
                rows.append((f"web, {kind}: {what} memory per worker after load (MB)",
                             ", ".join(f"{v:.0f}" for v in w[key + suffix]), "–", "–", "–"))
    return rows


def report(results: dict, meta: dict) -> str:
    m = meta["machine"]
    lines = [
        "# medsearch benchmark results",
        "",
        f"- **Date**: {meta['date']}",
        f"- **Command**: `{meta['command']}` (total {meta['seconds'] / 60:.1f} min)",
        f"- **Machine**: {m['cores']} cores, {m['cpu']}, {m['ram_gb']} GB RAM; "
        f"Python {m['python']}; {m['os']}",
        f"- **Commit**: {meta['commit']}",
        f"- **Queries**: {meta['queries']} fixed queries (bench/queries.json): 1–4 words, phrases, "
        "field prefixes, filters, sorted/second pages and misspellings; warm; "
        "latency = one `Index.search()` + `Results.to_dict()` (hits with snippets, year/journal/MeSH "
        "facets, a suggestion when under 3 hits).",
        "- **Baselines** (same run, same records): *bare Whoosh* = `ix.searcher()` (BM25F) with "
        "`MultifieldParser([\"title\",\"abstract\",\"keywords\"], group=OrGroup)`, top 10, no snippets "
        "or facets, over the same index; *FTS5* = SQLite FTS5 (porter unicode61) with "
        "`bm25()` and `snippet()`, top 10, filters via joins; build baseline: `--procs 1` for "
        "`--procs 2`, and the FTS5 load of the already-extracted records.",
        "- The machine is shared with other developers' tests and builds: figures carry that noise.",
        "",
        "| corpus | figure | medsearch | baseline | baseline value | ratio |",
        "|---|---|---:|---|---:|---:|",
    ]
    for size, r in results.items():
        name = "demo" if size == "demo" else f"{int(size):,} pages"
        rows = []
        b1, b2 = r.get("build-p1"), r.get("build-p2")
        fts = (r.get("search") or {}).get("fts5", {}).get("fts_build")
        for label, b in (("--procs 1", b1), ("--procs 2", b2)):
            if not b:
                continue
            base_name, base = ("--procs 1", b1["seconds"]) if (label == "--procs 2" and b1) \
                else ("FTS5 load of the records", fts and fts["seconds"])
            rows.append((f"build {label}: time (s)", fmt(b["seconds"]), base_name, fmt(base),
                         ratio(b["seconds"], base)))
            rows.append((f"build {label}: pages/s", fmt(b["pages_per_s"], digits=0),
                         base_name, fmt(b1["pages_per_s"], digits=0) if label == "--procs 2" and b1 else "–",
                         ratio(b["pages_per_s"], b1["pages_per_s"]) if label == "--procs 2" and b1 else "–"))
            rows.append((f"build {label}: peak RSS, all processes (MB)", fmt(b["peak_rss_mb"], digits=0),
                         "--procs 1" if label == "--procs 2" and b1 else "–",
                         fmt(b1["peak_rss_mb"], digits=0) if label == "--procs 2" and b1 else "–",
                         ratio(b["peak_rss_mb"], b1["peak_rss_mb"]) if label == "--procs 2" and b1 else "–"))
            rows.append((f"build {label}: index size (MB)", fmt(b["index_bytes"] / 2**20),
                         "FTS5 database", fmt(fts and fts["bytes"] / 2**20),
                         ratio(b["index_bytes"], fts and fts["bytes"])))
        u = r.get("update")
        if u:
            if u.get("unsupported"):
                rows.append(("update, 10 pages changed", "n/a", u["unsupported"], "–", "–"))
            else:
                ok = "" if u["returncode"] == 0 else f" (exit {u['returncode']})"
                base = b2 or b1
                rows.append(("update, 10 pages changed: time (s)", fmt(u["seconds"]) + ok,
                             "full build", fmt(base and base["seconds"]),
                             ratio(u["seconds"], base and base["seconds"])))
        s = r.get("search")
        if s:
            api = s["api"]
            for engine, title in (("whoosh", "bare Whoosh"), ("fts5", "FTS5")):
                for p in ("p50", "p95", "p99"):
                    rows.append((f"search {p} (ms)", fmt(api[p]), title, fmt(s[engine][p]),
                                 ratio(api[p], s[engine][p])))
            for key, other in s.items():
                if key.startswith("api:"):  # a ranking variant (--variant), beside the product's
                    base, title = api, "product ranking"
                    if key.endswith(NEVER_ASKED_VARIANT) and NEVER_ASKED in s:
                        base, title = s[NEVER_ASKED], "product ranking, never asked"
                    for p in ("p50", "p95", "p99"):
                        rows.append((f"search p{p[1:]} (ms), {key[4:]}", fmt(other[p]),
                                     title, fmt(base[p]), ratio(other[p], base[p])))
            for key, other in s.items():
                if key == "api" or key.startswith("api:"):
                    label = "" if key == "api" else f", {key[4:]}"
                    if other.get("cpu"):  # load-independent: compare these across runs
                        rows.append((f"search CPU per query, p50 / mean (ms){label}",
                                     f"{other['cpu']['p50']:.1f} / {other['cpu']['mean']:.1f}",
                                     "–", "–", "–"))
            errors = api.get("errors", 0)
            if errors:
                rows.append(("searches stopped by the 3 s time limit", str(errors), "–", "–", "–"))
            rows.append(("search process RSS (MB)", fmt(api["rss_mb"], digits=0), "bare Whoosh",
                         fmt(s["whoosh"]["rss_mb"], digits=0), ratio(api["rss_mb"], s["whoosh"]["rss_mb"])))
        w = r.get("web")
        if w:
            rows += web_rows(w, s)
        for row in rows:
            lines.append(f"| {name} | " + " | ".join(row) + " |")
    lines += ["", "Raw figures: bench/work/results.json (not committed).", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="demo,20000,100000",
                        help="comma-separated: demo and/or page counts (default demo,20000,100000)")
    parser.add_argument("--skip", default="", help=f"comma-separated steps to skip: {','.join(STEPS)}")
    parser.add_argument("--web-sizes", default=None,
                        help="sizes to load-test over the web (default: every size run)")
    parser.add_argument("--variant", action="append", default=[],
                        metavar="NAME:SETTING=VALUE[,SETTING=VALUE]",
                        help="also time Index.search with these Ranking settings changed, "
                             "reported beside the product's ranking (repeatable), e.g. "
                             "--variant 'reranker on:semantic=1.0'")
    parser.add_argument("--reuse", default="",
                        help="comma-separated sizes whose index from an earlier run is searched "
                             "again instead of rebuilt (no build figures for them)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds over the queries")
    parser.add_argument("--web-seconds", type=int, default=20)
    parser.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("--report-only", action="store_true",
                        help="rewrite the report from bench/work/results.json, running nothing")
    args = parser.parse_args(argv)
    if args.report_only:
        saved = json.loads((WORK / "results.json").read_text())
        args.out.write_text(report(saved["results"], saved["meta"]))
        return 0
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    reuse = {s.strip() for s in args.reuse.split(",") if s.strip()}
    web_sizes = set(args.web_sizes.split(",")) if args.web_sizes else set(sizes)
    variants = parse_variants(args.variant)
    WORK.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    results: dict = {}
    has_update = update_supported()
    for size in sizes:
        r = results[size] = {}
        seeds = seeds_for(size)
        if size in reuse:
            root = str(WORK / f"index-{size}-p2")
            log(f"[{size}] reusing the index in {root}")
        else:
            if "build-p1" not in skip:
                r["build-p1"] = build_step(size, seeds, 1)
            if "build-p2" not in skip or "build-p1" in skip:
                r["build-p2"] = build_step(size, seeds, 2)
            root = (r.get("build-p2") or r["build-p1"])["root"]
        if r.get("build-p1") and r.get("build-p2"):
            shutil.rmtree(r["build-p1"]["root"], ignore_errors=True)
        if "search" not in skip:
            r["search"] = search_step(size, root, args.rounds if size != "100000" else
                                      max(1, args.rounds - 1), variants)
        if "web" not in skip and size in web_sizes:
            why = web_available(REPO)
            r["web"] = {"unavailable": why} if why else run_web(
                REPO, root, duration=args.web_seconds, log=log)
        if "update" not in skip:
            r["update"] = update_step(size, seeds, root) if has_update else \
                {"unsupported": "`medsearch update` does not exist yet"}
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                            capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                           capture_output=True, text=True).stdout.strip()
    meta = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "command": " ".join(["python -m bench", *map(shlex.quote, (argv or sys.argv[1:]))]),
            "machine": machine(), "seconds": time.perf_counter() - started,
            "commit": commit + (" (with uncommitted changes by others in the tree)" if dirty else ""),
            "queries": len(json.loads((HERE / "queries.json").read_text()))}
    for r in results.values():
        for s in (r.get("search") or {}).values():
            s.pop("per_query", None)
    (WORK / "results.json").write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    args.out.write_text(report(results, meta))
    log(f"wrote {args.out}")
    return 0

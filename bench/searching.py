"""Search latency: medsearch's API, a bare Whoosh searcher, SQLite FTS5; and
the API beside the web app's routes answered in process (`app`).

Run in a fresh process per engine so that memory figures are its own:

    python -m bench.searching api|app|whoosh|fts5 INDEX_ROOT [--rounds N] [--fts DB]

prints one JSON object: latencies in ms per query (warm), RSS, counts.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import sqlite3
import sys
import time
from pathlib import Path

import psutil

from bench.queries import load_queries


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


def summary(latencies: list[float]) -> dict:
    return {"p50": percentile(latencies, 50), "p95": percentile(latencies, 95),
            "p99": percentile(latencies, 99), "mean": sum(latencies) / len(latencies),
            "n": len(latencies)}


# ms of the process's CPU per timed query, every thread's (the embedding
# model's helper threads included): what the machine's other load does not
# inflate much, and what the web workers' CPU per request is compared with.
CPU_TIMES: list[float] = []


def _timed(run, queries, rounds: int) -> list[float]:
    (latencies, cpu), = _timed_in_turns({"": run}, queries, rounds).values()
    CPU_TIMES.extend(cpu)
    return latencies


def _timed_in_turns(runs: dict, queries, rounds: int) -> dict[str, tuple[list, list]]:
    """Each run's (latencies, CPU times) in ms, the runs taking turns query by
    query: in one process and the same seconds, so the machine's other load
    falls on each alike."""
    for q in queries:  # warm: caches, searchers, the OS page cache
        for run in runs.values():
            run(q)
    timed = {name: ([], []) for name in runs}
    names = list(runs)
    gc.collect()
    for _ in range(rounds):
        for i, q in enumerate(queries):
            # A query's first run meets its postings colder than the next: the first changes.
            for name in names[i % len(names):] + names[:i % len(names)]:
                started, cpu = time.perf_counter(), time.process_time()
                runs[name](q)
                timed[name][0].append((time.perf_counter() - started) * 1000)
                timed[name][1].append((time.process_time() - cpu) * 1000)
    return timed


# --- medsearch ------------------------------------------------------------------

ERRORS: list[str] = []


def ranking_with(settings: list[str]):
    """The product's ranking (indexer.query.settings.DEFAULT) with `settings`
    ("name=value", the value as Python reads it) changed, or None when none
    are: how a row with another setting (e.g. a reranker on) is measured."""
    import ast
    from dataclasses import fields, replace

    from indexer.query.settings import DEFAULT

    if not settings:
        return None
    names = {f.name for f in fields(DEFAULT)}
    changes = {}
    for item in settings:
        name, _, value = item.partition("=")
        if name not in names:
            raise SystemExit(f"--set {item}: Ranking has no setting {name!r} "
                             f"(it has {', '.join(sorted(names))})")
        try:
            changes[name] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            changes[name] = value  # a word, such as a model name
    return replace(DEFAULT, **changes)


def forget_queries(change=setattr) -> None:
    """Every search in this process costs what a query never asked before
    costs: no search is remembered (the engine's memory of what it decided)
    and no query's embedding either (the model's memory of query vectors,
    which made a "never asked" search skip the semantic rerank's embedding).

    `change(owner, name, value)` sets each: a test passes pytest's
    monkeypatch.setattr, which puts them back afterwards."""
    from indexer.whoosh_engine import embedding
    from indexer.whoosh_engine.engine import WhooshEngine

    change(WhooshEngine, "queries_kept", 0)
    change(embedding, "query_vector",
           getattr(embedding.query_vector, "__wrapped__", embedding.query_vector))


def _as_a_worker(remember: bool, one_core: bool) -> None:
    """This process searches as a web worker does (`one_core`), and `remember`
    False: every query costs what it costs the first time it is asked."""
    if one_core:
        # As `medsearch serve` loads the model before forking its workers:
        # one thread per run. By default a run takes two, and the second
        # core, idle beside a lone search, did a third of a never-asked
        # search's embedding: not the one core the site is set beside.
        from indexer.semantic.model import load_before_fork

        load_before_fork()
    if not remember:
        forget_queries()


def api_runner(root: str, time_limit: float | None = None, settings: list[str] | None = None,
               remember: bool = True, forget_phrases: bool = False, one_core: bool = False):
    from indexer import open_index

    _as_a_worker(remember, one_core)
    index = open_index(root)
    if time_limit is not None:
        index.time_limit = time_limit
    return _searches(index, ranking_with(settings or []), forget_phrases)


def _searches(index, ranking=None, forget_phrases: bool = False):
    from indexer import QueryError

    def run(q: dict):
        args = {k: v for k, v in q.items() if k != "q"}
        tables = index.engine._memory._tables
        if forget_phrases and "phrases" in tables:  # the generation's phrase documents
            tables["phrases"][1].clear()
        try:
            res = index.search(q["q"], ranking=ranking, **args)
        except QueryError as exc:  # e.g. the search time limit: counted, reported
            ERRORS.append(f"{q}: {exc}")
            return None
        # What the results page shows: hits with snippets, facets, suggestion.
        return res.to_dict()

    return run


def app_runners(root: str, remember: bool = True, one_core: bool = False) -> dict:
    """The search alone ("search", as `api` times it) and each route the site
    is loaded on (bench.web.ROUTES) answered by the web app in process: the
    WSGI call a worker makes, its template or JSON included, without
    gunicorn or HTTP. On one index, so that the routes' searches cost what
    the search alone does."""
    from bench.web import ROUTES
    from webui import create_app, get_index

    _as_a_worker(remember, one_core)
    app = create_app({"INDEX": root})
    with app.app_context():
        runs = {"search": _searches(get_index())}
    runs.update({route: _answers(app, route) for _, route in ROUTES})
    return runs


def _answers(app, route: str):
    """run(q): the body `app` answers q with at `route`; a status other than 2xx is an error."""
    from urllib.parse import urlencode

    from werkzeug.test import EnvironBuilder

    environs: dict[str, dict] = {}  # built once per query, outside the timed calls

    def respond(status, headers, exc_info=None):
        if not status.startswith("2"):
            ERRORS.append(f"{route}: {status}")

    def run(q: dict):
        query = urlencode({"q": q["q"], **{k: v for k, v in q.items() if k != "q"}})
        if query not in environs:
            environs[query] = EnvironBuilder(path=route, query_string=query).get_environ()
        return b"".join(app(dict(environs[query]), respond))

    return run


# --- bare Whoosh ------------------------------------------------------------------

def whoosh_runner(root: str):
    from whoosh import index as whoosh_index
    from whoosh.qparser import MultifieldParser, OrGroup

    from indexer.whoosh_engine.generations import current_generation

    ix = whoosh_index.open_dir(str(current_generation(Path(root))))
    searcher = ix.searcher()
    parser = MultifieldParser(["title", "abstract", "keywords"], ix.schema, group=OrGroup)

    def run(q: dict):
        results = searcher.search(parser.parse(q["q"]), limit=10)
        return [hit["pmid"] for hit in results]

    return run


# --- SQLite FTS5 ------------------------------------------------------------------

def build_fts(root: str, db: str) -> dict:
    """An FTS5 table of the records stored in the index (the same records)."""
    from whoosh import index as whoosh_index

    from indexer.whoosh_engine.generations import current_generation

    if os.path.exists(db):
        os.unlink(db)
    started = time.perf_counter()
    ix = whoosh_index.open_dir(str(current_generation(Path(root))))
    con = sqlite3.connect(db)
    con.executescript("""
        CREATE VIRTUAL TABLE docs USING fts5(title, abstract, keywords, authors, journal,
                                             tokenize='porter unicode61');
        CREATE TABLE meta(id INTEGER PRIMARY KEY, pmid TEXT, year INT, journal TEXT);
        CREATE TABLE mesh(id INT, term TEXT);
    """)
    with ix.searcher() as searcher:
        for n, stored in enumerate(searcher.all_stored_fields(), 1):
            keywords = stored.get("keyword_list") or []
            con.execute("INSERT INTO docs(rowid, title, abstract, keywords, authors, journal) "
                        "VALUES (?,?,?,?,?,?)",
                        (n, stored["title"], stored.get("abstract") or "", "\n".join(keywords),
                         "\n".join(stored.get("author_list") or []), stored.get("journal_title") or ""))
            con.execute("INSERT INTO meta VALUES (?,?,?,?)",
                        (n, stored["pmid"], stored.get("year") or 0, stored.get("journal_title")))
            con.executemany("INSERT INTO mesh VALUES (?,?)", [(n, k) for k in keywords])
    con.executescript("CREATE INDEX mesh_term ON mesh(term); CREATE INDEX meta_year ON meta(year);"
                      "INSERT INTO docs(docs) VALUES('optimize');")
    con.commit()
    con.close()
    ix.close()
    return {"seconds": time.perf_counter() - started, "bytes": os.path.getsize(db)}


_COLUMNS = {"title": "title", "abstract": "abstract", "mesh": "keywords", "keywords": "keywords",
            "author": "authors", "authors": "authors", "journal": "journal"}
_TOKEN = re.compile(r'(\w+):("[^"]*"|\S+)|("[^"]*")|(\S+)')


def fts_match(text: str) -> str | None:
    """The user's query as an FTS5 MATCH expression: an OR of words and phrases."""
    parts = []
    for field, value, phrase, word in _TOKEN.findall(text):
        if field:
            words = re.findall(r"\w+", value)
            if words and field.lower() in _COLUMNS:
                parts.append(f'{_COLUMNS[field.lower()]} : "{" ".join(words)}"')
        elif phrase:
            words = re.findall(r"\w+", phrase)
            if words:
                parts.append('"' + " ".join(words) + '"')
        else:
            parts += [f'"{w}"' for w in re.findall(r"\w+", word)]
    return " OR ".join(parts) or None


def fts_runner(db: str):
    con = sqlite3.connect(db)

    def run(q: dict):
        match = fts_match(q["q"])
        if match is None:
            return []
        where, args = ["docs MATCH ?"], [match]
        if q.get("year_from") is not None:
            where.append("meta.year BETWEEN ? AND ?")
            args += [q["year_from"], q["year_to"]]
        if q.get("journal"):
            where.append("meta.journal = ?")
            args.append(q["journal"])
        if q.get("mesh"):
            where.append("docs.rowid IN (SELECT id FROM mesh WHERE term = ?)")
            args.append(q["mesh"])
        order = "meta.year DESC" if q.get("sort") == "newest" else "bm25(docs, 2.0, 1.0, 1.5, 1.0, 1.0)"
        offset = (q.get("page", 1) - 1) * 10
        sql = (f"SELECT meta.pmid, docs.title, snippet(docs, 1, '<mark>', '</mark>', ' … ', 40) "
               f"FROM docs JOIN meta ON meta.id = docs.rowid WHERE {' AND '.join(where)} "
               f"ORDER BY {order} LIMIT 10 OFFSET {offset}")
        return con.execute(sql, args).fetchall()

    return run


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("engine", choices=["api", "app", "whoosh", "fts5"])
    parser.add_argument("root")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--fts", help="the FTS5 database (built first when --build-fts)")
    parser.add_argument("--build-fts", action="store_true")
    parser.add_argument("--profile", help="write a pyinstrument profile (HTML/text) here")
    parser.add_argument("--no-query-memory", action="store_true",
                        help="api, app: searches are not remembered (the cost of a query never "
                             "asked before; the timed rounds otherwise repeat the warm-up's)")
    parser.add_argument("--forget-phrases", action="store_true",
                        help="api: the documents of phrases read before are forgotten before "
                             "each search (a concept or quoted phrase never searched before "
                             "reads positions; the warm-up would otherwise have read them)")
    parser.add_argument("--one-core", action="store_true",
                        help="api, app: the embedding model runs on one thread, as in each web "
                             "worker (by default it takes two cores' threads for a query)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="api: a Ranking setting changed from the product's (repeatable), "
                             "e.g. --set semantic=1.0 for a reranker-on row")
    args = parser.parse_args(argv)
    queries = load_queries()
    out: dict = {"engine": args.engine, "queries": len(queries)}
    if args.engine == "fts5" and args.build_fts:
        out["fts_build"] = build_fts(args.root, args.fts)
    if args.engine == "app":
        # The search's figures as `api` writes them, and each route's beside them.
        timed = _timed_in_turns(app_runners(args.root, not args.no_query_memory, args.one_core),
                                queries, args.rounds)
        latencies, cpu = timed.pop("search")
        CPU_TIMES.extend(cpu)
        out["routes"] = {route: {**summary(times), "cpu": summary(cpus)}
                         for route, (times, cpus) in timed.items()}
        return _write(out, latencies)
    run = {"api": lambda: api_runner(args.root, 600 if args.profile else None, args.set,
                                      not args.no_query_memory, args.forget_phrases, args.one_core),
           "whoosh": lambda: whoosh_runner(args.root),
           "fts5": lambda: fts_runner(args.fts)}[args.engine]()
    if args.profile:
        from pyinstrument import Profiler

        for q in queries:
            run(q)
        profiler = Profiler(interval=0.0005)
        profiler.start()
        for q in queries:
            run(q)
        profiler.stop()
        Path(args.profile).write_text(profiler.output_text(unicode=True, show_all=False))
        return 0
    return _write(out, _timed(run, queries, args.rounds))


def _write(out: dict, latencies: list[float]) -> int:
    """Print `out` with the timed figures as JSON."""
    out.update(summary(latencies))
    # CPU time is what a busy machine does not inflate (other processes' load
    # stretches wall time): the figures to compare across runs on a shared machine.
    out["cpu"] = summary(CPU_TIMES)
    out["per_query"] = latencies[-out["queries"]:]
    out["errors"] = len(ERRORS)
    out["error_examples"] = ERRORS[:3]
    out["rss_mb"] = psutil.Process().memory_info().rss / 2**20
    # The threads the model ran queries on (None: it never ran, e.g. rerank off).
    from indexer.semantic.model import loaded_threads

    out["model_threads"] = loaded_threads()
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())

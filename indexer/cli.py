"""The `medsearch` command: a thin shell over the core.

Each command mirrors one function of the library and turns its exceptions
into a one-line message and an exit status (0 ok, 1 failed, 2 usage).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from . import engine
from .errors import ExtractionError, IndexDamaged, MedsearchError
from .pages.extract import extract_file
from .pages.text import printable
from .query.settings import DEFAULT
from .search import SORTS, open_index


def default_seeds() -> str:
    return os.environ.get("MEDSEARCH_SEEDS", "seeds")


def default_index() -> str:
    return os.environ.get("MEDSEARCH_INDEX", "index")


def progress_bar(stream=None):
    """A progress callback drawing a bar on a terminal; None elsewhere."""
    stream = stream or sys.stderr
    if not stream.isatty():
        return None

    def draw(done: int, total: int) -> None:
        if done % 20 and done != total:
            return
        width = 30
        filled = width * done // max(total, 1)
        stream.write(f"\r[{'#' * filled}{' ' * (width - filled)}] {done}/{total} pages")
        if done == total:
            stream.write("\n")
        stream.flush()

    return draw


def print_report(report, out=None) -> None:
    """The build summary: counts, skipped pages with reasons, time."""
    out = out or sys.stdout
    print(f"pages read:      {report.pages}", file=out)
    print(f"records indexed: {report.indexed}", file=out)
    print(f"duplicates:      {report.duplicates}", file=out)
    if getattr(report, "command", "build") == "update":
        print(f"added:           {report.added}", file=out)
        print(f"changed:         {report.changed}", file=out)
        print(f"removed:         {report.removed}", file=out)
        print(f"unchanged:       {report.unchanged}", file=out)
    print(f"pages skipped:   {len(report.skipped)}", file=out)
    for source, reason in report.skipped:
        print(f"  {source}: {reason}", file=out)
    if getattr(report, "note", ""):
        print(f"note:            {report.note}", file=out)
    print(f"time:            {report.seconds:.1f} s", file=out)
    if getattr(report, "vectors", ""):
        print(f"vectors:         {report.vectors}", file=out)
    for name, about in getattr(report, "vocabulary", {}).items():
        print(f"{name + ':':<17}{about}", file=out)


def print_stats(stats: dict, out=None) -> None:
    """`medsearch stats` as text: what the index holds and how it was built."""
    out = out or sys.stdout
    print(f"index:           {stats['index']} ({stats['generation']})", file=out)
    print(f"documents:       {stats['documents']}", file=out)
    print(f"built:           {stats['built_at'] or 'unknown'} by `medsearch "
          f"{stats['command']}` from {stats['seeds'] or 'unknown'}", file=out)
    print(f"size on disk:    {stats['size_bytes'] / 1e6:.1f} MB", file=out)
    print(f"pages skipped:   {len(stats['skipped'])}", file=out)
    for item in stats["skipped"]:
        print(f"  {item['source']}: {item['reason']}", file=out)
    print(f"checksums:       {stats['checksums']}", file=out)
    if stats.get("vectors"):
        print(f"vectors:         {stats['vectors']}", file=out)
    print(f"synonyms:        {stats['synonyms']}", file=out)
    print(f"abbreviations:   {stats['abbreviations']}", file=out)


# --- commands ----------------------------------------------------------------

def cmd_build(args) -> int:
    report = engine.build_index(args.seeds, args.index, procs=args.procs,
                                progress=progress_bar(), mesh_file=args.mesh_file,
                                solr=args.solr, shards=args.shards, replicas=args.replicas,
                                embed=not args.no_embed)
    print_report(report)
    return 0


def cmd_update(args) -> int:
    report = engine.update_index(args.seeds, args.index, procs=args.procs,
                                  progress=progress_bar(), mesh_file=args.mesh_file,
                                  solr=args.solr, embed=not args.no_embed)
    print_report(report)
    return 0


def cmd_stats(args) -> int:
    stats = engine.index_stats(args.index, solr=args.solr)
    if args.json:
        print(json.dumps(stats, ensure_ascii=False, indent=1))
    else:
        print_stats(stats)
    return 0


def cmd_check(args) -> int:
    """Every damaged file of the live generation, one per line; exit 1 if any."""
    check = engine.check_index(args.index, solr=args.solr)
    if check.damaged is None:
        print(f"{check.generation}: no checksums (built before checksums were recorded): "
              "rebuild to add them")
        return 0
    for damage in check.damaged:
        print(damage)
    if check.damaged:
        raise IndexDamaged(check.message)
    print(check.summary or
          f"{check.generation}: {check.files} files, sizes and checksums as published")
    if check.vectors:  # ignored when damaged: the index itself is sound
        print(f"vectors: {check.vectors}")
    return 0


def cmd_extract(args) -> int:
    failed = False
    for path in args.paths:
        try:
            record = extract_file(path)
        except ExtractionError as exc:
            print(f"{printable(path)}: {exc}", file=sys.stderr)
            failed = True
            continue
        if args.json:
            print(json.dumps(record.to_dict(), ensure_ascii=False))
        else:
            print(f"{printable(path)}: {record.pmid} {record.title}")
    return 1 if failed else 0


def cmd_search(args) -> int:
    # Bytes that are not UTF-8 reach argv as lone surrogates, which no
    # output can print: read them as U+FFFD, as browsers do in URLs.
    args.query = os.fsencode(args.query).decode("utf-8", "replace")
    index = open_index(args.index, solr=args.solr)
    results = index.search(
        args.query, page=args.page, per_page=args.limit, sort=args.sort,
        year_from=args.year_from, year_to=args.year_to,
        journal=args.journal, mesh=args.mesh, expand=not args.no_expand,
        ranking=DEFAULT.without_semantic() if args.no_semantic else None,
    )
    if args.json:
        print(json.dumps(results.to_dict(), ensure_ascii=False, indent=1))
        return 0
    for exp in results.expansions:
        if exp["type"] == "spelling":
            print(f"no results for {exp['from']!r}: searched {exp['to'][0]!r} instead")
        else:
            mesh = " [MeSH]" if exp["type"] == "concept" else ""
            print(f"also searched ({exp['type']}): {exp['from']} -> {'; '.join(exp['to'])}{mesh}")
    if results.semantic_note:
        print(results.semantic_note, file=sys.stderr)
    if not results.total:
        print(f"no results for {args.query!r}")
    first = (results.page - 1) * results.per_page
    for rank, hit in enumerate(results.hits, first + 1):
        year = hit.year or "----"
        print(f"{rank:>3}. [{hit.score:7.3f}] {year}  {hit.title}")
        if hit.url:
            print(f"     {hit.url}")
    if results.total:
        shown = f"{first + 1}-{first + len(results.hits)}" if results.hits else "none"
        print(f"{results.total} results ({shown} shown) in {results.took * 1000:.0f} ms")
    if results.suggestion:
        print(f"did you mean: {results.suggestion}")
    return 0


def cmd_eval(args) -> int:
    # Imported here: evaluation needs the `eval` extra (ir-measures, bm25s).
    from .evaluation import evaluate

    names = list(evaluate.testsets.TEST_SETS) if args.collection == "all" else [args.collection]
    ranking = evaluate.switched_off(evaluate.DEFAULT, [
        name for name in evaluate.SWITCHES if getattr(args, f"no_{name}".replace("-", "_"))])
    rows = evaluate.evaluate(
        names, data=args.data, ranking=ranking, ablation=not args.no_ablation,
        run_file=args.run, max_queries=args.max_queries, solr=args.solr,
        log=None if args.json else lambda message: print(message, file=sys.stderr))
    if args.json:
        print(json.dumps(evaluate.to_json(rows), indent=1))
    else:
        print(evaluate.format_table(rows))
    return 0


def cmd_serve(args) -> int:
    # The web UI is a shell of its own; the CLI only starts it.
    from webui.server import check_can_serve, serve

    # Before any build: a taken port should not cost a build first.
    check_can_serve(args.host, args.port, args.public_url)
    if not engine.has_index(args.index, solr=args.solr):
        print(f"no index at {args.index}: building it from {args.seeds} first", file=sys.stderr)
        print_report(engine.build_index(args.seeds, args.index, procs=args.procs,
                                        progress=progress_bar(), mesh_file=args.mesh_file,
                                        solr=args.solr),
                     out=sys.stderr)
    serve(args.index, host=args.host, port=args.port, workers=args.workers,
          public_url=args.public_url, solr=engine.solr_address(args.solr),
          semantic=not args.no_semantic)
    return 0


def cmd_cluster(args) -> int:
    from .solr_engine import cluster as solr_cluster  # only `cluster` needs it

    if args.action == "up":
        url = solr_cluster.up(args.dir, nodes=args.nodes, port_base=args.port_base,
                              log=lambda message: print(message, file=sys.stderr))
        print(f"MEDSEARCH_SOLR={url}")
        return 0
    if args.action == "status":
        state = solr_cluster.status(args.dir)
        print(json.dumps(state, indent=1) if args.json else solr_cluster.format_status(state))
        return 0 if solr_cluster.all_live(state) else 1
    stopped = solr_cluster.down(args.dir)
    print(f"stopped {stopped} processes in {args.dir}" if stopped
          else f"nothing was running in {args.dir}")
    return 0


# --- the parser ----------------------------------------------------------------

def _public_url(text: str) -> str:
    from webui import public_url

    try:
        return public_url(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="medsearch", description="Full-text search over medical abstracts.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_index(sub):
        sub.add_argument("--index", default=default_index(),
                         help="index folder (default: $MEDSEARCH_INDEX or index/); on "
                              "SolrCloud its last name is the collection alias")
        sub.add_argument("--solr", metavar="URL",
                         help="search and build on the SolrCloud at URL, e.g. "
                              "http://127.0.0.1:8983/solr (default: $MEDSEARCH_SOLR; "
                              "none: the Whoosh index)")
        return sub

    def with_mesh_file(sub):
        sub.add_argument("--mesh", dest="mesh_file", metavar="FILE",
                         help="NLM's MeSH descriptor XML, desc<year>.xml (default: "
                              "$MEDSEARCH_MESH, else CTD's diseases in the data folder)")

    for name, func, about in (
            ("build", cmd_build, "build the index from the seeds folder"),
            ("update", cmd_update, "re-index only the pages added, changed or removed "
                                   "since the last build or update")):
        sub = with_index(commands.add_parser(name, help=about))
        sub.add_argument("--seeds", default=default_seeds(),
                         help="folder of pages (default: $MEDSEARCH_SEEDS or seeds/)")
        sub.add_argument("--procs", type=int, default=min(2, os.cpu_count() or 1),
                         help="processes for extraction and indexing (default: up to 2)")
        with_mesh_file(sub)
        sub.add_argument("--no-embed", action="store_true",
                         help="skip embedding for the semantic rerank (ranking stays lexical "
                              "until an update embeds)")
        sub.set_defaults(func=func)
    for option in ("shards", "replicas"):
        commands.choices["build"].add_argument(
            f"--{option}", type=int, metavar="N",
            help=f"SolrCloud only: the new collection's {option} (default 1)")

    sub = with_index(commands.add_parser(
        "stats", help="documents, build time and folder, size, pages skipped"))
    sub.add_argument("--json", action="store_true", help="as JSON")
    sub.set_defaults(func=cmd_stats)

    sub = with_index(commands.add_parser(
        "check", help="verify the index (Whoosh: its files against their checksums; SolrCloud: "
                 "leaders, replicas, document count); list the problems"))
    sub.set_defaults(func=cmd_check)

    sub = with_index(commands.add_parser(
        "serve", help="serve the search site (builds the index first if there is none)"))
    sub.add_argument("--seeds", default=default_seeds(),
                     help="folder of pages to build from when there is no index")
    sub.add_argument("--procs", type=int, default=min(2, os.cpu_count() or 1),
                     help=argparse.SUPPRESS)
    with_mesh_file(sub)
    sub.add_argument("--host", default="127.0.0.1")
    sub.add_argument("--port", type=int, default=8000)
    sub.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    sub.add_argument("--no-semantic", action="store_true",
                     help="rank by words alone, without the semantic rerank")
    sub.add_argument("--public-url", type=_public_url, metavar="URL",
                     help="the address people reach the site at, e.g. behind a reverse proxy "
                          "(default: $MEDSEARCH_PUBLIC_URL, else http://HOST:PORT)")
    sub.set_defaults(func=cmd_serve)

    sub = commands.add_parser("extract", help="print the record extracted from each page")
    sub.add_argument("paths", nargs="+", metavar="PATH")
    sub.add_argument("--json", action="store_true", help="one JSON object per line")
    sub.set_defaults(func=cmd_extract)

    sub = with_index(commands.add_parser("search", help="search the index"))
    sub.add_argument("query")
    sub.add_argument("--limit", type=int, default=10, help="results per page (default 10)")
    sub.add_argument("--page", type=int, default=1)
    sub.add_argument("--sort", choices=SORTS, default="relevance")
    sub.add_argument("--year-from", type=int)
    sub.add_argument("--year-to", type=int)
    sub.add_argument("--journal")
    sub.add_argument("--mesh")
    sub.add_argument("--json", action="store_true", help="the API's fields as JSON")
    sub.add_argument("--no-expand", action="store_true",
                     help="search your words only: no synonyms, abbreviations or spelling "
                          "(the semantic rerank stays on)")
    sub.add_argument("--no-semantic", action="store_true",
                     help="rank by words alone, without the semantic rerank")
    sub.set_defaults(func=cmd_search)

    sub = commands.add_parser("eval", help="measure ranking on a judged test collection")
    sub.add_argument("--collection", required=True,
                     help="med, nfcorpus-titles, nfcorpus-vid-titles, nfcorpus-nontopic, "
                          "their nfcorpus-dev-* twins, or all (the four test sets)")
    sub.add_argument("--run", metavar="FILE", help="write medsearch's TREC run file here")
    sub.add_argument("--json", action="store_true", help="the scores as JSON")
    sub.add_argument("--data", help="data folder (default: $MEDSEARCH_DATA or ../shared/data)")
    sub.add_argument("--max-queries", type=int, help="only the first N queries (quick checks)")
    sub.add_argument("--no-ablation", action="store_true", help="skip the per-switch rows")
    sub.add_argument("--solr", metavar="URL",
                     help="rank on the SolrCloud at URL: each corpus becomes the collection "
                          "alias eval_<corpus> there (default: $MEDSEARCH_SOLR; none: Whoosh)")
    for name in ("concepts", "synonyms", "abbreviations", "spelling", "phrase", "prf", "widen",
                 "pooled-idf", "semantic"):
        sub.add_argument(f"--no-{name}", action="store_true",
                         help=f"medsearch row without {name}")
    sub.set_defaults(func=cmd_eval)

    cluster = commands.add_parser("cluster", help="a local SolrCloud: ZooKeeper and Solr nodes")
    actions = cluster.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, about in (("up", "start ZooKeeper and the Solr nodes; print MEDSEARCH_SOLR=URL"),
                        ("status", "each process's address, pid and whether it is live"),
                        ("down", "stop every process of the cluster (its data stays)")):
        sub = actions.add_parser(name, help=about)
        sub.add_argument("--dir", required=True, help="the cluster's folder: data, logs, pids")
        sub.set_defaults(func=cmd_cluster)
    actions.choices["up"].add_argument("--nodes", type=int, default=2,
                                       help="Solr nodes (default 2)")
    actions.choices["up"].add_argument("--port-base", type=int, default=8983,
                                       help="first node's port; nodes count up from it, "
                                            "ZooKeeper is 1000 above (default 8983)")
    actions.choices["status"].add_argument("--json", action="store_true", help="as JSON")
    return parser


# The exit status of a command whose reader went away (`| head`), as a shell
# reports one killed by SIGPIPE.
BROKEN_PIPE = 128 + 13


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    try:
        status = args.func(args)
        sys.stdout.flush()  # a closed pipe is found here, not at exit
        return status
    except BrokenPipeError:
        # Python's recipe: stdout goes nowhere from now on, so that the flush
        # at exit cannot raise again; the reader has all it wanted.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return BROKEN_PIPE
    except MedsearchError as exc:
        print(f"medsearch: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("medsearch: interrupted; the live index was left as it was", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""The engine seam: what a search engine behind `Index` implements, and which one runs.

`indexer.search.Index` (the public API) and the CLI talk to an engine only
through what is written here. Whoosh (indexer.whoosh_engine) is the one
engine by default; SolrCloud (indexer.solr_engine) is the other, chosen by
`_engine_package` when a SolrCloud address is given (`--solr URL`, the web
app's SOLR, else $MEDSEARCH_SOLR).

What stays engine-neutral and is shared by every engine: reading pages into
records (indexer.pages), query understanding and ranking settings
(indexer.query), result types (indexer.results), export and the errors.
"""

from __future__ import annotations

import os
from pathlib import Path
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from typing import Protocol

from .errors import BuildFailed
from .pages.records import Record
from .query.settings import Ranking
from .results import BuildReport, Hit, IndexCheck, Results

Progress = Callable[[int, int], None]  # (pages done, pages in all)


class SearchEngine(Protocol):
    """One opened index. Errors are indexer.errors: IndexMissing when there is
    no index, IndexDamaged when its files are, QueryError for a query it
    cannot run (or past `time_limit`), Busy when other callers kept it past
    the time limit, ArticleNotFound for an unknown PMID. An engine follows
    rebuilds without being reopened and may be called from several threads.
    Arguments arrive checked (indexer.arguments)."""

    root: Path  # the index folder
    time_limit: float  # seconds one search may take, its wait for a turn included
    turn_limit: float | None  # seconds one search may keep the others waiting (None: no bound)

    def search(self, text: str, page: int = 1, per_page: int = 10, sort: str = "relevance",
               year_from: int | None = None, year_to: int | None = None,
               journal: str | None = None, mesh: str | None = None, expand: bool = True,
               ranking: Ranking | None = None) -> Results:
        """One page of ranked hits with facet counts, a spelling suggestion and the
        expansions searched; `sort` is one of indexer.results.SORTS."""

    def rank(self, text: str, k: int = 100, ranking: Ranking | None = None,
             expand: bool = True) -> list[tuple[str, float]]:
        """The top `k` (pmid, score) pairs, without snippets or facets (for eval)."""

    def count(self, text: str, year_from: int | None = None, year_to: int | None = None,
              journal: str | None = None, mesh: str | None = None) -> int | None:
        """How many documents `search` finds, unranked; None when time runs out first."""

    def records(self, text: str, limit: int = 1000, sort: str = "relevance",
                year_from: int | None = None, year_to: int | None = None,
                journal: str | None = None, mesh: str | None = None) -> list[Record]:
        """The full records of the first `limit` results, in result order (for export)."""

    def article(self, pmid: str) -> Record:
        """The full record of one article."""

    def similar(self, pmid: str, limit: int = 5) -> list[Hit]:
        """Articles like this one."""

    def suggest(self, prefix: str, limit: int = 8) -> list[str]:
        """Completions of the word being typed, most frequent first."""

    @property
    def info(self) -> dict:
        """What the last build saved: counts, time, seeds folder, skipped pages."""

    def __len__(self) -> int:
        """How many articles the live index holds."""

    def deadline(self) -> AbstractContextManager:
        """One time limit for every call in the block (in this thread), e.g. a web page's."""

    def time_left(self) -> float | None:
        """Seconds left of this thread's time limit, None outside one."""

    def close(self) -> None:
        """Release open files; the engine is not used afterwards."""


# --- the build entry points and the one place that chooses an engine -------------

def solr_address(solr: str | None = None) -> str | None:
    """The SolrCloud to use: `solr` (`--solr URL`, the app's SOLR) if given, else
    $MEDSEARCH_SOLR; None (or empty) means the Whoosh index."""
    return (solr if solr is not None else os.environ.get("MEDSEARCH_SOLR")) or None


def _engine_package(solr: str | None = None):
    """The engine that runs, chosen here and nowhere else.

    With a SolrCloud address (solr_address), the SolrCloud engine for it:
    the index is then the collection alias named after the index folder's
    name (`index` by default). Without one, the Whoosh index in the folder.
    Imported here, lazily, so that nothing engine-neutral imports an engine.
    """
    url = solr_address(solr)
    if url:
        from .solr_engine import SolrCloud

        return SolrCloud(url)
    from . import whoosh_engine

    return whoosh_engine


def open_engine(root: str | os.PathLike, solr: str | None = None) -> SearchEngine:
    """The index at `root`, opened; IndexMissing says to run `medsearch build`."""
    return _engine_package(solr).open_engine(root)


def build_index(seeds: str | os.PathLike, root: str | os.PathLike, procs: int = 1,
                progress: Progress | None = None,
                mesh_file: str | os.PathLike | None = None, solr: str | None = None,
                shards: int | None = None, replicas: int | None = None,
                embed: bool = True) -> BuildReport:
    """Index every page under `seeds` and make it the live index at `root`, atomically.

    `mesh_file` is NLM's MeSH descriptor XML (else $MEDSEARCH_MESH, else CTD's
    diseases from the data folder): see indexer.query.mesh.vocabulary.
    `shards` and `replicas` size a SolrCloud collection; Whoosh has neither.
    `embed=False` skips embedding for the semantic rerank (ranking stays lexical
    until an update embeds).
    """
    sizes = {name: n for name, n in (("shards", shards), ("replicas", replicas)) if n}
    if sizes and not solr_address(solr):
        raise BuildFailed("--shards and --replicas size a SolrCloud collection: "
                          "give --solr URL or set MEDSEARCH_SOLR")
    return _engine_package(solr).build_index(seeds, root, procs=procs, progress=progress,
                                             mesh_file=mesh_file, embed=embed, **sizes)


def update_index(seeds: str | os.PathLike, root: str | os.PathLike, procs: int = 1,
                 progress: Progress | None = None,
                 mesh_file: str | os.PathLike | None = None,
                 solr: str | None = None, embed: bool = True) -> BuildReport:
    """Apply the pages added, changed or removed under `seeds` to the index at `root`
    (a different MeSH vocabulary than the live index's rebuilds everything);
    `embed` as for build_index."""
    return _engine_package(solr).update_index(seeds, root, procs=procs, progress=progress,
                                              mesh_file=mesh_file, embed=embed)


def index_records(root: str | os.PathLike, records: Iterable[Record],
                  data: str | os.PathLike | None = None, solr: str | None = None) -> None:
    """Make `records` the live index at `root`, as a build would (for eval's collections)."""
    _engine_package(solr).index_records(root, list(records), data)


def has_index(root: str | os.PathLike, solr: str | None = None) -> bool:
    """Whether `root` holds a live index this engine can open."""
    return _engine_package(solr).has_index(root)


def check_index(root: str | os.PathLike, solr: str | None = None) -> IndexCheck:
    """The live index's files checked against what was recorded when it was published."""
    return _engine_package(solr).check_index(root)


def index_stats(root: str | os.PathLike, solr: str | None = None) -> dict:
    """What `medsearch stats` shows: documents, build time and folder, size, skipped pages."""
    return _engine_package(solr).index_stats(root)

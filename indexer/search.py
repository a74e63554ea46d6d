"""The search API: the one entry point for the CLI, the web UI and code.

    from indexer import open_index
    idx = open_index("index")
    res = idx.search("epidural blood patch", page=1, per_page=10)

`Index` is a thin facade over the engine that indexer.engine chooses; it
checks the caller's arguments (indexer.arguments) and neither knows nor
imports which engine answers.
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager

from . import engine as engine_seam
from .arguments import checked, index_root
from .pages.records import Record
from .query.settings import Ranking
from .results import MAX_PER_PAGE, SORTS, Hit, Results

__all__ = ["Hit", "Index", "MAX_PER_PAGE", "Results", "SORTS", "open_index"]


class Index:
    """A searchable medsearch index; follows rebuilds without reopening."""

    def __init__(self, root: str | os.PathLike | None = None, solr: str | None = None):
        self.engine: engine_seam.SearchEngine = engine_seam.open_engine(index_root(root), solr)
        self.root = self.engine.root

    @property
    def time_limit(self) -> float:
        """Seconds one search may take, its wait for a turn included, before it
        stops with a QueryError."""
        return self.engine.time_limit

    @time_limit.setter
    def time_limit(self, seconds: float) -> None:
        self.engine.time_limit = seconds

    @property
    def turn_limit(self) -> float | None:
        """Seconds one search may keep this process's other searches waiting
        (None: no bound; the web app sets one)."""
        return self.engine.turn_limit

    @turn_limit.setter
    def turn_limit(self, seconds: float | None) -> None:
        self.engine.turn_limit = seconds

    @property
    def info(self) -> dict:
        """What the last build saved: counts, time, seeds folder, skipped pages."""
        return self.engine.info

    def __len__(self) -> int:
        return len(self.engine)

    @checked
    def search(self, text: str, page: int = 1, per_page: int = 10, sort: str = "relevance",
               year_from: int | None = None, year_to: int | None = None,
               journal: str | None = None, mesh: str | None = None, expand: bool = True,
               ranking: Ranking | None = None) -> Results:
        """Ranked results for `text`, one page of them, with facets and a suggestion.

        `expand=False` searches the user's words only: no synonyms,
        abbreviations or spelling fallback. `ranking` overrides the relevance
        settings (for evaluation).
        """
        return self.engine.search(text, page=page, per_page=per_page, sort=sort,
                                  year_from=year_from, year_to=year_to, journal=journal,
                                  mesh=mesh, expand=expand, ranking=ranking)

    @checked
    def rank(self, text: str, k: int = 100, ranking: Ranking | None = None,
             expand: bool = True) -> list[tuple[str, float]]:
        """The top `k` (pmid, score) pairs for `text`, without snippets or facets."""
        return self.engine.rank(text, k=k, ranking=ranking, expand=expand)

    @checked
    def count(self, text: str, year_from: int | None = None, year_to: int | None = None,
              journal: str | None = None, mesh: str | None = None) -> int | None:
        """How many documents `search` finds, unranked; None when time runs out first."""
        return self.engine.count(text, year_from=year_from, year_to=year_to,
                                 journal=journal, mesh=mesh)

    @checked
    def records(self, text: str, limit: int = 1000, sort: str = "relevance",
                year_from: int | None = None, year_to: int | None = None,
                journal: str | None = None, mesh: str | None = None) -> list[Record]:
        """The full records of the first `limit` results, in result order (for export)."""
        return self.engine.records(text, limit=limit, sort=sort, year_from=year_from,
                                   year_to=year_to, journal=journal, mesh=mesh)

    @checked
    def suggest(self, prefix: str, limit: int = 8) -> list[str]:
        """Completions of the word being typed, most frequent first."""
        return self.engine.suggest(prefix, limit)

    @checked
    def article(self, pmid: str) -> Record:
        """The full record of one article."""
        return self.engine.article(pmid)

    @checked
    def similar(self, pmid: str, limit: int = 5) -> list[Hit]:
        """Articles like this one."""
        return self.engine.similar(pmid, limit)

    def deadline(self) -> AbstractContextManager:
        """One time limit for every call in the block (in this thread), e.g. a web page's."""
        return self.engine.deadline()

    def time_left(self) -> float | None:
        """Seconds left of this thread's time limit, None outside one."""
        return self.engine.time_left()

    def close(self) -> None:
        self.engine.close()


def open_index(root: str | os.PathLike | None = None, solr: str | None = None) -> Index:
    """Open the index at `root` (None: $MEDSEARCH_INDEX, else index/);
    IndexMissing says to run `medsearch build`. With a SolrCloud address
    (`solr`, else $MEDSEARCH_SOLR) the index is the collection alias named
    after `root`'s last name, on that cluster."""
    return Index(root, solr)

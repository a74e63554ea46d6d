"""The search API: the one entry point for the CLI, the web UI and code.

    from indexer import open_index
    idx = open_index("index")
    res = idx.search("epidural blood patch", page=1, per_page=10)

`Index` is a thin facade over the engine that indexer.engine chooses; it
neither knows nor imports which one.
"""

from __future__ import annotations

import os

from . import engine as engine_seam
from .pages.records import Record
from .query.settings import Ranking
from .results import MAX_PER_PAGE, SORTS, Hit, Results

__all__ = ["Hit", "Index", "MAX_PER_PAGE", "Results", "SORTS", "open_index"]


class Index:
    """A searchable medsearch index; follows rebuilds without reopening."""

    def __init__(self, root: str | os.PathLike):
        self.engine: engine_seam.SearchEngine = engine_seam.open_engine(root)
        self.root = self.engine.root

    @property
    def time_limit(self) -> float:
        """Seconds one search may take before it stops with a QueryError."""
        return self.engine.time_limit

    @time_limit.setter
    def time_limit(self, seconds: float) -> None:
        self.engine.time_limit = seconds

    @property
    def info(self) -> dict:
        """What the last build saved: counts, time, seeds folder, skipped pages."""
        return self.engine.info

    def __len__(self) -> int:
        return len(self.engine)

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

    def rank(self, text: str, k: int = 100, ranking: Ranking | None = None,
             expand: bool = True) -> list[tuple[str, float]]:
        """The top `k` (pmid, score) pairs for `text`, without snippets or facets."""
        return self.engine.rank(text, k=k, ranking=ranking, expand=expand)

    def records(self, text: str, limit: int = 1000, sort: str = "relevance",
                year_from: int | None = None, year_to: int | None = None,
                journal: str | None = None, mesh: str | None = None) -> list[Record]:
        """The full records of the first `limit` results, in result order (for export)."""
        return self.engine.records(text, limit=limit, sort=sort, year_from=year_from,
                                   year_to=year_to, journal=journal, mesh=mesh)

    def suggest(self, prefix: str, limit: int = 8) -> list[str]:
        """Completions of the word being typed, most frequent first."""
        return self.engine.suggest(prefix, limit)

    def article(self, pmid: str) -> Record:
        """The full record of one article."""
        return self.engine.article(pmid)

    def similar(self, pmid: str, limit: int = 5) -> list[Hit]:
        """Articles like this one."""
        return self.engine.similar(pmid, limit)

    def close(self) -> None:
        self.engine.close()


def open_index(root: str | os.PathLike = "index") -> Index:
    """Open the index at `root`; IndexMissing says to run `medsearch build`."""
    return Index(root)

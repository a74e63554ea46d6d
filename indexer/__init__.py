"""medsearch's core: extraction, the schema, indexing and search.

The CLI, the web UI and callers use this package; only it imports Whoosh.
"""

from .errors import (
    ArticleNotFound,
    BuildFailed,
    ExtractionError,
    IndexLocked,
    IndexMissing,
    MedsearchError,
    NotAnArticle,
    QueryError,
)
from .records import Record

__all__ = [
    "ArticleNotFound", "BuildFailed", "ExtractionError", "IndexLocked", "IndexMissing",
    "MedsearchError", "NotAnArticle", "QueryError", "Record", "build_index", "open_index",
]


def open_index(root="index"):
    """Open the index at `root` (see indexer.search.Index)."""
    from .search import open_index as _open

    return _open(root)


def build_index(seeds="seeds", root="index", procs=1, progress=None):
    """Build the index of every page under `seeds` (see indexer.build.build)."""
    from .build import build as _build

    return _build(seeds, root, procs=procs, progress=progress)

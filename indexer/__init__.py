"""medsearch's core: extraction, the schema, indexing and search.

The CLI, the web UI and callers use this package; only its engine
(indexer.whoosh_engine, behind indexer.engine) imports Whoosh.
"""

from .engine import build_index
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
from .pages.extract import extract_file, extract_page
from .pages.records import Record
from .search import open_index

__all__ = [
    "ArticleNotFound", "BuildFailed", "ExtractionError", "IndexLocked", "IndexMissing",
    "MedsearchError", "NotAnArticle", "QueryError", "Record", "build_index",
    "extract_file", "extract_page", "open_index",
]

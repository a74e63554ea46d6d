"""medsearch's core: extraction, the schema, indexing and search.

The CLI, the web UI and callers use this package; only it imports Whoosh.
"""

from .whoosh_engine.build import build as build_index
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

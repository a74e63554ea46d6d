"""The Whoosh engine: the only package that imports Whoosh.

It implements indexer.engine's interface: `open_engine` gives a
`SearchEngine`, and the build entry points write generations beside the live
one and swap them in (see docs/architecture.md).
"""

from .build import build as build_index
from .build import index_records
from .engine import WhooshEngine as open_engine
from .generations import check_index, has_index, index_stats
from .update import update as update_index

__all__ = ["build_index", "check_index", "has_index", "index_records", "index_stats", "open_engine",
           "update_index"]

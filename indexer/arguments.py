"""The Python API's arguments, checked in one place.

A wrong type or value is a QueryError that names the parameter and what it
takes, never a TypeError or ValueError from deep inside a search.
"""

from __future__ import annotations

import functools
import inspect
import os
from numbers import Integral
from pathlib import Path

from .errors import QueryError

SORTS = ("relevance", "newest", "oldest")
MAX_PER_PAGE = 100
MAX_YEAR = 9999


def default_index() -> Path:
    """Where an index is when no path is given: $MEDSEARCH_INDEX, else index/."""
    return Path(os.environ.get("MEDSEARCH_INDEX") or "index")


def index_root(root) -> Path:
    """The folder of the index at `root`; None means the default location."""
    if root is None:
        return default_index()
    if isinstance(root, (str, os.PathLike)) and not isinstance(root, bytes) and str(root):
        return Path(root)
    raise QueryError(f"the index must be a folder path such as 'index', not {_shown(root)}")


def _shown(value) -> str:
    """The value as a message shows it: literals as written, others by their type."""
    if value is None or isinstance(value, (str, bytes, int, float)):
        return repr(value)
    return type(value).__name__


def _whole(name: str, value, low: int, high: int | None = None) -> None:
    if (not isinstance(value, Integral) or isinstance(value, bool)
            or value < low or (high is not None and value > high)):
        wanted = f"from {low} to {high}" if high is not None else f"of {low} or more"
        raise QueryError(f"{name} must be a whole number {wanted}, not {_shown(value)}")


def _text(name: str, value) -> None:
    if not isinstance(value, str):
        raise QueryError(f"the {'query' if name == 'text' else name} must be text, "
                         f"not {_shown(value)}")


def _optional_text(name: str, value) -> None:
    if value is not None and not isinstance(value, str):
        raise QueryError(f"{name} must be text or None, not {_shown(value)}")


def _year(name: str, value) -> None:
    if value is not None and (not isinstance(value, Integral) or isinstance(value, bool)
                              or not 0 <= value <= MAX_YEAR):
        raise QueryError(f"{name} must be a year such as 2015, or None, not {_shown(value)}")


def _sort(name: str, value) -> None:
    if not isinstance(value, str) or value not in SORTS:
        raise QueryError(f"sort must be one of {', '.join(SORTS)}, not {_shown(value)}")


def _flag(name: str, value) -> None:
    if not isinstance(value, bool):
        raise QueryError(f"{name} must be True or False, not {_shown(value)}")


def _pmid(name: str, value) -> None:
    if (isinstance(value, bool) or not isinstance(value, (str, Integral))
            or not str(value).strip()):
        raise QueryError(f"pmid must be a PubMed ID such as '21349964', not {_shown(value)}")


def _ranking(name: str, value) -> None:
    from .ranking import Ranking  # imported late: ranking imports the query parser

    if value is not None and not isinstance(value, Ranking):
        raise QueryError(f"ranking must be an indexer.ranking.Ranking or None, "
                         f"not {_shown(value)}")


# Every checked parameter of the API, by name: the same name takes the same values.
RULES = {
    "text": _text,
    "prefix": _text,
    "page": lambda name, value: _whole(name, value, 1),
    "per_page": lambda name, value: _whole(name, value, 1, MAX_PER_PAGE),
    "k": lambda name, value: _whole(name, value, 1),
    "limit": lambda name, value: _whole(name, value, 0),
    "sort": _sort,
    "year_from": _year,
    "year_to": _year,
    "journal": _optional_text,
    "mesh": _optional_text,
    "expand": _flag,
    "pmid": _pmid,
    "ranking": _ranking,
}


def checked(method):
    """Decorate an API method: its arguments are checked against RULES first."""
    signature = inspect.signature(method)

    @functools.wraps(method)
    def run(*args, **kwargs):
        try:
            given = signature.bind(*args, **kwargs).arguments
        except TypeError as exc:  # a missing or unknown argument
            raise QueryError(f"{method.__name__}: {exc}") from None
        for name, value in given.items():
            rule = RULES.get(name)
            if rule is not None:
                rule(name, value)
        return method(*args, **kwargs)
    return run

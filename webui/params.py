"""Search parameters: read from a query string, checked, and written back to URLs.

All the state of a search lives in the URL. `SearchParams.from_args` turns a
query string into checked values (a bad one raises QueryError, a 400), and
`SearchParams.args` writes them back, leaving out defaults, so links stay short.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace

from indexer.errors import QueryError
from indexer.query.text import clean
from indexer.search import MAX_PER_PAGE, SORTS

# Deeper pages cost a ranking of page * per_page hits; nobody reads page 1000.
MAX_PAGE = 1000
MAX_FILTER_CHARS = 300
_WHOLE_NUMBER = re.compile(r"\d{1,7}")
_YEAR = re.compile(r"\d{4}")


@dataclass(frozen=True)
class SearchParams:
    """One search, as the URL describes it."""

    q: str = ""
    page: int = 1
    per_page: int = 10
    sort: str = "relevance"
    year_from: int | None = None
    year_to: int | None = None
    journal: str | None = None
    mesh: str | None = None

    @classmethod
    def from_args(cls, args) -> "SearchParams":
        """Checked parameters from a request's query string (a MultiDict)."""
        sort = args.get("sort") or "relevance"
        if sort not in SORTS:
            raise QueryError(f"sort must be one of {', '.join(SORTS)}")
        return cls(
            q=clean(args.get("q", "")),
            page=_number(args, "page", 1, 1, MAX_PAGE),
            per_page=_number(args, "per_page", cls.per_page, 1, MAX_PER_PAGE),
            sort=sort,
            year_from=_year(args, "year_from"),
            year_to=_year(args, "year_to"),
            journal=_text(args, "journal"),
            mesh=_text(args, "mesh"),
        )

    @property
    def filters(self) -> dict:
        """The active filters, by parameter name."""
        names = ("year_from", "year_to", "journal", "mesh")
        return {n: getattr(self, n) for n in names if getattr(self, n) is not None}

    def active_filters(self) -> list[tuple[str, dict]]:
        """(label, changes that remove it) for each active filter."""
        out = []
        if self.year_from is not None or self.year_to is not None:
            if self.year_from == self.year_to:
                label = f"Year {self.year_from}"
            elif self.year_to is None:
                label = f"From {self.year_from}"
            elif self.year_from is None:
                label = f"Up to {self.year_to}"
            else:
                label = f"Years {self.year_from}–{self.year_to}"
            out.append((label, {"year_from": None, "year_to": None}))
        if self.journal:
            out.append((f"Journal: {self.journal}", {"journal": None}))
        if self.mesh:
            out.append((f"MeSH: {self.mesh}", {"mesh": None}))
        return out

    def search_kwargs(self) -> dict:
        """Keyword arguments for Index.search."""
        return {"page": self.page, "per_page": self.per_page, "sort": self.sort, **self.filters}

    def but(self, **changes) -> "SearchParams":
        """A copy with `changes`; back to page 1 unless the page is one of them."""
        changes.setdefault("page", 1)
        return replace(self, **changes)

    def args(self, **changes) -> dict:
        """URL parameters for this search with `changes`, defaults left out (q always kept).

        What `self.but(**changes)` would give, without making it: a results
        page asks for about 130 links' parameters.
        """
        if changes:
            changes.setdefault("page", 1)
            unknown = changes.keys() - _DEFAULTS.keys()
            if unknown:
                raise TypeError(f"not a search parameter: {', '.join(sorted(unknown))}")
        values = self.__dict__
        out = {"q": changes.get("q", self.q)}
        for name, default in _DEFAULTS.items():
            value = changes[name] if name in changes else values[name]
            if name != "q" and value is not None and value != default:
                out[name] = value
        return out


# Each parameter's default, in the order of the fields (the order of a URL's parameters).
_DEFAULTS = {f.name: f.default for f in fields(SearchParams)}
# webui.views.mesh_url appends the MeSH keyword to the rest of a URL.
assert list(_DEFAULTS)[-1] == "mesh", "mesh_url needs mesh last"


def _number(args, name: str, default: int, low: int, high: int) -> int:
    raw = args.get(name, "").strip()
    if not raw:
        return default
    if not _WHOLE_NUMBER.fullmatch(raw) or not low <= int(raw) <= high:
        raise QueryError(f"{name} must be a whole number from {low} to {high}")
    return int(raw)


def _year(args, name: str) -> int | None:
    raw = args.get(name, "").strip()
    if not raw:
        return None
    if not _YEAR.fullmatch(raw):
        raise QueryError(f"{name} must be a year such as 2015")
    return int(raw)


def _text(args, name: str) -> str | None:
    value = clean(args.get(name, ""))
    if len(value) > MAX_FILTER_CHARS:
        raise QueryError(f"{name} is too long")
    return value or None

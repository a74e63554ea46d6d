"""medsearch's search syntax as Solr request parameters.

Solr's edismax parser reads the syntax itself (plain words OR-ed, phrases,
AND/OR/NOT, field prefixes: solrconfig.xml maps `mesh:` and `author:`); only
what edismax spells differently is rewritten here: year ranges
(`year:2010-2015`, `year:>2018`) and prefixes that are not fields (a word,
as on Whoosh). Filters, sorts and facets are Solr's `fq`, `sort` and JSON
facets.
"""

from __future__ import annotations

import json
import re

from ..errors import QueryError

# What a user may put before a colon (the Whoosh engine's parse.PREFIXES).
FIELDS = {"title", "abstract", "keywords", "mesh", "author", "authors", "journal", "year",
          "pmid"}
FACET_LIMIT = 10  # journals and MeSH terms shown; every year is

_PREFIX = re.compile(r"(?<![\w:])(\w+):")
_YEAR_RANGE = re.compile(r"\byear:(\d{4})\s*(?:-|\.\.|to)\s*(\d{4})\b", re.IGNORECASE)
_YEAR_OPEN = re.compile(r"\byear:([<>]=?)(\d{4})\b", re.IGNORECASE)

# Ties in score go by key, as on Whoosh (documents are numbered in key order).
SORTS = {
    "relevance": "score desc,id asc",
    "newest": "year desc,score desc,id asc",
    "oldest": "year asc,score desc,id asc",
}

FACETS = json.dumps({
    "year": {"type": "terms", "field": "year", "limit": -1, "sort": "index desc"},
    "journal": {"type": "terms", "field": "journal_name", "limit": FACET_LIMIT,
                "sort": "count desc"},
    "mesh": {"type": "terms", "field": "mesh_term", "limit": FACET_LIMIT, "sort": "count desc"},
})


def rewrite(text: str) -> str:
    """The query as edismax reads it: year ranges in Lucene's form, unknown prefixes as words."""
    text = _YEAR_RANGE.sub(lambda m: f"year:[{m[1]} TO {m[2]}]", text)
    text = _YEAR_OPEN.sub(_open_year_range, text)

    def prefix(match: re.Match) -> str:
        name = match[1].lower()
        return f"{name}:" if name in FIELDS else f"{match[1]} "

    return _PREFIX.sub(prefix, text)


def _open_year_range(match: re.Match) -> str:
    op, year = match[1], int(match[2])
    if op == ">":
        return f"year:[{year + 1} TO *]"
    if op == ">=":
        return f"year:[{year} TO *]"
    return f"year:[* TO {year - 1 if op == '<' else year}]"


def quoted(value: str) -> str:
    """`value` as one Lucene phrase, whatever it holds."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def filters(year_from: int | None = None, year_to: int | None = None,
            journal: str | None = None, mesh: str | None = None) -> list[str]:
    """The `fq`s for the keyword arguments of a search (each cached apart by Solr)."""
    found = []
    if year_from is not None or year_to is not None:
        if year_from is not None and year_to is not None and year_from > year_to:
            raise QueryError(f"year_from ({year_from}) is after year_to ({year_to})")
        low = "*" if year_from is None else year_from
        high = "*" if year_to is None else year_to
        found.append(f"year:[{low} TO {high}]")
    if journal:
        found.append(f"journal_name:{quoted(journal)}")
    if mesh:
        found.append(f"mesh_term:{quoted(mesh)}")
    return found


def facet_counts(answer: dict) -> dict[str, list[tuple]]:
    """Solr's JSON facets as Results.facets: year (newest first), journal, mesh."""
    facets = answer.get("facets") or {}
    return {name: [(bucket["val"], bucket["count"])
                   for bucket in facets.get(name, {}).get("buckets", [])]
            for name in ("year", "journal", "mesh")}

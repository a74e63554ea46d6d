"""From what a person types to a Whoosh query.

Plain words are OR-ed with a bonus for matching more of them (no strict AND,
so one stray word never empties the list); quotes, AND/OR/NOT, parentheses
and field prefixes work as in PubMed-style search boxes.
"""

from __future__ import annotations

import copy
import re

from whoosh import query as wq
from whoosh.qparser import FieldAliasPlugin, MultifieldParser, OrGroup

from . import limits
from ..errors import QueryError
from ..query.settings import COORDINATION, FIELD_BOOSTS
from ..query.text import clean
from .schema import TEXT_FIELDS, schema


# What a user may put before a colon, and the field it searches.
PREFIXES = {
    "title": "title",
    "abstract": "abstract",
    "keywords": "keywords",
    "mesh": "keywords",
    "author": "authors",
    "authors": "authors",
    "journal": "journal",
    "year": "year",
    "pmid": "pmid",
}

_PREFIX = re.compile(r"(?<![\w:])(\w+):")
_YEAR_RANGE = re.compile(r"\byear:(\d{4})\s*(?:-|\.\.|to)\s*(\d{4})\b", re.IGNORECASE)
_YEAR_OPEN = re.compile(r"\byear:([<>]=?)(\d{4})\b", re.IGNORECASE)


def rewrite(text: str) -> str:
    """Map prefix aliases to fields, unknown prefixes to words, year ranges to Whoosh's."""
    text = _YEAR_RANGE.sub(lambda m: f"year:[{m[1]} TO {m[2]}]", text)
    text = _YEAR_OPEN.sub(_open_year_range, text)

    def prefix(match: re.Match) -> str:
        field = PREFIXES.get(match[1].lower())
        # An unknown prefix ("foo:bar", "http://") is just words.
        return f"{field}:" if field else f"{match[1]} "

    return _PREFIX.sub(prefix, text)


def _open_year_range(match: re.Match) -> str:
    op, year = match[1], int(match[2])
    if op == ">":
        return f"year:[{year + 1} TO]"
    if op == ">=":
        return f"year:[{year} TO]"
    return f"year:[TO {year - 1 if op == '<' else year}]"


def _make_parser(fieldboosts: dict | None = None,
                 coordination: float = COORDINATION) -> MultifieldParser:
    parser = MultifieldParser(
        list(TEXT_FIELDS), schema, fieldboosts=fieldboosts or FIELD_BOOSTS,
        group=OrGroup.factory(coordination),
    )
    # PREFIXES already maps aliases; this keeps `mesh:` meaning keywords for
    # callers that hand a raw query to the parser.
    parser.add_plugin(FieldAliasPlugin({"keywords": ["mesh"], "authors": ["author"]}))
    return parser


# Building a parser compiles its plugins' regexes: do it once.
_parser = _make_parser()
_parsers: dict[tuple, MultifieldParser] = {}
# A lone "?" or "*" (as in "are organic foods safer ?") is punctuation, not a
# wildcard matching every one-letter term.
_LONE_WILDCARD = re.compile(r"(?<!\S)[?*]+(?!\S)")


def parser_for(fieldboosts: dict, coordination: float) -> MultifieldParser:
    """A parser with other field weights or coordination (relevance tuning)."""
    key = (tuple(sorted(fieldboosts.items())), coordination)
    if key not in _parsers:
        _parsers[key] = _make_parser(dict(fieldboosts), coordination)
    return _parsers[key]


def parse(text: str, parser: MultifieldParser | None = None) -> wq.Query:
    """The Whoosh query for a user's query string; every document when blank."""
    if not isinstance(text, str):
        raise QueryError(f"the query must be text, not {type(text).__name__}")
    text = rewrite(_LONE_WILDCARD.sub(" ", clean(text)).strip())
    if not text:
        return wq.Every()
    limits.check_nesting(text)
    try:
        parsed = _not_excludes((parser or _parser).parse(text))
    except Exception as exc:  # Whoosh's parser raises assorted errors on odd input
        raise QueryError(f"could not understand the query: {exc}") from None
    # Wildcards and ranges expand to a bounded number of terms.
    return limits.bound(parsed)


def _not_excludes(query: wq.Query) -> wq.Query:
    """Make `a NOT b` mean a but not b, as in PubMed.

    In an OR group Whoosh reads it as `a OR (NOT b)`, which matches nearly
    every document.
    """
    if not isinstance(query, wq.compound.CompoundQuery):
        return query
    rewritten = copy.copy(query)
    rewritten.subqueries = [_not_excludes(sub) for sub in query.subqueries]
    if isinstance(query, wq.Or):
        excluded = [sub.query for sub in rewritten.subqueries if isinstance(sub, wq.Not)]
        kept = [sub for sub in rewritten.subqueries if not isinstance(sub, wq.Not)]
        if excluded and kept:
            rewritten.subqueries = kept
            # And+Not rather than AndNot: whoosh3 3.54's AndNot lets documents
            # through when its right side is an OR (tests/test_search.py).
            return wq.And([rewritten, wq.Not(wq.Or(excluded))])
    return rewritten


def filters(
    year_from: int | None = None,
    year_to: int | None = None,
    journal: str | None = None,
    mesh: str | None = None,
) -> wq.Query | None:
    """The filter for the keyword arguments of a search, or None."""
    parts: list[wq.Query] = []
    if year_from is not None or year_to is not None:
        if year_from is not None and year_to is not None and year_from > year_to:
            raise QueryError(f"year_from ({year_from}) is after year_to ({year_to})")
        parts.append(wq.NumericRange("year", year_from, year_to))
    if journal:
        parts.append(wq.Term("journal_name", journal))
    if mesh:
        parts.append(wq.Term("mesh_term", mesh))
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else wq.And(parts)

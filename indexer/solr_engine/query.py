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
from ..query.text import (
    MAX_BOOST, MIN_LITERAL, check_nesting, check_patterns, clean, not_a_boost, too_broad,
)

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



# A lone "?" or "*" ("are organic foods safer ?") is punctuation, as on Whoosh.
_LONE_WILDCARD = re.compile(r"(?<!\S)[?*]+(?!\S)")
# What follows `~` or `^`: up to a space, bracket, quote or another operator.
_OPERAND = r"(?P<value>[^\s()\"^~]*)"
_BOOST = re.compile(r"\^" + _OPERAND)
_FUZZY = re.compile(r"(?P<before>\S)~" + _OPERAND)
_NUMBER = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_QUOTED = re.compile(r'"[^"]*"?')
_WORDS = re.compile(r'[^\s()"]+')
# Lucene's syntax characters: a query Solr still refuses is searched as its words.
_SYNTAX = re.compile(r'[+\-&|!(){}\[\]^"~*?:\\/]')
# Lucene's prefix operators and local parameters ("{!join ...}"), which
# medsearch's syntax does not have: read as the words they are, as on Whoosh.
_PREFIX_OPERATOR = re.compile(r"(?<![^\s(])[+\-!]+")
_LOCAL_PARAMS = re.compile(r"\{!")


def prepare(text) -> str:
    """What edismax is given for the user's `text` ("" for every document).

    Cleaned as on Whoosh (control and invisible characters, at most 1,000
    characters), lone wildcards dropped; refused with the Whoosh engine's
    message when its parentheses nest too deep, a wildcard is too broad,
    there are too many patterns, or a boost or fuzziness is not a number;
    boosts capped. Edismax itself reads any other odd syntax as words.
    """
    if not isinstance(text, str):
        raise QueryError(f"the query must be text, not {type(text).__name__}")
    text = _LONE_WILDCARD.sub(" ", clean(text)).strip()
    if not text:
        return ""
    check_nesting(text)
    bare = _PREFIX_OPERATOR.sub("", _LOCAL_PARAMS.sub(" ", text)).strip()
    if not bare:  # only operators ("-", "!"): punctuation, matching nothing (as on Whoosh)
        return "\\" + text[0]
    text = bare
    text = _BOOST.sub(_bounded_boost, text)
    _check_fuzziness(text)
    _check_patterns(_QUOTED.sub(" ", text))
    return rewrite(text)


def plain_words(text: str) -> str:
    """`text` with every syntax character a space: what is searched when Solr
    refuses the prepared query (a 400), so that any string gives results."""
    words = _SYNTAX.sub(" ", text).split()
    return " ".join(w.lower() if w in {"AND", "OR", "NOT"} else w for w in words)


def _bounded_boost(match: re.Match) -> str:
    value = match["value"]
    if not value:
        return "\\^"  # a bare ^ is punctuation, a word matching nothing (as on Whoosh)
    if not _NUMBER.fullmatch(value.lstrip("+")):
        raise not_a_boost(value)
    return "^" + format(min(float(value), MAX_BOOST), "g")


def _check_fuzziness(text: str) -> None:
    for match in _FUZZY.finditer(text):
        value = match["value"]
        if value and not value.isdigit():
            raise QueryError(f"'~{value}' is not a number of edits: type a word with ~1 or "
                             f"~2 after it (e.g. spine~1) for similar spellings")
        if match["before"] == ")":
            raise QueryError(f"'~{value}' must follow a word: type spine~1 for words spelt "
                             "like spine, or \"two words\"~3 for words near each other")


def _check_patterns(text: str) -> None:
    """Wildcards with too few letters, too many patterns, too many open ones."""
    patterns = set()
    for word in _WORDS.findall(text):
        field, _, value = word.rpartition(":")
        word = value.split("^")[0]
        if field and word == "*":
            continue  # `*:*`, `pmid:*`: every document (with the field), as on Whoosh
        if "*" in word or "?" in word:
            if len(re.sub(r"[*?]", "", word)) < MIN_LITERAL:
                raise too_broad(word.lower())
            patterns.add((word.lower(), not word.startswith(("*", "?"))))
        elif "~" in word:
            patterns.add((word.lower(), True))
    check_patterns(patterns)


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

"""From what a person types to a Whoosh query.

Plain words are OR-ed with a bonus for matching more of them (no strict AND,
so one stray word never empties the list); quotes, AND/OR/NOT, parentheses
and field prefixes work as in PubMed-style search boxes.
"""

from __future__ import annotations

import copy
import re

from whoosh import query as wq
from whoosh.qparser import (BoostPlugin, FieldAliasPlugin, FuzzyTermPlugin, MultifieldParser,
                            OrGroup, PhrasePlugin, syntax)

from . import limits
from ..errors import QueryError
from ..query.settings import COORDINATION, FIELD_BOOSTS
from ..query.text import check_nesting, clean, not_a_boost
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


# --- `word~N` (fuzzy) and `^N` (boost), as Lucene users type them -------------

# What follows `~` or `^`: up to a space, bracket, quote or another operator.
_OPERAND = r"(?P<value>[^\s()\"^~]*)"
_WHOLE = re.compile(r"\d+")
_NUMBER = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


class FuzzyPlugin(FuzzyTermPlugin):
    """`spine~1`: words within 1 edit; `spine~` lets the word's length decide
    (Elasticsearch's AUTO); more than limits.MAX_EDITS edits are that many."""

    expr = r"(?<=\S)~" + _OPERAND

    def create(self, parser, match):
        value = match["value"]
        if value and not _WHOLE.fullmatch(value):
            raise QueryError(f"'~{value}' is not a number of edits: type a word with ~1 or "
                             f"~{limits.MAX_EDITS} after it (e.g. spine~1) for similar spellings")
        edits = min(int(value), limits.MAX_EDITS) if value else limits.AUTO_EDITS
        return self.FuzzinessNode(edits, 0, match.group(0))

    def filters(self, parser):
        # Before BoostPlugin.clean_boost, which would take the `^2` of `spine~1^2` for a word.
        return [(self.do_fuzzyterms, -1)]

    def do_fuzzyterms(self, parser, group):
        kept = group.empty_copy()
        for node in group:
            if isinstance(node, self.FuzzinessNode):
                previous = kept[-1] if kept else None
                if isinstance(previous, PhrasePlugin.PhraseNode) and node.maxdist == 0:
                    continue  # `"blood patch"~0`: the exact phrase it already is
                if not isinstance(previous, syntax.WordNode):
                    raise QueryError(f"'{node.original}' must follow a word: type spine~1 "
                                     "for words spelt like spine, or \"two words\"~3 for "
                                     "words near each other")
            kept.append(node)
        return super().do_fuzzyterms(parser, kept)


class BoostOperatorPlugin(BoostPlugin):
    """`word^N`: N from 0 up (limits.bound caps it); a negative or unreadable N is refused."""

    expr = r"\^" + _OPERAND

    def create(self, parser, match):
        value = match["value"]
        if not value:
            return syntax.WordNode(match.group(0))  # a bare ^ is punctuation
        if not _NUMBER.fullmatch(value.lstrip("+")):
            raise not_a_boost(value)
        return self.BoostNode(match.group(0), float(value))


def _make_parser(fieldboosts: dict | None = None,
                 coordination: float = COORDINATION) -> MultifieldParser:
    parser = MultifieldParser(
        list(TEXT_FIELDS), schema, fieldboosts=fieldboosts or FIELD_BOOSTS,
        group=OrGroup.factory(coordination),
    )
    # PREFIXES already maps aliases; this keeps `mesh:` meaning keywords for
    # callers that hand a raw query to the parser.
    parser.add_plugin(FieldAliasPlugin({"keywords": ["mesh"], "authors": ["author"]}))
    parser.remove_plugin_class(BoostPlugin)
    parser.add_plugin(BoostOperatorPlugin())
    parser.add_plugin(FuzzyPlugin())
    # What _plain_query needs to build what this parser gives plain words.
    parser.plain_words = (TEXT_FIELDS, dict(fieldboosts or FIELD_BOOSTS), coordination)
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
    parser = parser or _parser
    plain = _plain_query(text, parser)
    if plain is not None:
        return limits.check_cost(limits.bound(plain))
    check_nesting(text)
    try:
        parsed = _not_excludes(parser.parse(text))
    except QueryError:
        raise
    except Exception as exc:  # Whoosh's parser raises assorted errors on odd input
        raise QueryError(f"could not understand the query: {exc}") from None
    # Wildcards and ranges expand to a bounded number of terms, in few patterns.
    return limits.check_cost(limits.bound(parsed))


# Words of letters and digits between spaces, none of them an operator.
_PLAIN = re.compile(r"[A-Za-z0-9 ]+")
_OPERATORS = frozenset({"AND", "OR", "NOT", "ANDNOT", "ANDMAYBE", "TO"})


def _plain_query(text: str, parser: MultifieldParser) -> wq.Query | None:
    """What `parser` makes of plain words, built without its tagging and
    normalising (5% of a first search): each word's term in each field,
    first seen first, OR-ed with the coordination bonus. None when `text` is
    not plain words, or a word is not one term (a compound, a stop word
    everywhere...): the parser decides those (tests/test_queries_fuzz.py)."""
    if not _PLAIN.fullmatch(text):
        return None
    words = text.split()
    if _OPERATORS.intersection(words):
        return None
    fieldnames, boosts, scale = parser.plain_words
    found: dict[wq.Term, None] = {}
    for word in words:
        for fieldname in fieldnames:
            term = parser.term_query(fieldname, word, parser.termclass,
                                     boost=boosts.get(fieldname, 1.0))
            if term is None:
                continue
            if type(term) is not wq.Term:
                return None
            found.setdefault(term)
    if len(found) < 2:
        return None
    return wq.Or(list(found), scale=scale)


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

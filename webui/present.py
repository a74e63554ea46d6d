"""Small helpers that shape core data for the templates (no I/O)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from indexer.pages import headings as mesh_headings
from indexer.pages.records import pubmed_url

# A structured-abstract label: ALL CAPS words and a colon, opening the
# abstract or a sentence ("... headache. METHODS: Eight patients ...").
_SECTION_LABEL = re.compile(r"(?:^|(?<=[.!?])\s+|\n\s*)([A-Z][A-Z/&,() -]{1,60}[A-Z)]):\s*")
# Field prefixes, boolean operators and punctuation of the query syntax.
_PREFIX = re.compile(r"\b\w+:")
_WORD = re.compile(r"[^\W_][\w'-]*")
_OPERATORS = {"AND", "OR", "NOT", "TO"}


def headings(keywords: list[str]) -> list[tuple[str, list[str]]]:
    """Each keyword as (descriptor, qualifiers): "Spine/surgery" -> ("Spine", ["surgery"])."""
    return [(mesh_headings.descriptor(k), mesh_headings.qualifiers(k)) for k in keywords]


def abstract_sections(text: str | None) -> list[tuple[str | None, str]]:
    """The abstract as (label, text) parts; label None for unlabelled text.

    "BACKGROUND: a. METHODS: b." -> [("Background", "a."), ("Methods", "b.")]
    """
    if not text:
        return []
    parts: list[tuple[str | None, str]] = []
    label, start = None, 0
    for match in _SECTION_LABEL.finditer(text):
        body = text[start:match.start()].strip()
        if body or label:
            parts.append((label, body))
        label, start = match[1].strip().capitalize(), match.end()
    body = text[start:].strip()
    if body or label:
        parts.append((label, body))
    return parts


def plain_words(query: str) -> str:
    """The query's words alone, OR-ed by the core: no quotes, fields or operators."""
    words = _WORD.findall(_PREFIX.sub(" ", query))
    return " ".join(w for w in words if w not in _OPERATORS)


def short_authors(authors: list[str], shown: int = 3) -> str:
    """ "A, B, C et al." for a results line."""
    text = ", ".join(authors[:shown])
    return text + " et al." if len(authors) > shown else text


def link_url(url: str | None, pmid: str) -> str:
    """An http(s) link for an article; the PubMed URL for anything else."""
    if url and (url.startswith(("https://", "http://"))  # as urlsplit reads them, sooner
                or urlsplit(url).scheme in ("http", "https")):
        return url
    return pubmed_url(pmid)


def page_window(page: int, pages: int, around: int = 2) -> list[int | None]:
    """Page numbers to show, None where a gap is: [1, None, 4, 5, 6, 7, 8, None, 20]."""
    shown = {1, pages, *range(max(1, page - around), min(pages, page + around) + 1)}
    out: list[int | None] = []
    for number in sorted(shown):
        if out and number - out[-1] > 1:
            out.append(None)
        out.append(number)
    return out


def expansions(results, kind: str | None = None) -> list[dict]:
    """What the core searched besides the user's words (synonyms, spellings)."""
    found = getattr(results, "expansions", None) or []
    return [e for e in found if kind is None or e.get("type") == kind]


def correction(results) -> str | None:
    """The corrected query: the core's suggestion, or the spelling it searched instead."""
    if results.suggestion:
        return results.suggestion
    fixes = {e.get("from"): e["to"][0] for e in expansions(results, "spelling") if e.get("to")}
    if not fixes:
        return None
    return " ".join(fixes.get(word, word) for word in results.query.split())

"""What a file in the seeds folder gives: a clinic page one record, a PubMed
export (XML `PubmedArticleSet` or MEDLINE/.nbib text) many; and how copies of
one article from several files become one record.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Sequence

from .extract import extract_page
from .pubmed import ExportFormatError, parse_export
from .records import Record

# An export says what it is before this many bytes (XML declaration, DOCTYPE).
SNIFF_BYTES = 4096
_SKIPPED = b"\xef\xbb\xbf \t\r\n"
# The root element, after an optional XML declaration, comments and DOCTYPE.
_XML_EXPORT = re.compile(
    rb"(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*(?:<!DOCTYPE\s+|<)PubmedArticleSet\b", re.S)
_FILLABLE = ("journal", "published", "year", "organisation", "url")


def is_export(data: bytes) -> bool:
    """True for a PubMed XML or MEDLINE export, False for anything else (a page)."""
    head = data[:SNIFF_BYTES].lstrip(_SKIPPED)
    return head.startswith(b"PMID-") or bool(_XML_EXPORT.match(head))


def records_from_bytes(data: bytes, source: str | None = None) -> list[Record]:
    """The records of one file: [the page's record], or every record of an export.

    Raises ExtractionError (with the reason) for a page that is not an
    article or an export that is malformed or empty.
    """
    if not is_export(data):
        return [extract_page(data, source=source)]
    records = parse_export(data, source)
    if not records:
        raise ExportFormatError("PubMed export holds no articles")
    return records


def records_from_file(path: str | os.PathLike) -> list[Record]:
    """records_from_bytes for the file at `path` (its path is each record's source)."""
    with open(path, "rb") as handle:
        return records_from_bytes(handle.read(), source=str(path))


# --- copies of one article ----------------------------------------------------------

def _words(keywords: Sequence[str]) -> set[str]:
    """The pieces of the keywords, as a page splits them: at commas and before qualifiers."""
    return {part.strip().casefold() for k in keywords for part in re.split(r"[,/]", k)
            if part.strip()}


def merge_copies(best: Record, copies: Sequence[Record]) -> Record:
    """`best` (the richest copy) with the richer fields of the other copies.

    Pages show MeSH descriptors joined by commas, so "Tuberculosis, Spinal"
    comes back from a page as two keywords: of copies whose keywords are the
    same words, the list that keeps descriptors whole (fewest items) wins.
    The longest author list wins (pages may shorten it), and fields `best`
    lacks are taken from the first copy that has them.
    """
    if len(copies) < 2:
        return best
    same = [c.keywords for c in copies if c.keywords and _words(c.keywords) == _words(best.keywords)]
    keywords = min(same, key=len) if same else best.keywords
    authors = max((c.authors for c in copies), key=len)
    if len(authors) <= len(best.authors):
        authors = best.authors
    filled = {name: next((getattr(c, name) for c in copies if getattr(c, name) is not None), None)
              for name in _FILLABLE if getattr(best, name) is None}
    return dataclasses.replace(best, keywords=list(keywords), authors=list(authors), **filled)


__all__ = ["is_export", "merge_copies", "records_from_bytes",
           "records_from_file"]

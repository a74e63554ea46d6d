"""Parse PubMed exports (efetch XML and MEDLINE/.nbib text) into Records.

Both parsers map fields the same way, so the two formats of one PMID give
equal Records apart from `source` and PubMed's own ASCII transliteration of
MEDLINE text (XML "Muñiz", "±", "α" are "Muniz", "+/-", "alpha" in MEDLINE).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from lxml import etree

from indexer.errors import ExtractionError
from indexer.pages import headings
from indexer.pages.records import Record, pubmed_url

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun",
          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_YEAR = re.compile(r"\b(\d{4})\b")
_MEDLINE_TAG = re.compile(r"^([A-Z][A-Z0-9]{0,3}) {0,3}- (.*)$")
_CONTINUATION = "      "  # six spaces
_AUTHOR_TAGS = ("FAU", "AU", "CN")


class ExportFormatError(ExtractionError):
    """A PubMed export is malformed or in neither XML nor MEDLINE format."""


MeshHeading = tuple[str, list[str]]  # (descriptor, qualifiers), as PubMed spells them


class PubmedEntry(NamedTuple):
    """A parsed record plus its MeSH headings, whose grouping Record.keywords flattens."""

    record: Record
    mesh: list[MeshHeading]


def normalise_space(text: str | None) -> str:
    """Collapse runs of whitespace to one space and trim."""
    return " ".join(text.split()) if text else ""


def merge_keywords(mesh: Iterable[MeshHeading],
                   author_keywords: Iterable[str]) -> list[str]:
    """MeSH headings as "Descriptor/qualifier/..." (pages.headings), then author keywords.

    Duplicates are dropped case-insensitively, keeping the first spelling.
    """
    # Qualifiers are lower case in PubMed's own spelling (MEDLINE's MH lines).
    pairs = [(normalise_space(d), [normalise_space(q).lower() for q in qs]) for d, qs in mesh]
    pairs += [(normalise_space(k), []) for k in author_keywords]
    return headings.merged(pairs)


def first_year(published: str | None) -> int | None:
    """The first four-digit year in a PubMed date such as '2014 May-Jun'."""
    match = _YEAR.search(published or "")
    return int(match.group(1)) if match else None


def _build_entry(*, pmid: str, title: str, abstract: str | None,
                 mesh: list[MeshHeading], author_keywords: list[str],
                 authors: list[str], journal: str | None, published: str | None,
                 organisation: str | None, source: str | None) -> PubmedEntry:
    """Assemble an entry, normalising whitespace and empties to None."""
    published = normalise_space(published) or None
    mesh = [(normalise_space(d), [normalise_space(q) for q in qs]) for d, qs in mesh]
    record = Record(
        pmid=pmid,
        title=normalise_space(title),
        abstract=normalise_space(abstract) or None,
        keywords=merge_keywords(mesh, author_keywords),
        authors=[a for a in map(normalise_space, authors) if a],
        journal=normalise_space(journal) or None,
        published=published,
        year=first_year(published),
        organisation=normalise_space(organisation) or None,
        url=pubmed_url(pmid),
        source=source,
    )
    return PubmedEntry(record, mesh)


# --- XML -------------------------------------------------------------------

def _safe_parser() -> etree.XMLParser:
    """An XML parser that never fetches a DTD, expands entities or goes online."""
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                           dtd_validation=False, huge_tree=False)


def _text(element: etree._Element | None) -> str:
    """All text under `element` (inline <i>, <sup> included), space-normalised."""
    return normalise_space("".join(element.itertext())) if element is not None else ""


def _xml_abstract(article: etree._Element) -> str | None:
    parts = []
    for part in article.iterfind("Abstract/AbstractText"):
        text = _text(part)
        label = normalise_space(part.get("Label"))
        parts.append(f"{label}: {text}" if label else text)
    return " ".join(p for p in parts if p) or None


def _xml_author(author: etree._Element) -> str:
    collective = author.find("CollectiveName")
    if collective is not None:
        return _text(collective)
    # MEDLINE's AU tag spells authors "Last Initials Suffix"; match it.
    names = (author.findtext(tag) for tag in ("LastName", "Initials", "Suffix"))
    return " ".join(normalise_space(n) for n in names if n and n.strip())


def _xml_published(pub_date: etree._Element | None) -> str | None:
    if pub_date is None:
        return None
    medline_date = pub_date.findtext("MedlineDate")
    if medline_date:
        return medline_date
    month = normalise_space(pub_date.findtext("Month"))
    if month.isdigit() and 1 <= int(month) <= 12:
        month = MONTHS[int(month) - 1]  # efetch sometimes gives "06"
    day = normalise_space(pub_date.findtext("Day")).lstrip("0")
    pieces = [pub_date.findtext("Year"), month or pub_date.findtext("Season"), day]
    return " ".join(normalise_space(p) for p in pieces if p and p.strip()) or None


def _xml_entry(entry: etree._Element, source: str | None) -> PubmedEntry:
    citation = entry.find("MedlineCitation")
    pmid = normalise_space(citation.findtext("PMID")) if citation is not None else ""
    article = citation.find("Article") if citation is not None else None
    if not pmid or article is None:
        raise ExportFormatError(f"PubmedArticle without PMID or Article in {source or 'export'}")
    # ValidYN="N" marks a misspelt name kept only for errata; MEDLINE omits it.
    authors = [a for a in article.iterfind("AuthorList/Author") if a.get("ValidYN") != "N"]
    mesh = [(_text(heading.find("DescriptorName")),
             [_text(q) for q in heading.iterfind("QualifierName")])
            for heading in citation.iterfind("MeshHeadingList/MeshHeading")]
    return _build_entry(
        pmid=pmid,
        title=_text(article.find("ArticleTitle")),
        abstract=_xml_abstract(article),
        mesh=mesh,
        author_keywords=[_text(k) for k in citation.iterfind("KeywordList/Keyword")],
        authors=[_xml_author(a) for a in authors],
        journal=article.findtext("Journal/Title"),
        published=_xml_published(article.find("Journal/JournalIssue/PubDate")),
        organisation=_text(authors[0].find("AffiliationInfo/Affiliation")) if authors else None,
        source=source,
    )


def read_pubmed_xml(data: bytes, source: str | None = None) -> list[PubmedEntry]:
    """Entries from a PubmedArticleSet XML export, in document order."""
    try:
        root = etree.fromstring(data, _safe_parser())
    except etree.XMLSyntaxError as exc:
        raise ExportFormatError(f"malformed PubMed XML in {source or 'export'}: {exc}") from exc
    if root is None or root.tag != "PubmedArticleSet":
        raise ExportFormatError(f"{source or 'export'} is not a PubmedArticleSet")
    return [_xml_entry(entry, source) for entry in root.iterfind("PubmedArticle")]


def parse_pubmed_xml(data: bytes, source: str | None = None) -> list[Record]:
    """Records from a PubmedArticleSet XML export, in document order."""
    return [entry.record for entry in read_pubmed_xml(data, source)]


# --- MEDLINE text ----------------------------------------------------------

def _medline_blocks(text: str) -> Iterator[list[tuple[str, str]]]:
    """Each record as (tag, value) pairs, continuation lines joined on."""
    fields: list[tuple[str, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            if fields:
                yield fields
            fields = []
        elif line.startswith(_CONTINUATION):
            if not fields:
                raise ExportFormatError(f"line {number}: continuation without a tag")
            tag, value = fields[-1]
            fields[-1] = (tag, f"{value} {line.strip()}")
        else:
            match = _MEDLINE_TAG.match(line.rstrip())
            if not match:
                raise ExportFormatError(f"line {number}: not a MEDLINE tag line: {line[:40]!r}")
            fields.append((match.group(1), match.group(2).strip()))
    if fields:
        yield fields


def _medline_mesh(value: str) -> MeshHeading:
    """'Tuberculosis, Spinal/*diagnostic imaging/surgery' -> descriptor, qualifiers."""
    descriptor, *qualifiers = (part.strip().lstrip("*") for part in value.split("/"))
    return descriptor, qualifiers


def _medline_first_affiliation(fields: list[tuple[str, str]]) -> str | None:
    """The first AD of the first author: AD lines follow their author's FAU/AU/CN."""
    author_number, previous = 0, ""
    for tag, value in fields:
        # FAU and its AU name one author; an AU without FAU (old records) or a CN is another.
        if tag in _AUTHOR_TAGS and not (tag == "AU" and previous == "FAU"):
            author_number += 1
        elif tag == "AD" and author_number == 1:
            return value
        if author_number > 1:
            return None
        previous = tag
    return None


def _medline_entry(fields: list[tuple[str, str]], source: str | None) -> PubmedEntry:
    first: dict[str, str] = {}
    for tag, value in fields:
        first.setdefault(tag, value)
    if not first.get("PMID"):
        raise ExportFormatError(f"MEDLINE record without PMID in {source or 'export'}")
    return _build_entry(
        pmid=first["PMID"],
        title=first.get("TI", ""),
        abstract=first.get("AB"),
        mesh=[_medline_mesh(v) for t, v in fields if t == "MH"],
        author_keywords=[v.lstrip("*") for t, v in fields if t == "OT"],  # * = major topic
        authors=[v for t, v in fields if t in ("AU", "CN")],
        journal=first.get("JT"),
        published=first.get("DP"),
        organisation=_medline_first_affiliation(fields),
        source=source,
    )


def read_medline(text: str, source: str | None = None) -> list[PubmedEntry]:
    """Entries from MEDLINE (.nbib) text, in file order."""
    return [_medline_entry(fields, source) for fields in _medline_blocks(text)]


def parse_medline(text: str, source: str | None = None) -> list[Record]:
    """Records from MEDLINE (.nbib) text, in file order."""
    return [entry.record for entry in read_medline(text, source)]


# --- sniffing --------------------------------------------------------------

def read_export(data: bytes, source: str | None = None) -> list[PubmedEntry]:
    """Entries from an export in either format, told apart by its first bytes."""
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<"):
        return read_pubmed_xml(data, source)
    if head.startswith(b"PMID-"):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ExportFormatError(f"MEDLINE export {source or ''} is not UTF-8") from exc
        return read_medline(text, source)
    raise ExportFormatError(f"{source or 'export'} is neither PubMed XML nor MEDLINE text")


def parse_export(data: bytes, source: str | None = None) -> list[Record]:
    """Records from an export in either format (PubMed XML or MEDLINE text)."""
    return [entry.record for entry in read_export(data, source)]

"""Records out as files that reference managers and spreadsheets import.

Pure functions, Records in, text out: RIS (Zotero, EndNote, Mendeley),
MEDLINE/.nbib (PubMed's own format, which the same tools and
indexer.pages.pubmed.parse_medline read) and CSV (spreadsheets).
"""

from __future__ import annotations

import csv
import io
import re
import textwrap
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .pages import headings
from .pages.pubmed import MONTHS
from .pages.records import Record

MEDLINE_WIDTH = 80
CSV_COLUMNS = ("pmid", "title", "abstract", "authors", "journal", "published", "year",
               "keywords", "organisation", "url")
LIST_SEPARATOR = "; "
# Spreadsheets run a cell that starts with one of these as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_DAY = re.compile(r"\d{1,2}")


def _one_line(value) -> str:
    """A field value on one line: RIS and MEDLINE lines cannot hold line breaks."""
    return " ".join(str(value).split()) if value is not None else ""


# --- RIS ------------------------------------------------------------------------

def ris_date(published: str | None) -> str | None:
    """PubMed's '2019 Mar 4' as RIS's 'YYYY/MM/DD/other': '2019/03/04/'.

    What does not fit ('2014 May-Jun', 'Winter') goes in the 'other' part.
    """
    words = _one_line(published).split(" ")
    if not words[0].isdigit() or len(words[0]) != 4:
        return None
    year, month, day, other = words[0], "", "", words[1:]
    if other and other[0] in MONTHS:
        month = f"{MONTHS.index(other.pop(0)) + 1:02d}"
        if other and _DAY.fullmatch(other[0]):
            day = f"{int(other.pop(0)):02d}"
    return f"{year}/{month}/{day}/{' '.join(other)}"


def to_ris(records: Iterable[Record]) -> str:
    """RIS: one TY JOUR ... ER entry per record, CRLF line ends as the spec has them."""
    lines: list[str] = []
    for record in records:
        fields = [("TY", "JOUR"), ("TI", record.title), ("AB", record.abstract)]
        fields += [("AU", author) for author in record.authors]
        # JO is the journal as the article gives it; T2 is where Zotero looks.
        fields += [("JO", record.journal), ("T2", record.journal),
                   ("PY", record.year), ("DA", ris_date(record.published))]
        fields += [("KW", keyword) for keyword in record.keywords]
        fields += [("AN", record.pmid), ("ID", record.pmid), ("UR", record.url),
                   ("AD", record.organisation)]
        for tag, value in fields:
            value = _one_line(value)
            if value:
                lines.append(f"{tag}  - {value}")
        lines.append("ER  - ")
        lines.append("")
    return "\r\n".join(lines)


# --- MEDLINE ----------------------------------------------------------------------

def _medline_field(tag: str, value) -> list[str]:
    """'TAG - value', wrapped at word breaks onto 6-space continuation lines."""
    value = _one_line(value)
    if not value:
        return []
    width = MEDLINE_WIDTH - 6
    parts = textwrap.wrap(value, width=width, break_long_words=False,
                          break_on_hyphens=False) or [value]
    return [f"{tag:<4}- {parts[0]}"] + ["      " + part for part in parts[1:]]


def to_medline(records: Iterable[Record]) -> str:
    """MEDLINE text (.nbib): PMID, DP, TI, AB, AU (the first with its AD), JT, MH.

    Keywords become MH lines, one whole heading each: "Descriptor/qualifier"
    is how keywords hold qualifiers, as MEDLINE's MH lines do. Any other
    keyword with a "/" ("PVP/PKP") would read as one there, so it becomes an
    OT line.
    """
    blocks = []
    for record in records:
        lines = _medline_field("PMID", record.pmid)
        lines += _medline_field("DP", record.published or record.year)
        lines += _medline_field("TI", record.title)
        lines += _medline_field("AB", record.abstract)
        for number, author in enumerate(record.authors):
            lines += _medline_field("AU", author)
            if number == 0:  # PubMed lists each author's affiliation after the name
                lines += _medline_field("AD", record.organisation)
        if not record.authors:
            lines += _medline_field("AD", record.organisation)
        lines += _medline_field("JT", record.journal)
        lines += [line for keyword in record.keywords
                  for line in _medline_field(_keyword_tag(keyword), keyword)]
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)


def _keyword_tag(keyword: str) -> str:
    """MH for a heading (with or without qualifiers), OT for another keyword with a "/"."""
    return "OT" if "/" in headings.descriptor(keyword) else "MH"


# --- CSV ------------------------------------------------------------------------

def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        value = LIST_SEPARATOR.join(value)
    text = str(value)
    # A leading apostrophe keeps a spreadsheet from running the cell as a formula.
    return "'" + text if text.startswith(_FORMULA_START) else text


def to_csv(records: Iterable[Record]) -> str:
    """CSV with a header row, list fields joined by '; ', and a BOM so Excel reads UTF-8."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for record in records:
        writer.writerow([_cell(getattr(record, column)) for column in CSV_COLUMNS])
    return out.getvalue()


# --- formats and file names -------------------------------------------------------

@dataclass(frozen=True)
class ExportFormat:
    """How one format is written and served."""

    name: str
    label: str
    extension: str
    mimetype: str
    render: Callable[[Iterable[Record]], str]


FORMATS = {
    "ris": ExportFormat("ris", "RIS", "ris", "application/x-research-info-systems", to_ris),
    # No registered type exists for .nbib; reference managers go by the extension.
    "nbib": ExportFormat("nbib", "MEDLINE", "nbib", "text/plain", to_medline),
    "csv": ExportFormat("csv", "CSV", "csv", "text/csv", to_csv),
}


def filename(stem: str, export_format: ExportFormat) -> str:
    """'medsearch-<stem>.<ext>' in plain ASCII, safe in a Content-Disposition header."""
    ascii_text = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:60].rstrip("-")
    return f"medsearch-{slug or 'all'}.{export_format.extension}"


__all__ = ["CSV_COLUMNS", "FORMATS", "ExportFormat", "filename", "ris_date",
           "to_csv", "to_medline", "to_ris"]

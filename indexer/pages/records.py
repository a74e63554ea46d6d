"""The Record: one article, whatever page or export it came from."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

PUBMED_URL = "https://www.ncbi.nlm.nih.gov/pubmed/{pmid}"


@dataclass
class Record:
    """One medical abstract with its bibliographic fields."""

    pmid: str | None
    title: str
    abstract: str | None = None
    keywords: list[str] = field(default_factory=list)
    authors: list[str] = field(default_factory=list)
    journal: str | None = None
    published: str | None = None
    year: int | None = None
    organisation: str | None = None
    url: str | None = None
    source: str | None = None

    def to_dict(self) -> dict:
        """The record as JSON-ready data, with exactly the public keys."""
        return asdict(self)


def pubmed_url(pmid: str) -> str:
    """The canonical PubMed link for `pmid`."""
    return PUBMED_URL.format(pmid=pmid)


def record_key(record: Record) -> str:
    """The unique key: the PMID, or the source file for a page without one."""
    return record.pmid or f"source:{record.source}"

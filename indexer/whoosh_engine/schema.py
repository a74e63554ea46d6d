"""The Whoosh schema, defined once: Whoosh pickles it into the index."""

from __future__ import annotations

from whoosh.fields import ID, NUMERIC, STORED, TEXT, Schema

from .analysis import keyword_list_analyzer, medical_analyzer, name_analyzer
from ..pages.records import Record

# Searched by plain words, with the BM25F field weights of indexer.query.settings.
TEXT_FIELDS = ("title", "abstract", "keywords")

schema = Schema(
    pmid=ID(stored=True, unique=True),
    # multitoken_query="phrase": a compound such as "L4-L5" analyzes to two
    # tokens, and should match them side by side, not anywhere.
    title=TEXT(analyzer=medical_analyzer, stored=True, multitoken_query="phrase",
               spelling=True),
    abstract=TEXT(analyzer=medical_analyzer, stored=True, chars=True,
                  multitoken_query="phrase", spelling=True),
    keywords=TEXT(analyzer=medical_analyzer, multitoken_query="phrase", spelling=True),
    authors=TEXT(analyzer=name_analyzer, multitoken_query="phrase"),
    journal=TEXT(analyzer=name_analyzer, multitoken_query="phrase"),
    # Exact values for filters and facet counts.
    # One term per MeSH keyword, kept whole and as written ("Tuberculosis,
    # Spinal"), indexed from the keywords joined by newlines.
    mesh_term=TEXT(analyzer=keyword_list_analyzer, phrase=False, vector=True),
    journal_name=ID(sortable=True),
    year=NUMERIC(int, bits=32, stored=True, sortable=True, signed=False),
    # Shown on the results page and the article page.
    keyword_list=STORED,
    author_list=STORED,
    journal_title=STORED,
    published=STORED,
    organisation=STORED,
    url=STORED,
    source=ID(stored=True),
)


def to_document(record: Record) -> dict:
    """The Whoosh document for a Record (the record's PMID is its key)."""
    keywords = record.keywords or []
    return {
        "pmid": record.pmid,
        "title": record.title,
        "abstract": record.abstract or "",
        "keywords": "\n".join(keywords),
        "authors": "\n".join(record.authors or []),
        "journal": record.journal or "",
        "mesh_term": "\n".join(keywords),
        "journal_name": record.journal or "",
        "year": record.year if record.year is not None else 0,
        "keyword_list": list(keywords),
        "author_list": list(record.authors or []),
        "journal_title": record.journal,
        "published": record.published,
        "organisation": record.organisation,
        "url": record.url,
        "source": record.source or "",
    }


def from_stored(fields: dict) -> Record:
    """The Record stored in the index, from a hit's stored fields."""
    return Record(
        pmid=fields["pmid"],
        title=fields["title"],
        abstract=fields.get("abstract") or None,
        keywords=list(fields.get("keyword_list") or []),
        authors=list(fields.get("author_list") or []),
        journal=fields.get("journal_title"),
        published=fields.get("published"),
        year=fields.get("year") or None,
        organisation=fields.get("organisation"),
        url=fields.get("url"),
        source=fields.get("source") or None,
    )

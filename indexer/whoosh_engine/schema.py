"""The Whoosh schema, defined once: Whoosh pickles it into the index."""

from __future__ import annotations

from whoosh.fields import ID, NUMERIC, STORED, TEXT, Schema

from .analysis import keyword_list_analyzer, medical_analyzer, name_analyzer
from ..pages import headings
from ..pages.records import Record

# Searched by plain words, with the BM25F field weights of indexer.query.settings.
TEXT_FIELDS = ("title", "abstract", "keywords")
# Searched with a prefix: author:Kranz, journal:Spine.
NAME_FIELDS = ("authors", "journal")

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
    # One term per MeSH descriptor, kept whole and as written ("Tuberculosis,
    # Spinal"), without qualifiers or a site's own tags (pages.headings).
    mesh_term=TEXT(analyzer=keyword_list_analyzer, phrase=False, vector=True),
    journal_name=ID(sortable=True),
    year=NUMERIC(int, bits=32, stored=True, sortable=True, signed=False),
    # Shown on the results page and the article page.
    keyword_list=STORED,
    mesh_list=STORED,  # the descriptors of mesh_term, in the record's order
    author_list=STORED,
    journal_title=STORED,
    published=STORED,
    organisation=STORED,
    url=STORED,
    source=ID(stored=True),
)


def to_document(record: Record, mesh_names: frozenset[str] | None = None) -> dict:
    """The Whoosh document for a Record (the record's PMID is its key), its
    keywords whole headings (pages.headings.rejoin); `mesh_names`, the
    vocabulary's descriptor names when it has them all, tells MeSH from a
    site's own tags."""
    keywords = record.keywords or []
    mesh = headings.mesh_descriptors(keywords, mesh_names)
    # A descriptor and each qualifier a line of their own: the words of one
    # are never a compound ("vertebroplastyadvers") with the next.
    words = [part for k in keywords for part in (headings.descriptor(k), *headings.qualifiers(k))]
    return {
        "pmid": record.pmid,
        "title": record.title,
        "abstract": record.abstract or "",
        "keywords": "\n".join(words),
        "authors": "\n".join(record.authors or []),
        "journal": record.journal or "",
        "mesh_term": "\n".join(mesh),
        "mesh_list": mesh,
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


def stored_mesh(fields: dict) -> list[str]:
    """The MeSH descriptors of a hit's stored fields (an index written before
    mesh_list was stored: its keywords' descriptors)."""
    if "mesh_list" in fields:
        return list(fields["mesh_list"] or [])
    return headings.mesh_descriptors(fields.get("keyword_list") or [], None)


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

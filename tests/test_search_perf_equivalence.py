"""The fast paths of a search give exactly what the straightforward ways give.

indexer.fastpaths (matched terms for the top N only; the match set from whole
posting blocks) and indexer.facets (facet counts from a per-generation table)
exist for speed only. Here each is compared with the Whoosh way it replaces,
on the conftest corpus. No timings: speed lives in bench/.
"""

from __future__ import annotations

import pytest

import indexer.search as search_module
from indexer import query as q
from indexer.facets import FacetTable, count_straightforward
from indexer.fastpaths import filtered_match_set, leaf_ids, matches_any, search_with_terms

QUERIES = [
    "epidural blood patch", "cement leakage", "spinal", "vertebroplasty kyphoplasty",
    '"cement leakage"', "title:kyphoplasty", "mesh:Vertebroplasty", "author:kranz",
    "journal:spine", "spine NOT tuberculosis", "kyphoplasty AND vertebroplasty",
    "(cement OR tuberculosis) NOT kyphoplasty", "verteb*", "L4-L5", "covid", "year:2015",
    "year:2010-2020 spine", "nothingmatchesthis", "", "the", "athletes OR headache",
]
FILTERS = [
    {}, {"year_from": 2010}, {"year_to": 2015}, {"journal": "Spine"},
    {"mesh": "Vertebroplasty"}, {"year_from": 2000, "year_to": 2020, "mesh": "Humans"},
]


def _query(text):
    return q.parse(text)


@pytest.mark.parametrize("text", QUERIES)
@pytest.mark.parametrize("filters", FILTERS)
def test_match_set_is_whooshs(idx, text, filters):
    searcher = idx._searcher()
    query, restrict = _query(text), q.filters(**filters)
    expected = set(searcher.search(query, filter=restrict, limit=None, scored=False).docs())
    assert filtered_match_set(searcher, query, restrict) == expected


@pytest.mark.parametrize("text", QUERIES)
@pytest.mark.parametrize("filters", FILTERS)
def test_matches_any_is_len(idx, text, filters):
    searcher = idx._searcher()
    query, restrict = _query(text), q.filters(**filters)
    for kwargs in ({"limit": 1}, {"limit": 10}, {"limit": 2, "sortedby": "year"}):
        results = searcher.search(query, filter=restrict, **kwargs)
        assert matches_any(searcher, query, results, restrict) == (len(results) > 0)


def test_leaf_ids_read_every_posting(idx):
    reader = idx._searcher().reader()
    for fieldname, btext in list(reader.all_terms())[:500]:
        assert leaf_ids(reader.postings(fieldname, btext)) == \
            list(reader.postings(fieldname, btext).all_ids())


@pytest.mark.parametrize("text", QUERIES)
@pytest.mark.parametrize("limit", [1, 2, 3, 10])
@pytest.mark.parametrize("filters", [{}, {"year_from": 2010}])
def test_heap_terms_match_terms_collector(idx, text, limit, filters):
    searcher = idx._searcher()
    query, restrict = _query(text), q.filters(**filters)
    plain = searcher.search(query, filter=restrict, limit=limit, terms=True)
    fast = search_with_terms(searcher, query, filter=restrict, limit=limit)
    assert [(h.docnum, h.score) for h in plain] == [(h.docnum, h.score) for h in fast]
    for a, b in zip(plain, fast):
        assert sorted(a.matched_terms()) == sorted(b.matched_terms())
        assert a.highlights("abstract", top=2) == b.highlights("abstract", top=2)


def test_facet_table_counts_as_documents_do(idx):
    searcher = idx._searcher()
    reader = searcher.reader()
    table = FacetTable.from_reader(reader)
    everything = list(range(reader.doc_count_all()))
    for docs in (everything, everything[::2], everything[1:3], []):
        assert table.count(docs) == count_straightforward(reader, docs)


def _straightforward(monkeypatch):
    """Index.search as it was: terms for every document, Whoosh's unscored pass,
    and facet counts read document by document."""

    def facets(self, searcher, user_query, restrict):
        matches = searcher.search(user_query, filter=restrict, limit=None, scored=False)
        docs = sorted(matches.docs())
        return (len(docs), count_straightforward(searcher.reader(), docs)) if docs else (0, {})

    monkeypatch.setattr(search_module, "_search", lambda s, query, **kw: s.search(query, **kw))
    monkeypatch.setattr(search_module.Index, "_facets", facets)


@pytest.mark.parametrize("text", QUERIES)
def test_search_pages_are_unchanged(idx, monkeypatch, text):
    cases = [dict(per_page=per_page, page=page, **filters)
             for per_page in (1, 2, 10) for page in (1, 2) for filters in FILTERS[:4]]
    cases += [{"sort": "newest"}, {"sort": "oldest", "per_page": 2}]
    fast = [idx.search(text, **case).to_dict() for case in cases]
    _straightforward(monkeypatch)
    plain = [idx.search(text, **case).to_dict() for case in cases]
    for a, b in zip(fast, plain):
        a.pop("took"), b.pop("took")
        assert a == b


def test_match_set_over_several_segments(idx, tmp_path):
    """After an update (or a sliced build) the index has several segments."""
    from whoosh import index as whoosh_index

    from indexer.schema import schema

    reader = idx._searcher().reader()
    stored = [dict(f) for f in reader.all_stored_fields()]
    ix = whoosh_index.create_in(str(tmp_path), schema)
    source = idx._ix
    for part in (stored[:2], stored[2:4], stored[4:]):
        writer = ix.writer()
        for fields in part:
            docnum = reader.first_id("pmid", fields["pmid"])
            with source.searcher() as s:
                writer.add_document(**{**_document(s, docnum)})
        writer.commit(merge=False)
    with ix.searcher() as searcher:
        assert len(searcher.subsearchers) == 3
        for text in QUERIES:
            for filters in FILTERS:
                query, restrict = _query(text), q.filters(**filters)
                expected = set(searcher.search(query, filter=restrict, limit=None,
                                               scored=False).docs())
                assert filtered_match_set(searcher, query, restrict) == expected
        table = FacetTable.from_reader(searcher.reader())
        everything = list(range(searcher.doc_count_all()))
        assert table.count(everything) == count_straightforward(searcher.reader(), everything)


def _document(searcher, docnum):
    from indexer.schema import from_stored, to_document

    return to_document(from_stored(searcher.stored_fields(docnum)))


@pytest.mark.parametrize("filters", FILTERS)
def test_filter_set_is_whooshs_and_remembered(idx, filters):
    from indexer.fastpaths import filter_set

    searcher = idx._searcher()
    restrict = q.filters(**filters)
    found = filter_set(searcher, restrict)
    if restrict is None:
        assert found is None
        return
    assert found == set(searcher.docs_for_query(restrict))
    assert filter_set(searcher, q.filters(**filters)) is found  # an equal query: remembered
    for text in QUERIES[:6]:  # a set filters a search as the query did
        query = _query(text)
        a = searcher.search(query, filter=restrict, limit=3)
        b = searcher.search(query, filter=found, limit=3)
        assert [(h.docnum, h.score) for h in a] == [(h.docnum, h.score) for h in b]


def test_doc_frequency_remembered(idx):
    from indexer.fastpaths import doc_frequency

    reader = idx._searcher().reader()
    for fieldname, btext in list(reader.all_terms())[:200]:
        text = reader.schema[fieldname].from_bytes(btext)
        assert doc_frequency(reader, fieldname, text) == reader.doc_frequency(fieldname, text)
        assert doc_frequency(reader, fieldname, text) == reader.doc_frequency(fieldname, text)

"""indexer.scoring computes Whoosh's BM25F with numpy: the same documents and scores.

Compared with Whoosh's own matchers on the conftest corpus, for the queries
the product builds (user words, expansions, feedback), with filters, and over
several segments with deleted documents. No timings: speed lives in bench/.
"""

from __future__ import annotations

import math
import shutil

from dataclasses import replace

import numpy as np
import pytest
from whoosh import index as whoosh_index
from whoosh import query as wq

from indexer import open_index
from indexer.whoosh_engine import build
from indexer.whoosh_engine import parse as q
from indexer.whoosh_engine.postings import Columns
from indexer.whoosh_engine.facets import FacetTable, count_straightforward
from indexer.whoosh_engine.fastpaths import match_set
from indexer.query.settings import DEFAULT
from indexer.whoosh_engine.analysis import medical_analyzer
from indexer.whoosh_engine.feedback import feedback
from indexer.whoosh_engine.ranking import Sum, _per_document, build_query, weighting
from indexer.whoosh_engine.nodes import EMPTY, Node, and_maybe, union
from indexer.whoosh_engine.impacts import field_of_terms
from indexer.whoosh_engine.scoring import Engine
from indexer.whoosh_engine.snippets import positive_terms
from indexer.whoosh_engine.schema import TEXT_FIELDS

QUERIES = [
    "epidural blood patch", "cement leakage", "spinal", "vertebroplasty kyphoplasty",
    '"cement leakage"', "title:kyphoplasty", "mesh:Vertebroplasty", "author:kranz",
    "journal:spine", "spine NOT tuberculosis", "kyphoplasty AND vertebroplasty",
    "(cement OR tuberculosis) NOT kyphoplasty", "verteb*", "L4-L5", "covid", "year:2015",
    "year:2010-2020 spine", "nothingmatchesthis", "the", "athletes OR headache",
    "slipped disc", "Pott disease", "SIH", "PVP cement",
]
FILTERS = [
    {}, {"year_from": 2010}, {"year_to": 2015}, {"journal": "Spine"},
    {"mesh": "Vertebroplasty"}, {"year_from": 2000, "year_to": 2020, "mesh": "Humans"},
]


def without_coordination(query):
    """The query with Whoosh's coordination bonus off (see test_coordination...)."""
    if isinstance(query, wq.Or):
        query.scale = None
    for sub in getattr(query, "subqueries", None) or ():
        without_coordination(sub)
    for name in ("a", "b"):
        if isinstance(getattr(query, name, None), wq.Query):
            without_coordination(getattr(query, name))
    return query


def whoosh_scores(searcher, query) -> dict[int, float]:
    return {docnum: score for score, docnum in searcher.search(query, limit=None).top_n}


def assert_same(engine, searcher, query):
    node = engine.evaluate(query)
    expected = whoosh_scores(searcher, query)
    assert sorted(expected) == node.docs.tolist()
    if expected:
        diffs = np.array([expected[d] for d in node.docs.tolist()]) - node.scores
        # Whoosh scores a NOT clause 1.0 for every match: a constant shift.
        assert np.ptp(diffs) < 1e-9
        assert abs(diffs[0]) < 1e-9 or "NOT" in str(query) or isinstance(query, wq.And)


def product_query(idx, searcher, engine, text):
    # Without concepts: a concept scores itself (ranking.ConceptQuery.score_in),
    # as no Whoosh query does (tests/test_concepts.py).
    ranking = replace(DEFAULT, concepts=0.0)
    built = build_query(text, ranking, idx.engine._expander)
    return without_coordination(feedback(engine, built, ranking, None).query)


@pytest.mark.parametrize("text", QUERIES)
def test_scores_are_whooshs(idx, text):
    searcher = idx.engine._searcher()
    engine = Engine(Columns.load(idx.engine._generation), searcher, idf=DEFAULT.idf)
    query = product_query(idx, searcher, engine, text)
    # A fresh engine: the first one remembers the feedback pass's nodes.
    assert_same(Engine(Columns.load(idx.engine._generation), searcher, idf=DEFAULT.idf),
                searcher, query)
    assert_same(Engine(Columns.load(idx.engine._generation), searcher, idf=DEFAULT.idf),
                searcher, without_coordination(q.parse(text)))


NAME_QUERIES = [
    "author:kranz", "author:smith", 'author:"smith ab"', "author:Müller", "author:ozturk",
    "journal:spine", 'journal:"eur spine j"', 'journal:"spine j"', "author:smith cement",
    "journal:spine AND author:lee", "author:smith NOT journal:spine", "author:nobody",
]


@pytest.mark.parametrize("text", NAME_QUERIES)
def test_author_and_journal_names_are_scored_from_their_columns(idx, text, monkeypatch):
    searcher = idx.engine._searcher()
    names = Columns.load_names(idx.engine._generation)
    assert names.fields == ("authors", "journal")
    engine = Engine(Columns.load(idx.engine._generation), searcher, idf=DEFAULT.idf,
                    names=names)
    asked = []
    monkeypatch.setattr(engine, "_by_whoosh", asked.append)  # none reaches Whoosh
    query = without_coordination(q.parse(text))
    node = engine.evaluate(query)
    assert asked == []
    monkeypatch.undo()
    assert_same(Engine(Columns.load(idx.engine._generation), searcher, idf=DEFAULT.idf,
                       names=names), searcher, query)
    if "nobody" not in text and "NOT" not in text:
        assert len(node)
    # A generation written before the names' columns: Whoosh answers, the same.
    assert_same(Engine(Columns.load(idx.engine._generation), searcher, idf=DEFAULT.idf),
                searcher, query)


def test_whooshs_own_idf_too(idx):
    from whoosh.scoring import BM25F

    from indexer.whoosh_engine.limits import BoundedSearcher

    searcher = BoundedSearcher(idx.engine._searcher().reader(), weighting=BM25F(), closereader=False)
    for text in QUERIES:
        assert_same(Engine(Columns.load(idx.engine._generation), searcher, idf="whoosh"), searcher,
                    without_coordination(q.parse(text)))


def test_the_pooled_idf_counts_a_word_once_over_title_and_abstract(idx):
    engine = Engine(Columns.load(idx.engine._generation), idx.engine._searcher(), idf="pooled")
    columns = engine.columns
    n = max(columns.doc_frequency("title", "cement"), columns.doc_frequency("abstract", "cement"))
    expected = math.log(1 + (columns.doc_count_all - n + 0.5) / (n + 0.5))
    assert engine._idf("title", "cement", 1) == engine._idf("abstract", "cement", 2) == expected
    assert n == 2 and columns.doc_frequency("title", "cement") == 1


def test_other_bm25_parameters_are_whooshs(idx):
    from whoosh.scoring import BM25F

    reader = idx.engine._searcher().reader()
    from indexer.whoosh_engine.limits import BoundedSearcher

    searcher = BoundedSearcher(reader, weighting=BM25F(B=0.3, K1=2.0, title_B=0.9),
                               closereader=False)  # Whoosh's idf
    engine = Engine(Columns.load(idx.engine._generation), searcher, k1=2.0, b=0.3,
                    field_b={"title": 0.9})
    for text in QUERIES[:6]:
        assert_same(engine, searcher, without_coordination(q.parse(text)))


def test_coordination_is_the_sqr_bonus_with_the_true_matched_count(idx):
    """Whoosh's CoordMatcher: (score + (m - 1) / (n - scale)^2) * (n - 1) / n, for m of
    the n query terms matched. (whoosh3 3.54 under-counts m in its matcher tree,
    so here the formula is checked against hand-summed term scores.)"""
    searcher = idx.engine._searcher()
    engine = Engine(Columns.load(idx.engine._generation), searcher, idf=DEFAULT.idf)
    terms = [wq.Term(f, w) for w in ("cement", "leakag") for f in TEXT_FIELDS]
    present = [t for t in terms if engine.evaluate(t).docs.size]
    n = len(present)
    node = engine.evaluate(wq.Or(terms, scale=0.9))
    for docnum, score in zip(node.docs.tolist(), node.scores.tolist()):
        parts = [whoosh_scores(searcher, t).get(docnum) for t in present]
        matched = [p for p in parts if p is not None]
        expected = (sum(matched) + (len(matched) - 1) / (n - 0.9) ** 2) * (n - 1) / n
        assert math.isclose(score, expected, rel_tol=1e-12)
    assert n > 2 and len(node) >= 2


@pytest.mark.parametrize("filters", FILTERS)
def test_search_totals_and_facets_count_every_filtered_match(idx, filters):
    searcher = idx.engine._searcher()
    restrict = q.filters(**filters)
    reader = searcher.reader()
    for text in QUERIES:
        res = idx.search(text, **filters, expand=False)
        query = q.parse(text)
        expected = sorted(searcher.search(query, filter=restrict, limit=None,
                                          scored=False).docs())
        assert res.total == len(expected)
        counts = count_straightforward(reader, expected) if expected else {}
        assert res.facets == counts


def test_filter_sets_are_whooshs(idx):
    searcher = idx.engine._searcher()
    for filters in FILTERS[1:]:
        restrict = q.filters(**filters)
        assert match_set(searcher, restrict) == set(searcher.docs_for_query(restrict))


def test_a_union_of_many_terms_sums_as_the_union_of_their_nodes(idx):
    # Feedback's 60 terms are summed from their postings, without a node
    # each: the same documents, counts and scores to the last bit.
    searcher = idx.engine._searcher()
    engine = Engine(Columns.load(idx.engine._generation), searcher, idf=DEFAULT.idf)
    stems = [t.text for t in medical_analyzer("spine cement patients pain fracture "
                                              "nothingmatchesthis", mode="query")]
    for words in (stems, stems[:1] + stems[-1:], stems[-1:] * 2):
        terms = [wq.Term(f, w, boost=1 + i / 7) for i, w in enumerate(words) for f in TEXT_FIELDS]
        node = engine.evaluate(Sum(terms))
        separately = [engine._term(t.fieldname, t.text, t.boost) for t in terms]
        expected = union(separately, engine.size)
        assert node.docs.tolist() == expected.docs.tolist()
        assert node.scores.tobytes() == expected.scores.tobytes()
        assert node.counts.tolist() == expected.counts.tolist()
        assert node.terms == expected.terms == sum(1 for n in separately if n.terms)
        assert_same(Engine(Columns.load(idx.engine._generation), searcher, idf=DEFAULT.idf),
                    searcher, Sum(terms))
    # The first is many postings: summed by a sweep over the index, not sorted.
    many = sum(len(engine._term(f, w)) for w in stems for f in TEXT_FIELDS)
    assert many * 8 >= engine.size


def test_and_maybe_looks_up_few_documents_and_spreads_many_alike():
    # A few required documents are looked up one by one in the optional
    # side, many by spreading it over the index: the same sums either way.
    rng = np.random.default_rng(7)

    def node(n):
        docs = np.sort(rng.choice(1000, n, replace=False))
        return Node(docs, rng.random(n) * 3, rng.integers(1, 4, n).astype(np.int32), 2)

    for required, optional in ((node(5), node(600)), (node(400), node(50))):
        found = dict(zip(optional.docs.tolist(), zip(optional.scores, optional.counts)))
        expected = [(s + found.get(d, (0.0, 0))[0], c + found.get(d, (0.0, 0))[1])
                    for d, s, c in zip(required.docs.tolist(), required.scores, required.counts)]
        looked_up = and_maybe(required, optional, 10**6)
        spread = and_maybe(required, optional, 1000)
        for combined in (looked_up, spread):
            assert combined.docs is required.docs and combined.terms == 4
            assert combined.scores.tolist() == [s for s, _ in expected]
            assert combined.counts.tolist() == [c for _, c in expected]
    assert len(and_maybe(node(3), EMPTY, 1000)) == 3


def test_a_search_scores_each_term_once(idx, monkeypatch):
    # The user's words, their proximity pairs, the concepts' forms and
    # feedback ask for the same terms: each is scored once per search.
    searcher = idx.engine._searcher()
    engine = Engine(Columns.load(idx.engine._generation), searcher, idf=DEFAULT.idf)
    scored = []
    real = Engine._idf
    monkeypatch.setattr(Engine, "_idf", lambda self, f, t, df: scored.append((f, t))
                        or real(self, f, t, df))
    built = build_query("Pott disease", DEFAULT, idx.engine._expander)
    query = feedback(engine, built, DEFAULT, None).query
    node = engine.evaluate(query)
    assert len(node) and len(scored) == len(set(scored)) > 3
    monkeypatch.undo()
    fresh = Engine(Columns.load(idx.engine._generation), searcher, idf=DEFAULT.idf)
    again = fresh.evaluate(query)  # scored without the feedback pass before it
    assert node.docs.tolist() == again.docs.tolist()
    assert node.scores.tobytes() == again.scores.tobytes()


@pytest.mark.parametrize("combine", [np.add, np.maximum])
def test_a_concepts_values_per_document_sorted_or_swept_are_the_same(combine):
    # Few values are sorted, many swept over the index: each document's
    # values combined in the given order either way, to the last bit.
    rng = np.random.default_rng(5)
    docs = [np.sort(rng.choice(1000, n, replace=False)) for n in (300, 10, 700)]
    values = [rng.random(len(d)) * 3 + 0.1 for d in docs]
    expected: dict[int, float] = {}
    for some, those in zip(docs, values):
        for d, v in zip(some.tolist(), those.tolist()):
            expected[d] = combine(expected[d], v) if d in expected else v
    for size in (10**6, 1000):  # sorted, then swept
        found, combined = _per_document(docs, values, combine, size)
        assert found.tolist() == sorted(expected)
        assert combined.tolist() == [expected[d] for d in sorted(expected)]
    assert _per_document(docs[1:2], values[1:2], combine, 1000)[0] is docs[1]
    empty = _per_document([docs[0][:0]], [values[0][:0]], combine, 1000)
    assert len(empty[0]) == len(empty[1]) == 0


def test_a_words_occurrences_are_its_live_postings(idx):
    searcher = idx.engine._searcher()
    engine = Engine(Columns.load(idx.engine._generation), searcher, idf=DEFAULT.idf)
    seen = 0
    for fieldname in TEXT_FIELDS:
        for word in ("cement", "spine", "nothingmatchesthis"):
            [stem] = [t.text for t in medical_analyzer(word, mode="query")]
            docs, tfs = engine.occurrences(fieldname, (stem,))
            found, counts = engine.postings(fieldname, stem)
            assert docs.tolist() == engine._term(fieldname, stem).docs.tolist()
            assert tfs.tolist() == counts[np.searchsorted(found, docs)].tolist()
            seen += len(docs)
    assert seen > 3


def test_top_orders_by_score_then_document_number(idx):
    searcher = idx.engine._searcher()
    engine = Engine(Columns.load(idx.engine._generation), searcher)
    node = engine.evaluate(q.parse("spine OR spinal OR vertebroplasty"))
    everything = sorted(zip(node.scores.tolist(), node.docs.tolist()),
                        key=lambda sd: (-sd[0], sd[1]))
    for k in (1, 2, 3, len(node), None):
        docs, scores = engine.top(node, k)
        assert list(zip(scores.tolist(), docs.tolist())) == everything[:k]
    years = FacetTable.from_reader(searcher.reader()).years
    docs, _ = engine.top(node, None, sort_keys=years, reverse=True)
    assert [years[d] for d in docs] == sorted((years[d] for d in docs), reverse=True)


@pytest.mark.parametrize("reverse", [True, False])
def test_the_first_k_by_year_are_the_first_k_of_all_sorted(idx, reverse):
    # Only those sorting at least as high as the k-th are sorted: years tie
    # often, and the tied at the cut must still go by document number.
    engine = Engine(Columns.load(idx.engine._generation), idx.engine._searcher())
    rng = np.random.default_rng(3)
    docs = np.sort(rng.choice(5000, 600, replace=False)).astype(np.int64)
    node = Node(docs, rng.random(600), np.ones(600, dtype=np.int32), 1)
    years = rng.integers(2015, 2020, 5000)  # 600 documents in 5 years
    sign = -1 if reverse else 1
    everything = sorted(docs.tolist(), key=lambda d: (sign * years[d], d))
    for k in (1, 2, 3, 10, 121, 599, 600, None):
        found, scores = engine.top(node, k, sort_keys=years, reverse=reverse)
        assert found.tolist() == everything[:k]
        assert scores.tolist() == [node.scores[docs.tolist().index(d)] for d in found]


def test_snippets_mark_the_words_asked_for_not_the_excluded(idx):
    searcher = idx.engine._searcher()
    query = q.parse("cement NOT kyphoplasty")
    assert positive_terms(query, "abstract", searcher) == {"cement"}
    assert positive_terms(q.parse("verteb*"), "abstract", searcher) >= {"vertebroplasti",
                                                                        "vertebr"}


def test_columns_hold_whooshs_postings_and_statistics(idx):
    reader = idx.engine._searcher().reader()
    columns = Columns.load(idx.engine._generation)
    for fieldname in TEXT_FIELDS:
        for btext in reader.lexicon(fieldname):
            postings = reader.postings(fieldname, btext)
            pairs = []
            while postings.is_active():
                pairs.append((postings.id(), postings.weight(), postings.value_as("positions")))
                postings.next()
            docs, tfs = columns.postings(fieldname, btext)
            assert list(zip(docs.tolist(), tfs.tolist(), positions_of(columns, fieldname, btext))
                        ) == pairs
            assert columns.doc_frequency(fieldname, btext) == reader.doc_frequency(
                fieldname, btext)
        assert columns.avg_length(fieldname) == idx.engine._searcher().avg_field_length(fieldname)
    assert columns.postings("abstract", "nosuchword")[0].size == 0


def assert_saved_parts_are_computed_ones(columns, searcher):
    """Each posting's saved term-frequency part is, to the bit, what a search
    with the product's settings computes from the posting (.impacts)."""
    assert columns.impacts is not None and len(columns.impacts) == len(columns.docs)
    engine = Engine(columns, searcher, k1=DEFAULT.k1, b=DEFAULT.b)
    assert set(engine._impacts) == set(columns.fields)
    field_of = field_of_terms(columns.keys, columns.key_starts, columns.fields)
    assert (field_of >= 0).all()
    for term, field in enumerate(field_of.tolist()):
        start, end = int(columns.starts[term]), int(columns.starts[term + 1])
        docs, tfs = columns.postings_at(start, end)
        computed = engine.saturation(columns.fields[field], docs, tfs)
        assert columns.impacts[start:end].tobytes() == computed.tobytes()


def test_the_builds_term_frequency_parts_are_a_searchs_own(idx):
    searcher = idx.engine._searcher()
    for columns in (Columns.load(idx.engine._generation),
                    Columns.load_names(idx.engine._generation)):
        assert_saved_parts_are_computed_ones(columns, searcher)


@pytest.mark.parametrize("text", QUERIES + NAME_QUERIES)
def test_a_search_reading_the_saved_parts_scores_as_one_computing_them(idx, text):
    searcher = idx.engine._searcher()
    ranking = replace(DEFAULT, concepts=0.0)

    def scored(saved: bool):
        columns = Columns.load(idx.engine._generation)
        names = Columns.load_names(idx.engine._generation)
        if not saved:
            columns.impacts = names.impacts = None
        engine = Engine(columns, searcher, idf=DEFAULT.idf, names=names)
        assert bool(engine._impacts) == saved
        built = build_query(text, ranking, idx.engine._expander)
        node = engine.evaluate(feedback(engine, built, ranking, None).query)
        return node.docs.tolist(), node.scores.tobytes()

    assert scored(True) == scored(False)


def test_other_bm25_settings_compute_their_parts(idx):
    columns = Columns.load(idx.engine._generation)
    searcher = idx.engine._searcher()
    assert Engine(columns, searcher, k1=2.0)._impacts == {}
    # A field's own b: that field's parts are computed, the others' read.
    assert set(Engine(columns, searcher, field_b={"title": 0.9})._impacts) == {
        "abstract", "keywords"}


def positions_of(columns, fieldname: str, btext: bytes) -> list[list[int]]:
    """Each posting's positions as the columns hold them (.positions)."""
    start, end = columns.span(fieldname, btext)
    at = int(columns.pos_starts[columns.term_at(start)])
    found = []
    for count in columns.tfs[start:end].astype(int).tolist():
        found.append(columns.positions[at:at + count].tolist())
        at += count
    return found


def test_terms_looked_up_together_are_found_as_one_at_a_time(idx, monkeypatch):
    columns = Columns.load(idx.engine._generation)
    words = [t.decode() for t in idx.engine._searcher().reader().lexicon("abstract")]
    asked = words + ["nosuchword", words[0]]
    one_by_one = [columns.span("abstract", w) for w in asked]
    assert columns.spans("abstract", asked) == one_by_one
    assert all(end > start for start, end in one_by_one[:len(words)])
    assert one_by_one[len(words)] == (0, 0)
    engine = Engine(columns, idx.engine._searcher())
    assert engine.doc_frequencies("abstract", asked) == [
        columns.doc_frequency("abstract", w) for w in asked]


def test_a_term_sharing_its_hash_with_another_is_still_found(monkeypatch):
    from indexer.whoosh_engine import columns as written

    keys = [b"abstract\0aaa", b"abstract\0bbb"]
    columns = Columns({
        "hashes": np.array([5, 5], dtype=np.uint64), "starts": np.array([0, 1, 3]),
        "docs": np.array([0, 1, 2], dtype=np.int32), "tfs": np.ones(3, dtype=np.float32),
        "keys": np.frombuffer(b"".join(keys), dtype=np.uint8),
        "key_starts": np.array([0, len(keys[0]), len(keys[0]) + len(keys[1])]),
        "lengths": np.zeros((len(TEXT_FIELDS), 3)), "deleted": np.zeros(3, dtype=bool),
        "stats": {"doc_count_all": 3, "field_length": {}, "has_deletions": False}})
    monkeypatch.setattr(written, "key_hash", lambda key: 5)
    assert columns.spans("abstract", ["bbb", "aaa", "ccc"]) == [(1, 3), (0, 1), (0, 0)]
    assert [columns.span("abstract", w) for w in ("bbb", "aaa", "ccc")] == [(1, 3), (0, 1), (0, 0)]
    assert columns.postings("abstract", "bbb")[0].tolist() == [1, 2]


def test_several_segments_and_deletions(idx, tmp_path):
    """Segments added and documents deleted (as updates leave them): still Whoosh's scores."""
    from indexer.whoosh_engine.build import write_index
    from indexer.whoosh_engine.assembly import write_columns
    from indexer.whoosh_engine.limits import searcher as bounded_searcher
    from indexer.whoosh_engine.schema import from_stored, to_document

    records = [from_stored(f) for f in idx.engine._searcher().reader().all_stored_fields()]
    folder = tmp_path / "gen"
    write_index(folder, records[:3])
    ix = whoosh_index.open_dir(str(folder))
    for part in (records[3:5], records[5:]):
        writer = ix.writer()
        writer.delete_by_term("pmid", records[0].pmid)
        for record in part:
            writer.add_document(**to_document(record))
        writer.commit(merge=False)
    write_columns(folder)
    columns = Columns.load(folder)
    assert columns.deleted.sum() == 1
    searcher = bounded_searcher(ix, weighting=weighting(DEFAULT))
    try:
        reader = searcher.reader()
        assert len(reader.leaf_readers()) == 3 and reader.has_deletions()
        names = Columns.load_names(folder)
        assert names.deleted.sum() == 1
        for kept in (columns, names):
            assert_saved_parts_are_computed_ones(kept, searcher)
        for engine in (Engine(columns, searcher, idf=DEFAULT.idf),
                       Engine(columns, searcher, idf=DEFAULT.idf, names=names)):
            for text in QUERIES + NAME_QUERIES:
                assert_same(engine, searcher, without_coordination(q.parse(text)))
    finally:
        searcher.close()


def test_facet_values_saved_per_segment_count_as_the_index_does(corpus_dir, tmp_path):
    from indexer.whoosh_engine.update import update

    # A copy: corpus_dir is the session's, and other tests build from it.
    seeds = shutil.copytree(corpus_dir, tmp_path / "seeds")
    root = tmp_path / "index"
    build.build(seeds, root)
    page = sorted(seeds.glob("*.html"))[1]
    page.write_text(page.read_text().replace("Cement leakage", "Cement leakage again"))
    update(seeds, root)
    idx = open_index(root)
    generation = idx.engine._generation
    assert list(generation.glob("seg-*.facets.json"))
    reader = idx.engine._searcher().reader()
    table = FacetTable.load(generation, reader)
    everything = [d for d in range(reader.doc_count_all()) if not reader.is_deleted(d)]
    assert table.count(everything) == count_straightforward(reader, everything)
    assert table.count(everything[:3]) == count_straightforward(reader, everything[:3])
    idx.close()


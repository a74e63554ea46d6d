"""Snippets: the fast path (each word analysed once, fragments built in one
pass) marks exactly what Whoosh's highlighter marks over the re-analysed
abstract, on literal abstracts with compounds, stop words, accents,
invisible characters, markup and texts longer than a fragment."""

from __future__ import annotations

import itertools

import pytest
from whoosh import highlight

from indexer import open_index
from indexer.engine import index_records
from indexer.pages.records import Record
from indexer.whoosh_engine import snippets
from indexer.whoosh_engine.analysis import analyze
from indexer.whoosh_engine.schema import schema

ABSTRACTS = [
    "BACKGROUND: Spontaneous intracranial hypotension (SIH) causes orthostatic headache. "
    "METHODS: Eight patients had CT-guided epidural blood patching of leak sites. "
    "RESULTS: Headache improved in all patients. CONCLUSIONS: Blood patching works.",
    "Spinal tuberculosis (Pott disease) destroys vertebral bodies. We treated 40 patients "
    "with anterior debridement and fusion at the L4-L5 level; 38 healed, 2.5% did not.",
    "Intervertebral disc displacement at L5-S1/S2 was seen on T2-weighted MRI in athletes "
    "with low back pain. <script>alert('x')</script> \"><img src=x onerror=alert(1)> "
    "Müller's Öztürk-type café-au-lait spots; neck/shoulder pain; COVID-19 in 2020.",
    "Vertebro\u00adplasty and kypho\u200bplasty: cement leakage. " * 12,  # invisibles, > 300 chars
    ("The pain of the spine is the pain. " * 30) + "Cement at the end. " + "spine " * 5000,
]


def reference(text: str, words: frozenset[str], top: int = 2) -> str:
    """Whoosh's own highlighting: the abstract re-analysed, as snippets did before."""
    tokens = schema["abstract"].analyzer(text, positions=True, chars=True, mode="index",
                                         removestops=False)
    tokens = snippets._HIGHLIGHTER._merge_matched_tokens(
        highlight.set_matched_filter(tokens, words))
    fragments = highlight.top_fragments(
        snippets._FRAGMENTER.fragment_tokens(text, tokens), top,
        snippets._HIGHLIGHTER.scorer, snippets._HIGHLIGHTER.order, minscore=1)
    return snippets._FORMATTER.format(fragments)


def word_sets(text: str):
    """Every one and two of the text's terms, and a few larger sets."""
    terms = sorted(set(analyze(text)))
    yield from (frozenset([t]) for t in terms)
    yield from (frozenset(pair) for pair in itertools.combinations(terms[:25], 2))
    for size in (3, 5, 8):
        yield frozenset(terms[::size])
    yield frozenset(["nowhere"])


@pytest.mark.parametrize("text", ABSTRACTS, ids=range(len(ABSTRACTS)))
def test_fast_snippets_equal_whooshs_highlighter(text):
    cases = list(word_sets(text))
    assert len(cases) > 10
    differing = [sorted(words) for words in cases if snippets.snippet(text, words)
                 != reference(text, words)]
    assert differing == []


def test_a_snippet_asked_again_is_remembered_not_marked_again():
    snippets.snippet.cache_clear()
    text, words = "Cement leakage after vertebroplasty was rare.", frozenset({"cement"})
    first = snippets.snippet(text, words)
    assert snippets.snippet(text, words) == first == (
        "<mark>Cement</mark> leakage after vertebroplasty was rare")
    assert snippets.snippet(text, frozenset({"leakag"})) == (
        "Cement <mark>leakage</mark> after vertebroplasty was rare")
    info = snippets.snippet.cache_info()
    assert (info.hits, info.misses, info.maxsize) == (1, 2, snippets.SNIPPETS_KEPT)


def test_the_remembered_searches_first_pages_keep_their_snippets():
    """A search the engine remembers, read again, marks no abstract again:
    every one's first page fits in the snippets remembered."""
    from indexer.whoosh_engine.engine import QUERIES_KEPT

    assert snippets.snippet.cache_info().maxsize >= QUERIES_KEPT * 10
    snippets.snippet.cache_clear()
    pages = [[(f"Abstract {n} of page {page} about cement.", frozenset({"cement", f"w{page}"}))
              for n in range(10)] for page in range(QUERIES_KEPT)]
    for page in pages + pages:  # each search asked twice, in turn
        for text, words in page:
            snippets.snippet(text, words)
    info = snippets.snippet.cache_info()
    assert (info.misses, info.hits) == (QUERIES_KEPT * 10, QUERIES_KEPT * 10)


def test_a_compounds_parts_are_marked_apart_and_the_compound_whole():
    assert snippets.snippet(ABSTRACTS[0], frozenset(analyze("ct guided blood"))) == (
        "causes orthostatic headache. METHODS: Eight patients had <mark>CT</mark>-"
        "<mark>guided</mark> epidural <mark>blood</mark> patching of leak sites. RESULTS: "
        "Headache improved in all patients … <mark>Blood</mark> patching works")
    assert snippets.snippet(ABSTRACTS[0], frozenset(analyze("ctguided"))) == (
        "orthostatic headache. METHODS: Eight patients had <mark>CT-guided</mark> epidural "
        "blood patching of leak sites. RESULTS: Headache improved")


def test_words_are_marked_as_written_and_markup_escaped():
    words = frozenset(analyze("script cafe"))
    marked = snippets.snippet(ABSTRACTS[2], words)
    assert "&lt;<mark>script</mark>&gt;" in marked and "<script" not in marked
    assert "<mark>café-au-lait</mark>" not in marked and "<mark>café</mark>-au-lait" in marked


@pytest.fixture(scope="module")
def long_index(tmp_path_factory):
    root = tmp_path_factory.mktemp("snippets-index")
    index_records(root, [Record(pmid=str(40000000 + n), title=f"Article {n}", abstract=text)
                         for n, text in enumerate(ABSTRACTS)])
    index = open_index(root)
    yield index
    index.close()


@pytest.mark.parametrize("query", ["ct guided blood patching", "L4-L5 fusion", "cement leakage",
                                   "vertebroplasty", "spine pain cement", "cafe spots"])
def test_search_hits_carry_whooshs_snippet(long_index, query):
    results = long_index.search(query, expand=False)
    assert results.hits
    for hit in results.hits:
        text = ABSTRACTS[int(hit.pmid) - 40000000]
        words = frozenset(t for t in analyze(query, mode="query") if t in set(analyze(text)))
        assert hit.snippet == reference(text, words)


@pytest.mark.parametrize("mode, removestops", [("index", False), ("query", True)])
def test_terms_word_by_word_equal_the_analyzers_over_the_whole_text(mode, removestops):
    from indexer.whoosh_engine.analysis import medical_analyzer, terms_at

    for text in ABSTRACTS:
        whole = [(t.text, t.startchar, t.endchar) for t in medical_analyzer(
            text, chars=True, positions=True, mode=mode, removestops=removestops)]
        assert list(terms_at(text, mode=mode, removestops=removestops)) == whole
        assert whole

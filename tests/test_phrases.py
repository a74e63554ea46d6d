"""Phrases (indexer.whoosh_engine.phrases) find the documents Whoosh's own
phrase query finds: from the columns' positions, and from Whoosh's postings
across their blocks, with the positions shared between a search's phrases."""

import random

import numpy as np
import pytest
from whoosh import query as wq
from whoosh.formats import Characters, Positions

from conftest import clinic_page

from indexer import build_index, open_index
from indexer.whoosh_engine.phrases import phrase_documents
from indexer.whoosh_engine.positions import decoder

WORDS = ["spinal", "cord", "injury", "cervical", "myelopathy", "disc", "fusion", "pain"]


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    # 300 abstracts of eight words: each word in more documents than a block
    # of postings holds (128), so skipping crosses blocks.
    rng = random.Random(5)
    folder = tmp_path_factory.mktemp("phrases")
    seeds = folder / "seeds"
    seeds.mkdir()
    for n in range(300):
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 30)))
        pmid = str(60000000 + n)
        (seeds / f"{pmid}.html").write_text(
            clinic_page(pmid, f"Case {n}", words.capitalize() + ".", "Humans", "Lee D;",
                        "Spine", "2020"), encoding="utf-8")
    build_index(seeds, folder / "index")
    found = open_index(folder / "index")
    yield found
    found.close()


PHRASES = [("spinal", "cord"), ("cord", "spinal"), ("cervic", "myelopathi"),
           ("spinal", "cord", "injuri"), ("pain", "pain"), ("disc", "fusion", "pain", "disc")]


def test_phrase_documents_are_whooshs_with_positions_shared_between_phrases(index):
    searcher = index.engine._searcher()
    everyone = np.arange(searcher.doc_count_all())
    read: dict = {}
    for words in PHRASES:
        query = wq.Phrase("abstract", list(words))
        expected = sorted(searcher.docs_for_query(query))
        assert len(expected) > 0
        # Candidates: every document (those without a word are not found).
        found = phrase_documents(searcher, query, everyone, read)
        assert found.tolist() == expected, words
        alone = phrase_documents(searcher, query, everyone, {})
        assert alone.tolist() == expected
    # Each word's positions were read once, for the documents asked about.
    assert {(field, word) for _, field, word in read} == {
        ("abstract", w) for w in ("spinal", "cord", "cervic", "myelopathi", "injuri", "pain",
                                  "disc", "fusion")}


def test_from_the_columns_positions_the_same_documents(index):
    searcher = index.engine._searcher()
    columns = index.engine._columns
    assert columns.positions is not None  # a build writes them
    for words in PHRASES:
        for fieldname in ("title", "abstract"):
            query = wq.Phrase(fieldname, list(words))
            candidates = np.arange(searcher.doc_count_all())
            for word in words:  # the documents holding every word
                candidates = np.intersect1d(candidates, columns.postings(fieldname, word)[0])
            found = phrase_documents(searcher, query, candidates, {}, columns,
                                     lambda word: columns.span(fieldname, word))
            assert found.tolist() == sorted(searcher.docs_for_query(query)), (fieldname, words)


def test_a_search_for_a_quoted_phrase_matches_whoosh(index):
    searcher = index.engine._searcher()
    ranked = index.rank('"spinal cord injury"', k=300, expand=False)
    expected = set(searcher.docs_for_query(wq.Or([
        wq.Phrase(field, ["spinal", "cord", "injuri"]) for field in ("title", "abstract")])))
    stored = searcher.stored_fields
    assert {pmid for pmid, _ in ranked} == {stored(d)["pmid"] for d in expected}
    assert index.search('"spinal cord injury"', expand=False).total == len(expected) > 0


@pytest.mark.parametrize("format_, poslist, expected", [
    (Positions(), [0, 3, 7, 8], [0, 3, 7, 8]),
    (Characters(), [(2, 10, 15), (9, 40, 44)], [2, 9]),
    (Positions(), [], []),
])
def test_positions_are_decoded_as_whoosh_decodes_them(format_, poslist, expected):
    value = format_.encode(poslist)
    assert decoder(format_)(value) == format_.decoder("positions")(value) == expected

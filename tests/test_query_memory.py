"""The per-generation memories of searches (indexer.whoosh_engine.memory.QUERIES_KEPT):
the query each search decided on and its ranked hits. The same search again
gives the same Results as a first search, and a new generation forgets what
the old one decided."""

from __future__ import annotations

import pytest

from conftest import clinic_page

from indexer import build_index, open_index
from indexer.query.settings import DEFAULT

# (pmid, title, abstract, keywords, authors, journal, published), as conftest's pages
ARTICLES = [
    ("50000001", "Spinal tuberculosis treated with debridement",
     "Spinal tuberculosis destroys vertebral bodies; debridement and fusion healed most "
     "patients. Tuberculosis of the spine needs long treatment.",
     "Tuberculosis, Spinal", "Lee D;", "Eur Spine J", "2008"),
    ("50000002", "Cement leakage after vertebroplasty",
     "Percutaneous vertebroplasty relieves pain from vertebral compression fractures; "
     "cement leakage into the spinal canal is a complication.",
     "Vertebroplasty", "Smith AB;", "Spine", "2015"),
    ("50000003", "Kyphoplasty versus vertebroplasty",
     "Balloon kyphoplasty and vertebroplasty were compared; cement leakage was rarer after "
     "kyphoplasty and vertebral height better restored.",
     "Kyphoplasty,Vertebroplasty", "Smith AB;", "Spine", "2019"),
    ("50000004", "Low back pain in athletes",
     "Disc displacement at L5-S1 was seen in athletes with low back pain; running did not "
     "worsen it. Spinal fusion was rarely needed.",
     "Low Back Pain", "Garcia M;", "Br J Sports Med", "2020"),
]

SEARCHES = [
    ("cement leakage", {}),
    ("vertebroplasty", {"sort": "newest"}),
    ("spinal", {"year_from": 2010}),
    ("spinal", {"journal": "Spine"}),
    ("tuberclosis", {}),  # unknown: the spelling fallback searches "tuberculosis"
    ("back pain", {"page": 2, "per_page": 1}),
]


def same(results) -> dict:
    found = results.to_dict()
    found.pop("took")
    return found


def build(folder, articles) -> None:
    seeds = folder / "seeds"
    seeds.mkdir(exist_ok=True)
    for article in articles:
        (seeds / f"{article[0]}.html").write_text(clinic_page(*article), encoding="utf-8")
    build_index(seeds, folder / "index")


@pytest.fixture()
def root(tmp_path):
    build(tmp_path, ARTICLES)
    return tmp_path / "index"


def test_a_search_again_gives_the_same_results_as_the_first_time(root):
    index = open_index(root)
    first = [same(index.search(text, **args)) for text, args in SEARCHES]
    remembered = index.engine._memory._tables["queries"][1]
    assert len(remembered._docs) == len({(text, args.get("journal"), args.get("year_from"))
                                         for text, args in SEARCHES})
    again = [same(index.search(text, **args)) for text, args in SEARCHES]
    fresh = open_index(root)
    assert again == first == [same(fresh.search(text, **args)) for text, args in SEARCHES]
    assert first[4]["suggestion"] == "tuberculosis" and first[4]["total"] == 1
    index.close()
    fresh.close()


def test_a_new_generation_forgets_the_searches_of_the_old_one(root):
    index = open_index(root)
    before = index.search("tuberclosis")
    assert (before.suggestion, [h.pmid for h in before.hits]) == ("tuberculosis", ["50000001"])
    # Rebuilt with a page that writes the word that way: it is now a known word.
    typo = ("50000005", "Tuberclosis, a common misspelling",
            "Clinic pages write tuberclosis for tuberculosis.", "Humans", "Chen W;",
            "Spine", "2021")
    build(root.parent, [*ARTICLES, typo])
    after = index.search("tuberclosis")
    assert (after.suggestion, [h.pmid for h in after.hits]) == (None, ["50000005"])
    assert after.expansions == [] or all(e["type"] != "spelling" for e in after.expansions)
    generation, remembered = index.engine._memory._tables["queries"]
    assert generation == index.engine._generation and len(remembered._docs) == 1
    index.close()


def test_every_page_of_a_search_comes_from_one_ranking_remembered(root):
    index, fresh = open_index(root), open_index(root)
    pages = [same(index.search("spinal", page=n, per_page=1)) for n in (1, 2, 3, 1)]
    newest = same(index.search("spinal", page=2, per_page=1, sort="newest"))
    generation, remembered = index.engine._memory._tables["pages"]
    # One ranking for the four pages, one for the other order.
    assert [key[:4] for key in remembered._docs] == [("spinal", DEFAULT, None, "relevance"),
                                                     ("spinal", DEFAULT, None, "newest")]
    assert pages == [same(fresh.search("spinal", page=n, per_page=1)) for n in (1, 2, 3, 1)]
    assert newest == same(fresh.search("spinal", page=2, per_page=1, sort="newest"))
    assert [p["hits"][0]["pmid"] for p in pages[:3]] == ["50000001", "50000004", "50000002"]
    index.close()
    fresh.close()


def test_without_a_memory_of_searches_nothing_is_remembered(root):
    index = open_index(root)
    index.engine.queries_kept = 0  # what the benchmark's "never asked" figures run with
    first = same(index.search("cement leakage"))
    assert same(index.search("cement leakage")) == first
    assert not {"pages", "queries"} & set(index.engine._memory._tables)
    index.close()


def test_changing_a_results_object_does_not_change_the_remembered_search(root):
    index = open_index(root)
    first = index.search("spinal")
    expected = same(first)
    first.facets["journal"].clear()
    first.hits[0].ranked_with["words"] = -1.0
    assert same(index.search("spinal")) == expected
    index.close()


def test_terms_places_are_kept_per_generation_and_bounded(root, monkeypatch):
    from indexer.whoosh_engine import scoring

    index = open_index(root)
    index.engine.queries_kept = 0  # every search looks its terms up
    first = same(index.search("cement leakage"))
    generation, spans = index.engine._memory._tables["spans"]
    # Feedback's candidates were looked up too, in every text field.
    assert {("abstract", "cement"), ("title", "cement"), ("abstract", "kyphoplasti")} <= set(spans)
    assert spans[("abstract", "cement")] != (0, 0)
    # Wrong places would find other documents: poison one, the search changes.
    spans[("abstract", "cement")] = (0, 0)
    assert same(index.search("cement leakage")) != first
    spans.clear()
    assert same(index.search("cement leakage")) == first
    monkeypatch.setattr(scoring, "SPANS_KEPT", 5)
    index.search("spinal tuberculosis")
    assert len(spans) <= 5
    build(root.parent, ARTICLES)  # a new generation starts an empty memory
    assert same(index.search("cement leakage")) == first
    assert index.engine._memory._tables["spans"][0] != generation
    index.close()


def test_the_searchers_field_lengths_are_whooshs_summed_once(root):
    index = open_index(root)
    searcher = index.engine._searcher()
    reader = searcher.reader()
    for fieldname in ("title", "abstract", "authors", "journal"):
        assert searcher.field_length(fieldname) == reader.field_length(fieldname) > 0
        for sub, _ in searcher.leaf_searchers():
            assert sub.field_length(fieldname) == reader.field_length(fieldname)
    assert set(searcher._field_lengths) == {"title", "abstract", "authors", "journal"}
    index.close()


def test_length_normalisations_are_kept_per_generation_and_setting(root, monkeypatch):
    from dataclasses import replace

    from indexer.whoosh_engine import scoring

    index = open_index(root)
    index.engine.queries_kept = 0
    index.search("cement leakage")
    norms = index.engine._memory._tables["norms"][1]
    assert norms == {}  # the product's settings read the build's parts (.impacts)
    tuned = replace(DEFAULT, k1=1.0)  # other settings compute them
    first = same(index.search("cement leakage", ranking=tuned))
    key = ("abstract", 1.0, dict(DEFAULT.field_b).get("abstract", DEFAULT.b))
    assert key in norms and len(norms[key]) == 4  # one per document
    norms[key] = norms[key] * 2  # a wrong normalisation scores differently
    assert same(index.search("cement leakage", ranking=tuned)) != first
    norms.clear()
    assert same(index.search("cement leakage", ranking=tuned)) == first
    monkeypatch.setattr(scoring, "NORMS_KEPT", 4)
    for k1 in (0.9, 1.05, 1.1):
        index.search("cement leakage", ranking=replace(DEFAULT, k1=k1))
        assert len(norms) <= 4
    index.close()


PHRASE = '"cement leakage"'


def test_an_update_reuses_each_kept_segments_facet_values_and_finds_the_same(root, monkeypatch):
    from indexer.engine import update_index
    from indexer.whoosh_engine import update

    monkeypatch.setattr(update, "REWRITE_SHARE", 1.0)  # the old segment kept, with a deletion
    index = open_index(root)
    index.engine.queries_kept = 0
    index.search(PHRASE)
    memory = index.engine._memory
    old_segments = set(memory.segment_facets)
    kept = memory.segment_facets[next(iter(old_segments))]
    seeds = root.parent / "seeds"
    (seeds / "50000002.html").unlink()
    new = ("50000009", "Cement leakage again", "Cement leakage was seen in two patients.",
           "Vertebroplasty", "Lee D;", "Spine", "2022")
    (seeds / "50000009.html").write_text(clinic_page(*new), encoding="utf-8")
    update_index(seeds, root)
    after = index.search(PHRASE)
    # The old segment's coded values were used again, the new one's added.
    assert set(memory.segment_facets) > old_segments
    assert memory.segment_facets[next(iter(old_segments))] is kept
    fresh = open_index(root)
    fresh.engine.queries_kept = 0
    assert same(after) == same(fresh.search(PHRASE))
    assert "50000002" not in [h.pmid for h in after.hits] and after.hits[0].pmid == "50000009"
    assert same(index.search(PHRASE, journal="Spine")) == same(
        fresh.search(PHRASE, journal="Spine"))
    index.close()
    fresh.close()

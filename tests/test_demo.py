"""The demo corpus in seeds/, built for real: what a new user sees first."""

import re

import pytest

from indexer import build_index, open_index

from conftest import REPO


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo-index")
    report = build_index(REPO / "seeds", root, procs=2)
    index = open_index(root)
    yield report, index
    index.close()


def test_build_indexes_the_seed_page_and_every_demo_page(demo):
    report, index = demo
    # 641 rendered pages + the real seed page, each with its PubMed link.
    assert report.pages == 642
    assert report.duplicates == 0
    assert report.skipped == []
    assert report.indexed == len(index) == 642


def test_the_demo_build_embeds_every_record_for_the_semantic_rerank(demo):
    report, index = demo
    assert re.fullmatch(r"642 of 642 records \(\d+ embedded, \d+ from the cache\) in [\d.]+ s",
                        report.vectors)
    hits = index.search("slipped disc surgery outcomes").hits
    assert len(hits) == 10 and all(set(h.ranked_with) == {"words", "meaning"} for h in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_a_title_only_record_is_found_by_its_title(demo):
    # 25637467's PubMed record has a title only (no abstract, no MeSH).
    # Articles with the same words in title and abstract rank above it; it is
    # on the first page for its title and first for a phrase of it.
    _, index = demo
    title = "Delayed complication of vertebroplasty: intradural penetration of previous PMMA leakage after trauma"
    assert "25637467" in [hit.pmid for hit in index.search(title).hits]
    assert [hit.pmid for hit in index.search('"intradural penetration"').hits] == ["25637467"]
    assert index.article("25637467").abstract is None


def test_blood_patch_ranks_the_seed_article_first(demo):
    _, index = demo
    assert index.search("blood patch").hits[0].pmid == "21349964"


def test_total_and_pages_respect_filters(demo):
    _, index = demo
    unfiltered = index.search("cement", per_page=100)
    filtered = index.search("cement", journal="Spine", per_page=100)
    assert 0 < filtered.total == len(filtered.hits) < unfiltered.total
    assert all(h.journal == "Spine" for h in filtered.hits)
    assert filtered.facets["journal"] == [("Spine", filtered.total)]
    by_year = index.search("cement", year_from=2010, year_to=2012, per_page=100)
    assert by_year.total == len(by_year.hits) == sum(c for _, c in by_year.facets["year"])
    assert all(2010 <= h.year <= 2012 for h in by_year.hits)


@pytest.mark.parametrize("query", ["trial", "vertebroplasty cement leakage", "spinal tuberculosis",
                                   "blood patch", "fusion outcome"])
def test_a_page_of_results_ranks_like_the_whole_list(demo, query):
    # whoosh3 swapped matchers mid-search and dropped the OR coordination
    # bonus, so the first page scored some documents lower than a longer list.
    _, index = demo
    first = [(h.pmid, h.score) for h in index.search(query, per_page=10, expand=False).hits]
    whole = [(h.pmid, h.score) for h in index.search(query, per_page=100, expand=False).hits]
    assert first == whole[:10]

"""The search API over the literal corpus: ranking, syntax, filters, sort, snippets."""

import pytest

from indexer import ArticleNotFound, IndexMissing, QueryError, open_index


def pmids(results):
    return [h.pmid for h in results.hits]


def test_blood_patch_ranks_the_seed_article_first(idx):
    res = idx.search("blood patch")
    assert pmids(res)[0] == "21349964"


def test_hit_carries_the_results_page_fields(idx):
    hit = idx.search("blood patch").hits[0]
    assert hit.title.startswith("CT-guided epidural blood patching")
    assert hit.year == 2011 and hit.published == "2011 May"
    assert hit.journal == "AJNR Am J Neuroradiol"
    assert hit.authors == ["Kranz PG", "Gray L", "Taylor JN"]
    assert "Blood Patch" in hit.keywords
    assert hit.url == "https://www.ncbi.nlm.nih.gov/pubmed/21349964"
    assert hit.score > 0


def test_more_matching_words_rank_higher_and_a_stray_word_empties_nothing(idx):
    res = idx.search("vertebroplasty cement leakage zzzunknownword")
    assert pmids(res)[:2] == ["30000001", "30000003"]
    assert res.hits[0].score > res.hits[-1].score


def test_stemming_matches_other_forms(idx):
    assert pmids(idx.search("fracture")) == ["30000001"]
    assert pmids(idx.search("runs")) == ["30000004"]


def test_quoted_phrase_needs_the_words_together(idx):
    assert set(pmids(idx.search('"cement leakage"'))) == {"30000001", "30000003"}
    assert pmids(idx.search('"leakage cement"')) == []


@pytest.mark.parametrize("query, expected", [
    ("CT-guided", {"21349964"}),
    ("ct guided", {"21349964"}),
    ("L4-L5", {"30000002"}),
    ("l4l5", {"30000002"}),
    ("COVID-19", {"30000005"}),
    ("T2-weighted", {"30000004"}),
])
def test_medical_compounds_are_found_whole_and_by_parts(idx, query, expected):
    assert set(pmids(idx.search(query))) == expected


@pytest.mark.parametrize("query, expected", [
    ("vertebroplasty AND kyphoplasty", {"30000003"}),
    ("vertebroplasty NOT kyphoplasty", {"30000001"}),
    ("tuberculosis OR covid", {"30000002", "30000005"}),
    ("(kyphoplasty OR tuberculosis) AND fusion", {"30000002"}),
    ("spine NOT surgery", set()),
    ("spinal NOT fusion", {"30000001"}),
    ("vertebroplasty NOT (kyphoplasty OR tuberculosis)", {"30000001"}),
    ("spinal NOT surgery NOT fusion", {"30000001"}),
])
def test_boolean_operators(idx, query, expected):
    assert set(pmids(idx.search(query))) == expected


@pytest.mark.parametrize("query, expected", [
    ("title:kyphoplasty", {"30000003"}),
    ("abstract:kyphoplasty", {"30000003"}),
    ("mesh:vertebroplasty", {"30000001", "30000003"}),
    ("keywords:athletes", {"30000004"}),
    ("author:kranz", {"21349964", "30000005"}),
    ('author:"Smith AB"', {"30000001", "30000003"}),
    ("journal:spine", {"30000001", "30000003", "30000002", "30000005"}),
    ("pmid:30000002", {"30000002"}),
    ("year:2011", {"21349964"}),
    ("year:2010-2016", {"21349964", "30000001"}),
    ("year:>2019", {"30000004", "30000005"}),
    ("year:<=2008", {"30000002"}),
])
def test_field_prefixes_and_year_ranges(idx, query, expected):
    assert set(pmids(idx.search(query))) == expected


def test_unknown_prefix_is_searched_as_words(idx):
    assert pmids(idx.search("foo:kyphoplasty")) == ["30000003"]


def test_filters_restrict_without_changing_the_query(idx):
    assert pmids(idx.search("vertebroplasty", year_from=2016)) == ["30000003"]
    assert pmids(idx.search("vertebroplasty", year_to=2016)) == ["30000001"]
    assert set(pmids(idx.search("", journal="Spine"))) == {"30000001", "30000003"}
    assert pmids(idx.search("patients", mesh="Spinal Fusion")) == ["30000002"]


def test_bad_parameters_raise_query_error(idx):
    for kwargs in ({"sort": "best"}, {"page": 0}, {"per_page": 0}, {"per_page": 1000},
                   {"year_from": 2020, "year_to": 2010}):
        with pytest.raises(QueryError):
            idx.search("spine", **kwargs)


def test_sort_by_date(idx):
    assert pmids(idx.search("", sort="newest")) == [
        "30000005", "30000004", "30000003", "30000001", "21349964", "30000002"]
    assert pmids(idx.search("", sort="oldest"))[0] == "30000002"


def test_pagination(idx):
    first = idx.search("", sort="newest", per_page=4)
    second = idx.search("", sort="newest", per_page=4, page=2)
    assert (first.total, first.pages, len(first.hits)) == (6, 2, 4)
    assert pmids(second) == ["21349964", "30000002"]
    assert idx.search("", per_page=4, page=9).hits == []


def test_facets_count_the_whole_result_set(idx):
    facets = idx.search("vertebroplasty").facets
    assert facets["year"] == [(2019, 1), (2015, 1)]
    assert facets["journal"] == [("Spine", 2)]
    assert ("Vertebroplasty", 2) in facets["mesh"]


def test_snippet_marks_whole_words_as_written(idx):
    snippet = idx.search("cement leakage").hits[0].snippet
    assert "<mark>cement</mark> <mark>leakage</mark>" in snippet


def test_snippet_escapes_markup_from_the_abstract(idx):
    snippet = idx.search("athletes script").hits[0].snippet
    assert "<script" not in snippet and "<img" not in snippet
    assert "&lt;<mark>script</mark>&gt;" in snippet
    assert "&quot;&gt;&lt;img src=x onerror=alert(1" in snippet


def test_article_without_abstract_is_found_by_title_and_keywords(idx):
    hit = idx.search("pandemic").hits[0]
    assert (hit.pmid, hit.snippet) == ("30000005", "")


def test_suggestion_for_a_misspelling(idx):
    res = idx.search("vertebroplasy", expand=False)
    assert res.total == 0 and res.suggestion == "vertebroplasty"
    # Expanded (the default), the correction is searched when nothing matched.
    res = idx.search("vertebroplasy")
    assert res.total == 2 and res.suggestion == "vertebroplasty"
    assert res.expansions == [{"type": "spelling", "from": "vertebroplasy",
                               "to": ["vertebroplasty"]}]
    assert idx.search("vertebroplasty").suggestion is None


def test_suggestion_for_one_misspelt_word_among_matching_ones(idx):
    res = idx.search("tuberclosis fusion", expand=False)
    assert res.total == 1 and res.suggestion == "tuberculosis fusion"


def test_suggestion_keeps_quotes_and_brackets(idx):
    assert idx.search('"vertebroplasy cement"', expand=False).suggestion == (
        '"vertebroplasty cement"')
    assert idx.search("(kyphoplasy OR fusion)", expand=False).suggestion == (
        "(kyphoplasty OR fusion)")


def test_article_and_similar(idx):
    record = idx.article("30000001")
    assert record.title.startswith("Cement leakage") and record.year == 2015
    assert "30000003" in [h.pmid for h in idx.similar("30000001")]
    with pytest.raises(ArticleNotFound):
        idx.article("99999999")


def test_missing_index_says_what_to_do(tmp_path):
    with pytest.raises(IndexMissing, match="run `medsearch build`"):
        open_index(tmp_path / "nothing")


# --- invisible characters and the ~ and ^ operators ------------------------------------

@pytest.mark.parametrize("char", ["\u00ad", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"],
                         ids=["soft-hyphen", "ZWSP", "ZWNJ", "ZWJ", "word-joiner", "BOM"])
def test_invisible_characters_in_a_query_do_not_split_a_word(idx, char):
    assert pmids(idx.search(f"verte{char}broplasty")) == ["30000003", "30000001"]
    assert pmids(idx.search(f'title:"cement le{char}akage"')) == ["30000001"]


def test_invisible_characters_in_indexed_text_do_not_split_a_word(tmp_path):
    from indexer.build import build

    # PubMed exports keep soft hyphens and zero-width spaces as they are.
    (tmp_path / "seeds").mkdir()
    (tmp_path / "seeds" / "export.xml").write_text(
        "<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>40000001</PMID><Article>"
        "<Journal><JournalIssue><PubDate><Year>2020</Year></PubDate></JournalIssue>"
        "<Title>Spine</Title></Journal><ArticleTitle>Kypho\u200bplasty outcomes</ArticleTitle>"
        "<Abstract><AbstractText>Percutaneous verte\u00adbroplasty relieved pain."
        "</AbstractText></Abstract></Article></MedlineCitation></PubmedArticle>"
        "</PubmedArticleSet>", encoding="utf-8")
    build(tmp_path / "seeds", tmp_path / "index")
    index = open_index(tmp_path / "index")
    try:
        assert pmids(index.search("kyphoplasty")) == ["40000001"]
        hit = index.search("vertebroplasty").hits[0]
        assert hit.pmid == "40000001"
        assert hit.snippet == "Percutaneous <mark>verte\u00adbroplasty</mark> relieved pain"
        assert index.search("were").total == 0
    finally:
        index.close()


@pytest.mark.parametrize("query, expected", [
    # word~N: words within N edits (a swap is one), at most 2; word~: by the word's length.
    ("vertebroplsty~1", ["30000003", "30000001"]),
    ("vertebroplsty~", ["30000003", "30000001"]),
    ("spine~0", ["30000005"]),
    ("spine~1", ["30000005"]),
    ("spine~2", ["30000005", "30000002", "21349964", "30000001"]),  # spinal, spin(al)
    ("spine~9", ["30000005", "30000002", "21349964", "30000001"]),  # as many as ~2
    ("title:spine~1 OR kyphoplsty~1", ["30000003", "30000005"]),
    ('"blood patch"~0', ["21349964"]),
    ('"blood patching"~3', ["21349964"]),
    # ^N: a boost, capped at 100.
    ("spine^2", ["30000005"]),
    ("spine^0", ["30000005"]),
    ("spine^1e308", ["30000005"]),
    ("spine^1e400", ["30000005"]),
    ("spine~2^3", ["30000005", "30000002", "30000001", "21349964"]),
    ("(vertebroplasty OR kyphoplasty^10)", ["30000003", "30000001"]),
])
def test_fuzzy_words_and_boosts(idx, query, expected):
    assert pmids(idx.search(query, expand=False)) == expected


def test_a_boost_changes_the_order(idx):
    assert pmids(idx.search("leakage kyphoplasty", expand=False))[0] == "30000003"
    assert pmids(idx.search("leakage^20 kyphoplasty", expand=False))[0] == "30000001"


@pytest.mark.parametrize("query, message", [
    ("spine^-5", "'^-5' is not a boost: give a number from 0 to 100 (e.g. spine^2 to weigh "
                 "spine more, spine^0.5 less, or NOT spine to leave it out)"),
    ("spine^x2", "'^x2' is not a boost: give a number from 0 to 100 (e.g. spine^2 to weigh "
                 "spine more, spine^0.5 less, or NOT spine to leave it out)"),
    ("spine~0.8", "'~0.8' is not a number of edits: type a word with ~1 or ~2 after it "
                  "(e.g. spine~1) for similar spellings"),
    ("spine~-1", "'~-1' is not a number of edits: type a word with ~1 or ~2 after it "
                 "(e.g. spine~1) for similar spellings"),
    ("(spine cement)~2", "'~2' must follow a word: type spine~1 for words spelt like spine, "
                         "or \"two words\"~3 for words near each other"),
])
def test_operators_that_cannot_work_say_what_to_type(idx, query, message):
    with pytest.raises(QueryError) as error:
        idx.search(query)
    assert str(error.value) == message

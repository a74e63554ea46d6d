"""Medical query understanding on literal examples: synonyms, acronyms, spelling, quotes."""

from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from indexer.query import mesh
from indexer.query.abbrev import find_pairs, mine
from indexer.evaluation.evaluate import open_collection_index
from indexer.query.expand import Expander, plain_segments
from indexer.query.settings import DEFAULT
from indexer.pages.records import Record
from indexer.evaluation.testsets import Collection, data_dir

HAVE_MESH = (data_dir() / mesh.CTD_FILE).exists()
needs_mesh = pytest.mark.skipif(not HAVE_MESH, reason=f"no {mesh.CTD_FILE} under {data_dir()}")

# Lay words and acronyms in the queries below appear in none of these texts.
DOCS = [
    Record("1", "Intervertebral disc displacement in rowers",
           "Herniation of the nucleus pulposus was imaged by MRI in twelve rowers."),
    Record("2", "Spinal tuberculosis treated surgically",
           "Tuberculous infection of the thoracic spine was treated in 40 patients."),
    Record("3", "Epidural blood patch",
           "Spontaneous intracranial hypotension (SIH) causes orthostatic headache; "
           "an epidural blood patch relieved it."),
    Record("4", "Low back pain in athletes", "Low back pain is common in athletes."),
    Record("5", "Cement leakage after spine augmentation",
           "Percutaneous vertebroplasty (PVP) and percutaneous kyphoplasty (PKP) relieve pain "
           "from fractures. Leakage was seen after PVP."),
    Record("6", "Adult spinal deformity surgery",
           "Adult spinal deformity (ASD) surgery leaks cerebrospinal fluid (CSF) rarely."),
]

# The synonym lever itself: concepts (which take over a mapped phrase from it)
# are tests/test_concepts.py's.
EVERYTHING = replace(DEFAULT, concepts=0.0, synonyms=DEFAULT.synonyms or 0.3,
                     abbreviations=DEFAULT.abbreviations or 0.5, spelling=True)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-index")
    index = open_collection_index(Collection("tiny", DOCS, {}, {}), Path(folder))
    yield index
    index.close()


def search(index, text, **kwargs):
    kwargs.setdefault("ranking", EVERYTHING)
    res = index.search(text, **kwargs)
    return [h.pmid for h in res.hits], res.expansions


# --- synonyms ----------------------------------------------------------------------

@needs_mesh
@pytest.mark.parametrize("lay, pmid, descriptor", [
    ("slipped disc", "1", "Intervertebral Disc Displacement"),
    ("Pott disease", "2", "Spinal Tuberculosis"),
    ("lumbago", "4", "Low Back Pain"),
])
def test_a_lay_term_finds_the_mesh_term(tiny, lay, pmid, descriptor):
    found, expansions = search(tiny, lay)
    assert found[0] == pmid
    assert {"type": "synonym", "from": lay, "to": expansions[0]["to"]} == expansions[0]
    assert expansions[0]["to"][0] == descriptor


@needs_mesh
def test_synonyms_weigh_less_than_the_users_words(tiny):
    # "disc" is the user's own word in doc 1's title; doc 4 matches "low back
    # pain" only through "lumbago": the user's word ranks first.
    res = tiny.search("lumbago disc", ranking=EVERYTHING)
    assert [h.pmid for h in res.hits][:2] == ["1", "4"]


def test_synonym_lookup_from_a_literal_table():
    table = {"keys": {"slip disc": [0], "herniat disc": [0]},
             "concepts": [{"name": "Intervertebral Disc Displacement",
                           "forms": [["Intervertebral Disc Displacement",
                                      ["intervertebr", "disc", "displac"]],
                                     ["Herniated Disc", ["herniat", "disc"]]]}]}
    expansions = Expander(synonyms=table).expand(["treating a Slipped Disc surgically"])
    assert [e.to_dict() for e in expansions] == [{
        "type": "synonym", "from": "Slipped Disc",
        "to": ["Intervertebral Disc Displacement", "Herniated Disc"]}]


def test_mesh_inverted_terms_read_as_written():
    assert mesh.deinvert("Tuberculosis, Spinal") == "Spinal Tuberculosis"
    assert mesh.deinvert("Back Pain, Low") == "Low Back Pain"
    assert mesh.deinvert("Lumbago") == "Lumbago"


# --- abbreviations -------------------------------------------------------------------

@pytest.mark.parametrize("text, pair", [
    ("Spontaneous intracranial hypotension (SIH) causes headache.",
     ("SIH", "Spontaneous intracranial hypotension")),
    ("after percutaneous vertebroplasty (PVP) for fractures", ("PVP", "percutaneous vertebroplasty")),
    ("treated with percutaneous kyphoplasty (PKP).", ("PKP", "percutaneous kyphoplasty")),
    ("outcomes of adult spinal deformity (ASD) surgery", ("ASD", "adult spinal deformity")),
    ("a leak of cerebrospinal fluid (CSF) was seen", ("CSF", "cerebrospinal fluid")),
])
def test_schwartz_hearst_finds_the_long_form(text, pair):
    assert list(find_pairs(text)) == [pair]


def test_no_pair_without_a_matching_long_form():
    assert list(find_pairs("Balloon kyphoplasty (PKP) was used")) == []
    assert list(find_pairs("the mean (sd) age was 40 (range 20-60)")) == []


def test_ambiguous_acronyms_keep_only_frequent_long_forms():
    texts = ["atrial septal defect (ASD)"] * 2 + ["adult spinal deformity (ASD)"] * 3 + [
        "autism spectrum disorder (ASD)", "spontaneous intracranial hypotension (SIH)"]
    pairs = mine(texts)
    assert pairs["asd"] == ("ASD", ["adult spinal deformity", "atrial septal defect"])
    assert pairs["sih"] == ("SIH", ["spontaneous intracranial hypotension"])  # once, unambiguous
    # Spellings of one long form count together.
    csf = mine(["cerebrospinal fluid (CSF)", "cerebro-spinal fluid (CSF)",
                "cerebral spinal fluid (CSF)"])
    assert csf["csf"] == ("CSF", ["cerebrospinal fluid"])


@pytest.mark.parametrize("query, pmid, target", [
    ("SIH", "3", "Spontaneous intracranial hypotension"),
    ("PKP", "5", "percutaneous kyphoplasty"),
    ("ASD", "6", "Adult spinal deformity"),
    ("cerebrospinal fluid", "6", "CSF"),
])
def test_an_acronym_and_its_long_form_find_each_other(tiny, query, pmid, target):
    found, expansions = search(tiny, query)
    assert pmid in found
    assert {"type": "abbreviation", "from": query, "to": [target]} in expansions


def test_an_acronym_finds_documents_that_only_spell_it_out(tmp_path):
    docs = DOCS + [Record("7", "Headache on standing",
                          "Spontaneous intracranial hypotension was treated by blood patch.")]
    index = open_collection_index(Collection("t", docs, {}, {}), tmp_path)
    try:
        found, _ = search(index, "SIH")
        assert set(found) == {"3", "7"}
    finally:
        index.close()


# --- spelling, quotes and the off switch ----------------------------------------------

def test_a_misspelling_with_no_results_searches_the_correction(tiny):
    res = tiny.search("tuberclosis", ranking=EVERYTHING)
    assert [h.pmid for h in res.hits] == ["2"]
    assert res.expansions == [{"type": "spelling", "from": "tuberclosis", "to": ["tuberculosis"]}]
    assert res.suggestion == "tuberculosis"


def test_a_quoted_word_is_never_expanded(tiny):
    assert search(tiny, '"SIH"')[1] == []
    assert search(tiny, '"lumbago"') == ([], [])
    assert plain_segments('"slipped disc" lumbago author:Smith') == (["lumbago"], True)


def test_expand_false_searches_the_words_only(tiny):
    res = tiny.search("SIH", expand=False)
    assert res.expansions == [] and [h.pmid for h in res.hits] == ["3"]
    assert tiny.search("tuberclosis", expand=False).total == 0


def test_results_report_expansions_in_to_dict(tiny):
    data = tiny.search("PVP", ranking=EVERYTHING).to_dict()
    assert data["expansions"] == [{"type": "abbreviation", "from": "PVP",
                                   "to": ["Percutaneous vertebroplasty"]}]
    assert {"query", "total", "hits", "facets", "suggestion"} <= set(data)


def test_the_build_saves_resources_and_the_product_expands(idx):
    # The shared corpus, built by `build`: its abstracts define "SIH".
    res = idx.search("spontaneous intracranial hypotension")
    assert {"type": "abbreviation", "from": "spontaneous intracranial hypotension",
            "to": ["SIH"]} in res.expansions


# --- pseudo-relevance feedback ---------------------------------------------------------

FILLER = [Record(str(100 + i), f"{topic} in clinical practice", f"A review of {topic} management.")
          for i, topic in enumerate(["asthma", "gout", "migraine", "psoriasis", "glaucoma",
                                     "anemia", "scabies", "rickets", "tinnitus", "vertigo"])]
FEEDBACK_DOCS = [
    Record("11", "Avocado oil and cholesterol",
           "Avocado oil lowered serum cholesterol and triglycerides in adults."),
    Record("12", "An avocado diet", "Avocado eaten daily lowered LDL cholesterol and triglycerides."),
    # Neither word of "avocado oil", but the words of the two above.
    Record("13", "Monounsaturated fats", "Olive fat lowered LDL cholesterol and triglycerides in adults."),
] + FILLER


def test_feedback_adds_a_related_document_and_says_so(tmp_path):
    index = open_collection_index(Collection("f", FEEDBACK_DOCS, {}, {}), tmp_path)
    try:
        res = index.search("avocado oil")
        found = [h.pmid for h in res.hits]
        assert found[:2] == ["11", "12"] and "13" in found
        assert res.total == 3  # the count includes what feedback added
        note = next(e for e in res.expansions if e["type"] == "feedback")
        assert note["from"] == "avocado oil"
        assert "triglycerides" in note["to"] and len(note["to"]) <= 5  # words as written
        # Switched off, or expand=False: the user's words alone.
        words_only = index.search("avocado oil", expand=False)
        assert [h.pmid for h in words_only.hits] == ["11", "12"] and words_only.expansions == []
        off = index.search("avocado oil", ranking=replace(DEFAULT, prf_widen=0))
        assert [h.pmid for h in off.hits] == ["11", "12"]
    finally:
        index.close()


def test_feedback_needs_two_shared_words_to_add_a_document(tmp_path):
    docs = FEEDBACK_DOCS[:2] + [Record("13", "Olive fat", "Olive fat lowered blood pressure.")] + FILLER
    index = open_collection_index(Collection("f", docs, {}, {}), tmp_path)
    try:
        assert [h.pmid for h in index.search("avocado oil").hits] == ["11", "12"]
    finally:
        index.close()


def test_feedback_words_leave_out_numbers_and_short_tokens():
    from indexer.whoosh_engine.feedback import _feedback_word
    assert [w for w in ["cholesterol", "num", "2", "l4", "ng", "ldl"] if _feedback_word(w)] == [
        "cholesterol", "ldl"]


def test_feedback_words_are_named_as_most_often_written_from_the_kept_analyses():
    # The words analysed once per document (and kept) also say how each was
    # written: the feedback note names a stem by its commonest written form.
    from indexer.whoosh_engine.analysis import terms_at
    from indexer.whoosh_engine.feedback import _surface_forms, _term_counts
    docs = [{"title": "Studies of the SPINE", "abstract": "Two studies; one study. Spinal studies."},
            {"title": "A study", "abstract": "Spine surgery studied in a study."},
            {"title": "Nothing else", "abstract": ""}]
    stems = [t for t, _, _ in terms_at("studies spine surgery tumour", mode="query")]
    named = _surface_forms([_term_counts(d) for d in docs], stems)
    assert named == ["studies", "spine", "surgery", stems[3]]
    # As counting every written form in the texts again finds.
    for stem, name in zip(stems, named):
        written = Counter()
        for d in docs:
            text = " ".join(s for s in (d["title"], d["abstract"]) if s)
            written.update(text[a:b].lower() for t, a, b in terms_at(text, mode="query") if t == stem)
        assert name == (min(written.items(), key=lambda kv: (-kv[1], kv[0]))[0] if written else stem)


def test_feedback_documents_tied_on_score_are_chosen_by_pmid(tmp_path):
    # "21" and "22" score alike for "quinoa"; with one feedback document the
    # choice between them must not depend on which was indexed first.
    one = replace(DEFAULT, prf_docs=1, prf_doc_weight="softmax")
    pair = [Record("21", "Quinoa", "Quinoa protein barley gluten."),
            Record("22", "Quinoa", "Quinoa protein lentil fibre."),
            Record("23", "Barley gluten", "Barley gluten in bread."),
            Record("24", "Lentil fibre", "Lentil fibre in soup.")]
    runs = []
    for order, docs in enumerate([pair + FILLER, pair[::-1] + FILLER[::-1]]):
        index = open_collection_index(Collection("t", docs, {}, {}), tmp_path / str(order))
        try:
            runs.append(index.rank("quinoa", ranking=one))
        finally:
            index.close()
    assert runs[0] == runs[1]
    assert [pmid for pmid, _ in runs[0]][:3] == ["21", "22", "23"]  # barley gluten: from "21"


def test_only_documents_tied_on_score_have_their_pmid_read():
    import numpy as np

    from indexer.whoosh_engine.feedback import _ties_by_pmid

    class Searcher:
        read: list[int] = []

        def stored_fields(self, docnum):
            self.read.append(docnum)
            return {"pmid": {4: "9", 7: "10", 2: "8"}[docnum]}

    searcher = Searcher()
    # Engine.top's order: by score, ties by document number.
    ranked = _ties_by_pmid(searcher, np.array([5, 2, 4, 7, 1]),
                           np.array([3.0, 2.0, 2.0, 2.0, 1.0]))
    # PMIDs compare as Whoosh stores them: text.
    assert ranked == [(3.0, 5), (2.0, 7), (2.0, 2), (2.0, 4), (1.0, 1)]
    assert sorted(searcher.read) == [2, 4, 7]

"""The SolrCloud engine on a real 2-node cluster: the search contract on both
engines, the build's alias lifecycle, and selection by MEDSEARCH_SOLR.

`engine_idx` is the literal corpus (tests/conftest.py) opened on Whoosh and
on SolrCloud (built with `medsearch build --solr URL --shards 2 --replicas 2`);
every contract test runs on both and asserts the same answer.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from indexer import open_index
from indexer.errors import ArticleNotFound, IndexMissing, QueryError
from indexer.solr_engine.client import SolrClient
from conftest import ARTICLES, clinic_page
from solr_fixtures import REPO, medsearch
from test_queries_fuzz import BAD
from indexer.evaluation.testsets import data_dir
from indexer.query import mesh
from indexer.query.settings import DEFAULT

# Concepts need MeSH: CTD's vocabulary in the data folder (as tests/test_concepts.py).
HAVE_CTD = (data_dir() / mesh.CTD_FILE).exists()
needs_mesh = pytest.mark.skipif(not HAVE_CTD, reason="no MeSH vocabulary (set MEDSEARCH_DATA)")

pytestmark = pytest.mark.solr


def pmids(results):
    return [h.pmid for h in results.hits]


def solr_env(cluster, **more) -> dict:
    return {**os.environ, "MEDSEARCH_SOLR": cluster.url, **more}


def collections(cluster, alias: str) -> list[str]:
    return sorted(name for name in SolrClient(cluster.url).collections()
                  if name.startswith(alias + "__"))


def alias_target(cluster, alias: str) -> str | None:
    return SolrClient(cluster.url).aliases().get(alias)


@pytest.fixture(scope="module")
def contract_seeds(tmp_path_factory):
    """The literal corpus's pages, this module's own (a test elsewhere edits corpus_dir's)."""
    seeds = tmp_path_factory.mktemp("contract-seeds")
    for article in ARTICLES:
        (seeds / f"{article[0]}.html").write_text(clinic_page(*article), encoding="utf-8")
    return seeds


@pytest.fixture(scope="module")
def whoosh_index(contract_seeds, tmp_path_factory):
    """The literal corpus built into a Whoosh index, by the CLI."""
    root = tmp_path_factory.mktemp("whoosh") / "contract"
    env = {k: v for k, v in os.environ.items() if k != "MEDSEARCH_SOLR"}
    done = medsearch("build", "--seeds", contract_seeds, "--index", root, env=env)
    assert done.returncode == 0, done.stderr
    index = open_index(root, solr="")
    yield index
    index.close()


@pytest.fixture(scope="module")
def solr_index(solr_cluster, contract_seeds, tmp_path_factory):
    """The literal corpus built on the cluster, 2 shards × 2 replicas, by the CLI."""
    root = tmp_path_factory.mktemp("solr") / "contract"
    done = medsearch("build", "--seeds", contract_seeds, "--index", root, "--shards", 2,
                     "--replicas", 2, env=solr_env(solr_cluster), timeout=600)
    assert done.returncode == 0, done.stderr
    index = open_index(root, solr=solr_cluster.url)
    yield index
    index.close()


@pytest.fixture(params=["whoosh", "solr"])
def engine_idx(request):
    """The same corpus on either engine."""
    return request.getfixturevalue(f"{request.param}_index")


# --- the search contract, on both engines -----------------------------------------

def test_blood_patch_ranks_the_seed_article_first(engine_idx, whoosh_index):
    res = engine_idx.search("blood patch")
    assert res.hits[0].mesh == whoosh_index.search("blood patch").hits[0].mesh != []
    assert pmids(res) == ["21349964"]
    hit = res.hits[0]
    assert (hit.title, hit.year, hit.published, hit.journal, hit.authors, hit.url) == (
        "CT-guided epidural blood patching of directly observed or potential leak sites",
        2011, "2011 May", "AJNR Am J Neuroradiol", ["Kranz PG", "Gray L", "Taylor JN"],
        "https://www.ncbi.nlm.nih.gov/pubmed/21349964")
    assert hit.score > 0


def test_more_matching_words_rank_higher(engine_idx):
    res = engine_idx.search("vertebroplasty cement leakage zzzunknownword")
    assert pmids(res)[:2] == ["30000001", "30000003"]
    assert pmids(engine_idx.search('"cement leakage"')) == ["30000001", "30000003"]
    assert pmids(engine_idx.search('"leakage cement"')) == []


def test_a_repeated_word_counts_once(engine_idx, whoosh_index):
    # Whoosh's query normalisation drops a repeated word ("fractures" is the
    # same term); edismax would add up every copy, so SolrCloud sends it once.
    # (By words: the semantic rerank embeds the text as written.)
    words = DEFAULT.without_semantic()
    repeated = engine_idx.rank("fracture vertebroplasty fracture fractures leakage", 5,
                               ranking=words, expand=False)
    once = engine_idx.rank("fracture vertebroplasty leakage", 5, ranking=words, expand=False)
    assert repeated == once != []
    assert [pmid for pmid, _ in repeated] == [pmid for pmid, _ in whoosh_index.rank(
        "fracture vertebroplasty leakage", 5, ranking=words, expand=False)]


@pytest.mark.parametrize("query, expected", [
    ("fracture", {"30000001"}),
    ("runs", {"30000004"}),
    ("CT-guided", {"21349964"}),
    ("ct guided", {"21349964"}),
    ("L4-L5", {"30000002"}),
    ("l4l5", {"30000002"}),
    ("COVID-19", {"30000005"}),
    ("vertebroplasty AND kyphoplasty", {"30000003"}),
    ("vertebroplasty NOT kyphoplasty", {"30000001"}),
    ("tuberculosis OR covid", {"30000002", "30000005"}),
    ("(kyphoplasty OR tuberculosis) AND fusion", {"30000002"}),
    ("spinal NOT fusion", {"30000001"}),
    ("title:kyphoplasty", {"30000003"}),
    ("abstract:kyphoplasty", {"30000003"}),
    ("mesh:vertebroplasty", {"30000001", "30000003"}),
    ("author:kranz", {"21349964", "30000005"}),
    ('author:"Smith AB"', {"30000001", "30000003"}),
    ("journal:spine", {"30000001", "30000003", "30000002", "30000005"}),
    ("pmid:30000002", {"30000002"}),
    ("year:2011", {"21349964"}),
    ("year:2010-2016", {"21349964", "30000001"}),
    ("year:>2019", {"30000004", "30000005"}),
    ("year:<=2008", {"30000002"}),
    ("foo:kyphoplasty", {"30000003"}),
])
def test_syntax_finds_the_same_articles(engine_idx, query, expected):
    assert set(pmids(engine_idx.search(query))) == expected


def test_filters_sorts_and_pages(engine_idx):
    assert pmids(engine_idx.search("vertebroplasty", year_from=2016)) == ["30000003"]
    assert pmids(engine_idx.search("vertebroplasty", year_to=2016)) == ["30000001"]
    assert set(pmids(engine_idx.search("", journal="Spine"))) == {"30000001", "30000003"}
    assert pmids(engine_idx.search("patients", mesh="Spinal Fusion")) == ["30000002"]
    assert pmids(engine_idx.search("", sort="newest")) == [
        "30000005", "30000004", "30000003", "30000001", "21349964", "30000002"]
    assert pmids(engine_idx.search("spinal", sort="oldest")) == ["30000002", "30000001"]
    second = engine_idx.search("", sort="newest", per_page=4, page=2)
    assert (second.total, second.pages, pmids(second)) == (6, 2, ["21349964", "30000002"])
    with pytest.raises(QueryError):
        engine_idx.search("spine", year_from=2020, year_to=2010)


def test_facets_count_the_whole_result_set(engine_idx):
    facets = engine_idx.search("vertebroplasty").facets
    assert facets["year"] == [(2019, 1), (2015, 1)]
    assert facets["journal"] == [("Spine", 2)]
    assert facets["mesh"][0] == ("Vertebroplasty", 2)
    assert engine_idx.search("zzzunknownword").facets == {}


def test_snippets_mark_matches_and_escape_the_rest(engine_idx):
    assert "<mark>cement</mark> <mark>leakage</mark>" in (
        engine_idx.search("cement leakage").hits[0].snippet)
    snippet = engine_idx.search("athletes script").hits[0].snippet
    assert "<script" not in snippet and "<img" not in snippet
    assert "&lt;<mark>script</mark>&gt;" in snippet
    assert "&quot;&gt;&lt;img src=x onerror=alert(1" in snippet
    hit = engine_idx.search("pandemic").hits[0]
    assert (hit.pmid, hit.snippet) == ("30000005", "")


def test_did_you_mean(engine_idx):
    res = engine_idx.search("vertebroplasy", expand=False)
    assert (res.total, res.suggestion) == (0, "vertebroplasty")
    res = engine_idx.search("vertebroplasy")
    assert (res.total, res.suggestion) == (2, "vertebroplasty")
    assert res.expansions == [{"type": "spelling", "from": "vertebroplasy",
                               "to": ["vertebroplasty"]}]
    assert engine_idx.search("tuberclosis fusion", expand=False).suggestion == (
        "tuberculosis fusion")
    # A known word is never "corrected", even when a filter leaves no hits.
    assert engine_idx.search("spine", year_from=2010, year_to=2019).suggestion is None


def test_article_similar_and_records(engine_idx, whoosh_index):
    record = engine_idx.article("30000001")
    assert (record.title, record.year, record.journal, record.authors) == (
        "Cement leakage after percutaneous vertebroplasty for osteoporotic fractures",
        2015, "Spine", ["Smith AB", "Jones C"])
    assert record == whoosh_index.article("30000001")
    with pytest.raises(ArticleNotFound):
        engine_idx.article("99999999")
    assert pmids_of(engine_idx.similar("30000001"))[0] == "30000003"
    with pytest.raises(ArticleNotFound):
        engine_idx.similar("99999999")
    records = engine_idx.records("", sort="newest")
    assert records == whoosh_index.records("", sort="newest")
    assert [r.pmid for r in records] == [
        "30000005", "30000004", "30000003", "30000001", "21349964", "30000002"]
    assert len(engine_idx.records("", limit=2)) == 2


def pmids_of(hits):
    return [h.pmid for h in hits]


@pytest.mark.parametrize("prefix, expected", [
    ("vert", ["vertebral", "vertebroplasty"]),
    ("patc", ["patch", "patching"]),
    ("cement lea", ["cement leakage", "cement leak"]),
    ("covid", ["covid", "COVID-19"]),
    ("ost", ["osteoporotic", "Osteoporotic Fractures"]),
    ("title:kypho", ["title:kyphoplasty"]),
])
def test_suggest_completes_words_and_mesh_keywords(engine_idx, prefix, expected):
    assert engine_idx.suggest(prefix) == expected


# Any string: the Whoosh engine's odd queries (tests/test_queries_fuzz.py), with the
# same totals, and Lucene syntax medsearch does not have, read as words.
ODD_QUERIES = {**BAD, "spine~5": 4, "blood~1": 1, '"blood patch"~3': 1, "blood^": 1,
               "-": 0, "+": 0, "!": 0, "+blood +zzz": 1, "blood -patch": 1, "!blood": 1,
               "blood && patch": 1, "blood || zzz": 1, "{!term f=id}30000001": 0,
               "{!lucene}kyphoplasty": 0, "kyphoplasty {!frange l=0}1": 1, "$ut": 0}


@pytest.mark.parametrize("text", list(ODD_QUERIES), ids=[repr(t[:20]) for t in ODD_QUERIES])
def test_any_query_string_gives_the_same_total(engine_idx, text):
    results = engine_idx.search(text)
    assert results.total == ODD_QUERIES[text]
    assert engine_idx.count(text) == ODD_QUERIES[text]
    json.dumps(results.to_dict(), allow_nan=False)


@pytest.mark.parametrize("text, message", [
    ("a*", "'a*' is too broad: give a wildcard at least 2 letters besides * and ? "
           "(e.g. spin* or *itis)"),
    ("*a?", "'*a?' is too broad: give a wildcard at least 2 letters besides * and ? "
            "(e.g. spin* or *itis)"),
    ("(" * 30 + "spine", "parentheses are nested 30 deep; at most 20 are allowed"),
    ("*pin* *ine", "2 terms start with a wildcard (*ine, *pin*); at most 1 may: begin the "
                   "others with letters (e.g. spin* rather than *pin*)"),
    ("spin* spi* vert* fract* ost* kyph* lumb* cerv* thor*",
     "the query has 9 wildcard, fuzzy and range terms; at most 8 are searched at once: "
     "remove some or write the words out"),
    ("spine^x", "'^x' is not a boost: give a number from 0 to 100 (e.g. spine^2 to weigh "
                "spine more, spine^0.5 less, or NOT spine to leave it out)"),
    ("spine~x", "'~x' is not a number of edits: type a word with ~1 or ~2 after it "
                "(e.g. spine~1) for similar spellings"),
    ("(spine)~2", "'~2' must follow a word: type spine~1 for words spelt like spine, or "
                  "\"two words\"~3 for words near each other"),
    (None, "the query must be text, not None"),
])
def test_queries_refused_with_the_same_message(engine_idx, text, message):
    with pytest.raises(QueryError) as error:
        engine_idx.search(text)
    assert str(error.value) == message


# --- query understanding: concepts, synonyms, abbreviations, feedback ---------------------

@pytest.mark.parametrize("query, expansions, expected", [
    pytest.param("lumbago", [{"type": "concept", "from": "lumbago", "to": ["Low Back Pain"]}],
                 ["30000004"], marks=needs_mesh),
    pytest.param("back pain", [{"type": "concept", "from": "back pain", "to": ["Back Pain"]}],
                 ["30000004", "30000001"], marks=needs_mesh),
    pytest.param("spinal tuberculosis", [{"type": "concept", "from": "spinal tuberculosis",
                                          "to": ["Spinal Tuberculosis"]}],
                 ["30000002", "30000001"], marks=needs_mesh),
    ("PVP", [{"type": "abbreviation", "from": "PVP", "to": ["Percutaneous vertebroplasty"]}],
     ["30000001"]),
    ("percutaneous vertebroplasty", [{"type": "abbreviation", "from": "percutaneous vertebroplasty",
                                      "to": ["PVP"]}], ["30000001", "30000003"]),
    pytest.param("title:vertebroplasty lumbago", [{"type": "concept", "from": "lumbago",
                                                   "to": ["Low Back Pain"]}],
                 ["30000003", "30000001"], marks=needs_mesh),
])
def test_expansions_are_searched_and_shown_as_on_whoosh(engine_idx, query, expansions, expected):
    """"Searched as": the same concepts and abbreviations from the same build resources
    (on Whoosh, feedback that added documents is listed too)."""
    results = engine_idx.search(query)
    assert [e for e in results.expansions if e["type"] != "feedback"] == expansions
    assert pmids(results) == expected
    assert engine_idx.search(query, expand=False).expansions == []


@needs_mesh
def test_a_concept_finds_what_the_words_do_not(engine_idx):
    assert engine_idx.search("lumbago", expand=False).total == 0
    hit = engine_idx.search("lumbago").hits[0]
    assert hit.pmid == "30000004"
    assert "<mark>" in hit.snippet and "low" in hit.snippet.lower()


@needs_mesh
def test_solr_stats_name_the_stored_vocabulary(solr_cluster, solr_index):
    done = medsearch("stats", "--index", solr_index.root, "--json",
                     env=solr_env(solr_cluster))
    stats = json.loads(done.stdout)
    assert stats["synonyms"].startswith("MeSH/CTD diseases, ")
    assert stats["abbreviations"] == "2 mined from the abstracts"
    # The resources are a document of the collection, never a result.
    assert len(solr_index) == 6 and solr_index.search("").total == 6


def test_counts_rank_and_info(engine_idx):
    assert len(engine_idx) == 6
    assert engine_idx.count("spinal") == 2
    assert engine_idx.count("spinal", year_from=2010) == 1
    assert [pmid for pmid, _ in engine_idx.rank("blood patch")] == ["21349964"]
    info = engine_idx.info
    assert (info["indexed"], info["pages"], info["command"]) == (6, 6, "build")


# --- SolrCloud only: errors, selection, the alias lifecycle -----------------------------

@pytest.mark.parametrize("query", ["year:[abc TO 2010]", "year:abc", "title:/[a/",
                                   '"unclosed', "(spine", "AND", "NOT"])
def test_malformed_syntax_is_answered_not_failed(solr_index, query):
    """edismax reads what it cannot parse as words: a results page, never an error."""
    assert solr_index.search(query).total >= 0


def test_no_cluster_says_how_to_start_one(tmp_path):
    with pytest.raises(IndexMissing) as caught:
        open_index(tmp_path / "index", solr="http://127.0.0.1:9/solr")
    assert str(caught.value).startswith("no answer from SolrCloud at http://127.0.0.1:9/solr")
    assert str(caught.value).endswith(
        "start one with `medsearch cluster up --dir DIR` or set MEDSEARCH_SOLR to a running one")


def test_no_alias_says_to_build(solr_cluster, tmp_path):
    done = medsearch("search", "spine", "--index", tmp_path / "nothing",
                     env=solr_env(solr_cluster))
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (f"medsearch: no index 'nothing' on SolrCloud at {solr_cluster.url}: "
                           "run `medsearch build`\n")


def test_shards_without_solr_is_refused(corpus_dir, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "MEDSEARCH_SOLR"}
    done = medsearch("build", "--seeds", corpus_dir, "--index", tmp_path / "i", "--shards", 2,
                     env=env)
    assert (done.returncode, done.stderr) == (1, (
        "medsearch: --shards and --replicas size a SolrCloud collection: "
        "give --solr URL or set MEDSEARCH_SOLR\n"))


def test_cli_search_and_stats_answer_from_solr(solr_cluster, solr_index):
    env = solr_env(solr_cluster)
    done = medsearch("search", "blood patch", "--index", solr_index.root, "--json", env=env)
    assert done.returncode == 0, done.stderr
    assert [h["pmid"] for h in json.loads(done.stdout)["hits"]] == ["21349964"]
    done = medsearch("stats", "--index", solr_index.root, "--json", env=env)
    stats = json.loads(done.stdout)
    assert stats["documents"] == 6
    assert stats["generation"] == alias_target(solr_cluster, "contract")
    # --solr does the same without the variable.
    plain = {k: v for k, v in os.environ.items() if k != "MEDSEARCH_SOLR"}
    done = medsearch("search", "blood patch", "--index", solr_index.root, "--solr",
                     solr_cluster.url, "--json", env=plain)
    assert [h["pmid"] for h in json.loads(done.stdout)["hits"]] == ["21349964"]


def test_web_api_search_answers_from_solr(solr_cluster, solr_index):
    from webui import create_app

    app = create_app({"INDEX": str(solr_index.root), "SOLR": solr_cluster.url, "TESTING": True})
    response = app.test_client().get("/api/search?q=blood+patch&year_from=2005")
    assert response.status_code == 200
    data = response.get_json()
    assert [h["pmid"] for h in data["hits"]] == ["21349964"]
    assert data["facets"]["year"] == [{"value": 2011, "count": 1}]


def test_build_moves_the_alias_and_drops_the_old_collection(solr_cluster, corpus_dir,
                                                            tmp_path):
    root, env = tmp_path / "moving", solr_env(solr_cluster)
    first = medsearch("build", "--seeds", corpus_dir, "--index", root, env=env, timeout=600)
    assert first.returncode == 0, first.stderr
    before = collections(solr_cluster, "moving")
    assert alias_target(solr_cluster, "moving") == before[0] and len(before) == 1
    second = medsearch("build", "--seeds", corpus_dir, "--index", root, env=env, timeout=600)
    assert second.returncode == 0, second.stderr
    after = collections(solr_cluster, "moving")
    assert len(after) == 1 and after != before
    assert alias_target(solr_cluster, "moving") == after[0]
    assert len(open_index(root, solr=solr_cluster.url)) == 6


def test_a_killed_build_leaves_the_alias_and_the_next_build_clears_it(solr_cluster,
                                                                      corpus_dir, tmp_path):
    root, env = tmp_path / "killed", solr_env(solr_cluster)
    done = medsearch("build", "--seeds", corpus_dir, "--index", root, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    live = alias_target(solr_cluster, "killed")
    build = subprocess.Popen(
        [sys.executable, "-m", "indexer", "build", "--seeds", str(corpus_dir), "--index",
         str(root), "--shards", "2", "--replicas", "2"], cwd=REPO, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while len(collections(solr_cluster, "killed")) < 2:  # the new one is being made
            assert build.poll() is None, "the build finished before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        build.send_signal(signal.SIGKILL)
    finally:
        build.wait()
    assert build.returncode == -signal.SIGKILL
    assert alias_target(solr_cluster, "killed") == live
    assert len(open_index(root, solr=solr_cluster.url)) == 6
    left = [name for name in collections(solr_cluster, "killed") if name != live]
    assert len(left) == 1
    again = medsearch("build", "--seeds", corpus_dir, "--index", root, env=env, timeout=600)
    assert again.returncode == 0, again.stderr
    now = collections(solr_cluster, "killed")
    assert now == [alias_target(solr_cluster, "killed")]
    assert left[0] not in now and live not in now


def test_completions_on_solr_alone_need_no_whoosh(solr_cluster, solr_index):
    """A process that never loads the Whoosh engine (a site on SolrCloud) completes words."""
    script = ("import sys; from indexer import open_index; "
              "index = open_index(sys.argv[1], solr=sys.argv[2]); "
              "print(index.suggest('vert'), index.suggest('Öst'), "
              "'indexer.whoosh_engine' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", script, str(solr_index.root), solr_cluster.url],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ("['vertebral', 'vertebroplasty'] "
                           "['osteoporotic', 'Osteoporotic Fractures'] False\n")

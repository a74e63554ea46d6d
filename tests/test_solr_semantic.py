"""The semantic rerank on SolrCloud, on the session's real 2-node cluster: a build
embeds its records into the documents, a search reranks the lexical top by meaning
as the Whoosh engine does on the same pages, `--no-semantic` and `--no-embed`
rank by words, an update embeds what a --no-embed build left lexical."""

from __future__ import annotations

import json
import os
import re

import pytest

from indexer import open_index
from indexer.query.settings import DEFAULT
from solr_fixtures import medsearch
from test_semantic import PAGES, write_pages

pytestmark = pytest.mark.solr

MODEL = "all-MiniLM-L6-v2-onnx-int8-256"
LAY_QUERY = "high blood pressure"
# The blood-loss paper has all three words, the hypertension paper two: by words
# the first wins, by meaning the second (tests/test_semantic.py, on Whoosh).
LEXICAL = ["40000001", "40000002"]
MEANING = ["40000002", "40000001"]
NO_VECTORS = "semantic rerank off: no vectors yet (`medsearch update` embeds them)"


def pmids(results):
    return [h.pmid for h in results.hits]


def vectors_line(output: str) -> str:
    return re.search(r"^vectors: +(.*)$", output, re.M).group(1)


@pytest.fixture(scope="module")
def pages_env(tmp_path_factory):
    """The four pages, no MeSH data (the literal words only) and a vector cache of
    this module's own, so that the first build embeds every record."""
    folder = tmp_path_factory.mktemp("solr-semantic")
    env = {**os.environ, "MEDSEARCH_DATA": str(folder / "no-data"),
           "MEDSEARCH_VECTOR_CACHE": str(folder / "cache")}
    env.pop("MEDSEARCH_SOLR", None)
    return folder, write_pages(folder / "seeds"), env


@pytest.fixture(scope="module")
def both(solr_cluster, pages_env):
    """The pages built on SolrCloud (2 shards x 2 replicas, first: it embeds them)
    and on Whoosh (from the cache), each by the CLI; both opened."""
    folder, seeds, env = pages_env
    solr_root, whoosh_root = folder / "meaning", folder / "whoosh"
    done = medsearch("build", "--seeds", seeds, "--index", solr_root, "--shards", 2,
                     "--replicas", 2, "--solr", solr_cluster.url, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    solr_built = vectors_line(done.stdout)
    done = medsearch("build", "--seeds", seeds, "--index", whoosh_root, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    solr, whoosh = open_index(solr_root, solr=solr_cluster.url), open_index(whoosh_root, solr="")
    yield {"solr": solr, "whoosh": whoosh, "built": solr_built, "whoosh_built":
           vectors_line(done.stdout), "root": solr_root}
    solr.close()
    whoosh.close()


def test_a_solr_build_embeds_its_records_and_check_counts_them(both, solr_cluster, pages_env):
    assert re.fullmatch(r"4 of 4 records \(4 embedded, 0 from the cache\) in [\d.]+ s",
                        both["built"])
    # The same texts, the same cache: Whoosh's build embeds nothing again.
    assert re.fullmatch(r"4 of 4 records \(0 embedded, 4 from the cache\) in [\d.]+ s",
                        both["whoosh_built"])
    done = medsearch("check", "--index", both["root"], "--solr", solr_cluster.url,
                     env=pages_env[2])
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.splitlines()[-1] == f"vectors: 4 of 4 records ({MODEL})"


@pytest.mark.parametrize("engine", ["solr", "whoosh"])
def test_the_rerank_orders_by_meaning_the_same_way_on_both_engines(both, engine):
    index = both[engine]
    on = index.search(LAY_QUERY)
    off = index.search(LAY_QUERY, ranking=DEFAULT.without_semantic())
    assert (pmids(on), pmids(off)) == (MEANING, LEXICAL)
    assert on.semantic_note == off.semantic_note == ""
    for hit in on.hits:
        assert set(hit.ranked_with) == {"words", "meaning"}
        assert hit.score == pytest.approx(sum(hit.ranked_with.values()), abs=2e-4)
    # The lexical part is the score over the best one's: 1.0 for the blood-loss paper.
    assert on.hits[1].ranked_with["words"] == 1.0
    assert on.hits[0].score >= on.hits[1].score
    assert off.hits[0].ranked_with == {"words": off.hits[0].score}
    # eval's ranking and the export are in the same order as the results page.
    assert [pmid for pmid, _ in index.rank(LAY_QUERY, k=2)] == MEANING
    assert [r.pmid for r in index.records(LAY_QUERY)] == MEANING
    # Paging through the reranked list: page 2 holds the second one.
    assert pmids(index.search(LAY_QUERY, page=2, per_page=1)) == MEANING[1:]
    # A query that weighs its own words, and a date sort, are not reranked.
    boosted = index.search("high blood^2 pressure")
    assert pmids(boosted) == LEXICAL and set(boosted.hits[0].ranked_with) == {"words"}
    newest = index.search(LAY_QUERY, sort="newest")
    assert pmids(newest) == MEANING and set(newest.hits[0].ranked_with) == {"words"}


def test_no_semantic_on_the_command_line_gives_the_lexical_order(both, solr_cluster, pages_env):
    for flags, order, signals in (((), MEANING, {"words", "meaning"}),
                                  (("--no-semantic",), LEXICAL, {"words"})):
        done = medsearch("search", LAY_QUERY, "--index", both["root"], "--solr",
                         solr_cluster.url, "--json", *flags, env=pages_env[2])
        assert (done.returncode, done.stderr) == (0, "")
        hits = json.loads(done.stdout)["hits"]
        assert [h["pmid"] for h in hits] == order
        assert {name for h in hits for name in h["ranked_with"]} == signals


def test_a_no_embed_build_ranks_by_words_with_the_note_until_an_update_embeds(
        solr_cluster, pages_env, both):
    folder, seeds, env = pages_env  # `both` embedded the pages: the cache holds them
    root, solr = folder / "lexical", ["--solr", solr_cluster.url]
    done = medsearch("build", "--seeds", seeds, "--index", root, "--no-embed", *solr,
                     env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    assert vectors_line(done.stdout) == ("none (--no-embed): lexical ranking until "
                                         "`medsearch update` embeds them")
    done = medsearch("search", LAY_QUERY, "--index", root, "--json", *solr, env=env)
    assert done.returncode == 0
    answer = json.loads(done.stdout)
    assert [h["pmid"] for h in answer["hits"]] == LEXICAL
    assert (answer["semantic_note"], done.stderr) == (NO_VECTORS, "")
    done = medsearch("search", LAY_QUERY, "--index", root, *solr, env=env)
    assert (done.returncode, done.stderr) == (0, NO_VECTORS + "\n")
    done = medsearch("check", "--index", root, *solr, env=env)
    assert done.stdout.splitlines()[-1] == (
        "vectors: none: semantic rerank off until `medsearch update` embeds them "
        "(lexical ranking meanwhile)")
    # Nothing changed in the pages: the update still gives every document its vector.
    done = medsearch("update", "--seeds", seeds, "--index", root, *solr, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(r"4 of 4 records \(0 embedded, 4 from the cache\) in [\d.]+ s",
                        vectors_line(done.stdout))
    done = medsearch("search", LAY_QUERY, "--index", root, "--json", *solr, env=env)
    answer = json.loads(done.stdout)
    assert ([h["pmid"] for h in answer["hits"]], answer["semantic_note"]) == (MEANING, "")
    # And the next one has nothing left to embed.
    done = medsearch("update", "--seeds", seeds, "--index", root, *solr, env=env, timeout=600)
    assert vectors_line(done.stdout) == "4 records, as before"
    index = open_index(root, solr=solr_cluster.url)
    try:
        assert [r.pmid for r in index.records(LAY_QUERY)] == MEANING
        assert len(index) == len(PAGES)
    finally:
        index.close()

"""The evaluation harness: metrics against a hand-computed run, loaders, the CLI."""

import json
import math

import pytest

from indexer.evaluation import testsets
from indexer.cli import main
from indexer.evaluation.evaluate import BASE, SWITCHES, score, switched_off, write_run
from indexer.query.settings import DEFAULT, Ranking
from indexer.whoosh_engine.ranking import weighting

DATA = testsets.data_dir()
needs_data = pytest.mark.skipif(
    not (DATA / "med-medline").is_dir() or not (DATA / "nfcorpus").is_dir(),
    reason=f"the test collections are not under {DATA} (set MEDSEARCH_DATA)")

# Three queries; grades as in NFCorpus (2 = direct, 1 = indirect).
QRELS = {"q1": {"d1": 2, "d2": 1}, "q2": {"d3": 1}, "q3": {"d4": 1, "d5": 1}}
RUN = {"q1": {"d2": 3.0, "d9": 2.0, "d1": 1.0},  # d2, d9, d1
       "q2": {"d8": 2.0, "d3": 1.0},  # d8, d3
       "q3": {"d4": 3.0, "d7": 2.0, "d6": 1.0}}  # d4 ... d5 never found


def log2(x):
    return math.log(x, 2)


def test_metrics_match_a_hand_computed_run():
    # nDCG: gain = grade, discount log2(rank + 1).
    ndcg1 = (1 / log2(2) + 2 / log2(4)) / (2 / log2(2) + 1 / log2(3))
    ndcg2 = (1 / log2(3)) / 1
    ndcg3 = (1 / log2(2)) / (1 / log2(2) + 1 / log2(3))
    # AP: precision at each relevant document found, over all relevant ones.
    ap1 = (1 / 1 + 2 / 3) / 2
    ap2 = (1 / 2) / 1
    ap3 = (1 / 1) / 2
    got = score(QRELS, RUN)
    assert got["nDCG@10"] == pytest.approx((ndcg1 + ndcg2 + ndcg3) / 3, abs=1e-6)
    assert got["nDCG@10"] == pytest.approx(0.66809, abs=1e-4)
    assert got["MAP@100"] == pytest.approx((ap1 + ap2 + ap3) / 3, abs=1e-6)
    assert got["R@100"] == pytest.approx((1 + 1 + 0.5) / 3, abs=1e-6)


def test_a_query_with_no_results_counts_as_zero():
    qrels = {**QRELS, "q4": {"d1": 1}}
    full, partial = score(QRELS, RUN), score(qrels, RUN)
    for name in full:
        assert partial[name] == pytest.approx(full[name] * 3 / 4)


def test_run_file_is_trec_format(tmp_path):
    path = tmp_path / "run.txt"
    write_run(path, {"q1": RUN["q1"]}, "medsearch")
    assert path.read_text().splitlines() == [
        "q1 Q0 d2 1 3.000000 medsearch",
        "q1 Q0 d9 2 2.000000 medsearch",
        "q1 Q0 d1 3 1.000000 medsearch",
    ]


@needs_data
def test_med_loader_reads_titles_abstracts_queries_and_judgements():
    med = testsets.load("med")
    assert len(med.docs) == 1033 and len(med.queries) == 30
    first = med.docs[0]
    assert first.pmid == "MED-1"
    assert first.title == ("correlation between maternal and fetal plasma levels of glucose "
                           "and free fatty acids .")
    assert first.abstract.startswith("correlation coefficients have been determined")
    assert med.queries["1"] == "the crystalline lens in vertebrates, including humans."
    assert sum(len(j) for j in med.qrels.values()) == 696


@needs_data
@pytest.mark.parametrize("name, queries", [
    ("nfcorpus-titles", 323), ("nfcorpus-vid-titles", 102), ("nfcorpus-nontopic", 144),
    ("nfcorpus-dev-titles", 324)])
def test_nfcorpus_loaders_keep_judged_queries(name, queries):
    collection = testsets.load(name)
    assert len(collection.queries) == queries
    assert len(collection.docs) == (3193 if "-dev-" in name else 3162)
    statin = next(d for d in collection.docs if d.pmid == "MED-10") if "-dev-" not in name else None
    if statin:
        assert statin.title == "statin breast cancer survival nationwide cohort study finland"
        assert statin.abstract.startswith("recent studies suggested statins")


def test_unknown_collection_or_missing_data_is_a_clear_error(tmp_path, capsys):
    assert main(["eval", "--collection", "nope", "--data", str(tmp_path)]) == 1
    assert "unknown collection" in capsys.readouterr().err
    assert main(["eval", "--collection", "med", "--data", str(tmp_path)]) == 1
    assert "MED.ALL not found" in capsys.readouterr().err


@needs_data
def test_eval_med_end_to_end_through_the_cli(tmp_path, capsys):
    run = tmp_path / "med.run"
    status = main(["eval", "--collection", "med", "--max-queries", "5", "--no-ablation",
                   "--json", "--run", str(run)])
    assert status == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["engine"] for r in rows] == ["reference bm25s", "medsearch"]
    for row in rows:
        assert row["collection"] == "med" and row["queries"] == 5
        assert 0.3 < row["nDCG@10"] <= 1 and 0 < row["MAP@100"] <= 1
    lines = run.read_text().splitlines()
    qid, q0, docid, rank, _, tag = lines[0].split()
    assert (q0, rank, tag) == ("Q0", "1", "medsearch") and docid.startswith("MED-")
    assert {line.split()[0] for line in lines} == {"1", "2", "3", "4", "5"}


def test_switches_turn_feedback_and_its_widening_off_separately():
    assert BASE.prf == 0 and BASE.prf_widen == 0
    assert SWITCHES["prf"](BASE).prf > 0 and SWITCHES["prf"](BASE).prf_widen == 0
    assert SWITCHES["widen"](BASE).prf_widen > 0
    assert switched_off(DEFAULT, ["widen"]).prf == DEFAULT.prf
    assert DEFAULT.without_expansion().prf_widen == 0


def test_per_field_b_reaches_whooshs_bm25f():
    ranking = Ranking(b=0.75, field_b=(("title", 0.3),))
    assert weighting(ranking)._field_B == {"title": 0.3}
    assert ranking.weighting_key() != Ranking().weighting_key()

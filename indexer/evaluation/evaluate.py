"""`medsearch eval`: rank judged test collections and score the runs.

Each collection is indexed into a temporary index by the product's own
write_index (same schema and analyzer), with the build's expansion
resources, and every query goes through Index.rank, the search API's
ranking path. A reference BM25 (bm25s, Lucene variant, k1 1.2, b 0.75,
Snowball English stemmer, English stop words) ranks the same text, and
ir-measures scores both runs the same way.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from . import testsets
from ..engine import index_records, solr_address
from ..query.settings import DEFAULT, Ranking
from ..search import Index

DEPTH = 100  # documents ranked per query
MEASURE_NAMES = ("nDCG@10", "MAP@100", "R@100")
# Levers measured one at a time on top of the base (every switch off).
SWITCHES = {
    "phrase": lambda r: replace(r, phrase=DEFAULT.phrase or 0.1),
    # Feedback that only reorders the documents with the user's words ...
    "prf": lambda r: replace(r, prf=DEFAULT.prf or 0.3, prf_widen=0),
    # ... and feedback that may also add the few documents it finds best.
    "widen": lambda r: replace(r, prf=DEFAULT.prf or 0.3, prf_widen=DEFAULT.prf_widen or 10),
    # A MeSH heading or entry term searched as its concept ...
    "concepts": lambda r: replace(r, concepts=DEFAULT.concepts or 1.0,
                                  concept_words=DEFAULT.concept_words),
    # ... and its entry terms as extra words.
    "synonyms": lambda r: replace(r, synonyms=DEFAULT.synonyms or 0.3),
    "abbreviations": lambda r: replace(r, abbreviations=DEFAULT.abbreviations or 0.5),
    "spelling": lambda r: replace(r, spelling=True),
    # One idf per word over title and abstract, Lucene's formula.
    "pooled-idf": lambda r: replace(r, idf="pooled"),
    # The lexical top reranked by meaning (a local sentence-embedding model).
    "semantic": lambda r: replace(r, semantic=DEFAULT.semantic or 0.5,
                                  semantic_depth=DEFAULT.semantic_depth),
}

Run = dict[str, dict[str, float]]  # qid -> docid -> score


def switched_off(ranking: Ranking, names) -> Ranking:
    """`ranking` with the named switches off."""
    off = {"phrase": {"phrase": 0.0}, "prf": {"prf": 0.0}, "widen": {"prf_widen": 0},
           "concepts": {"concepts": 0.0}, "synonyms": {"synonyms": 0.0},
           "abbreviations": {"abbreviations": 0.0}, "spelling": {"spelling": False},
           "pooled-idf": {"idf": "whoosh"}, "semantic": {"semantic": 0.0}}
    for name in names:
        ranking = replace(ranking, **off[name])
    return ranking


BASE = switched_off(DEFAULT, SWITCHES)
# The core's ranking before tuning: Whoosh's BM25F defaults, first field weights.
UNTUNED = Ranking(k1=1.2, b=0.75, boosts=(("abstract", 1.0), ("keywords", 1.5), ("title", 2.0)),
                  coordination=0.9)


@dataclass
class Row:
    collection: str
    engine: str
    queries: int
    scores: dict[str, float]


def score(qrels: dict, run: Run) -> dict[str, float]:
    """nDCG@10, MAP@100 (AP@100 averaged) and R@100 of `run`, by ir-measures."""
    import ir_measures
    from ir_measures import AP, R, nDCG

    measures = {"nDCG@10": nDCG @ 10, "MAP@100": AP @ 100, "R@100": R @ 100}
    # ir-measures averages over every judged query: one the run left empty
    # counts as zero (as trec_eval -c does).
    values = ir_measures.calc_aggregate(list(measures.values()), qrels,
                                        {q: d for q, d in run.items() if d})
    return {name: values.get(m, 0.0) for name, m in measures.items()}


def write_run(path: str | Path, run: Run, tag: str) -> None:
    """`run` as a TREC run file: qid Q0 docid rank score tag."""
    with open(path, "w", encoding="utf-8") as out:
        for qid, docs in run.items():
            ranked = sorted(docs.items(), key=lambda kv: (-kv[1], kv[0]))
            for rank, (docid, value) in enumerate(ranked, 1):
                out.write(f"{qid} Q0 {docid} {rank} {value:.6f} {tag}\n")


# --- the two engines ---------------------------------------------------------------

def open_collection_index(collection: testsets.Collection, folder: Path,
                          data=None, solr: str | None = None) -> Index:
    """The collection's documents in a fresh index in `folder`, as a build makes it
    (on SolrCloud: a collection behind the alias named after `folder`)."""
    index_records(folder, collection.docs, data, solr=solr)
    return Index(folder, solr)


def run_medsearch(index: Index, queries: dict[str, str], ranking: Ranking) -> Run:
    return {qid: dict(index.rank(text, DEPTH, ranking=ranking))
            for qid, text in queries.items()}


def run_reference(collection: testsets.Collection, queries: dict[str, str]) -> Run:
    """bm25s over title and abstract run together."""
    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer("english")
    ids = [d.pmid for d in collection.docs]
    corpus = bm25s.tokenize([testsets.full_text(d) for d in collection.docs],
                            stopwords="en", stemmer=stemmer, show_progress=False)
    model = bm25s.BM25(method="lucene", k1=1.2, b=0.75)
    model.index(corpus, show_progress=False)
    run: Run = {}
    for qid, text in queries.items():
        tokens = bm25s.tokenize([text], stopwords="en", stemmer=stemmer,
                                show_progress=False, return_ids=False)[0]
        tokens = [t for t in tokens if t in corpus.vocab]
        if not tokens:
            run[qid] = {}
            continue
        docs, scores = model.retrieve([tokens], k=min(DEPTH, len(ids)), show_progress=False)
        run[qid] = {ids[i]: float(s) for i, s in zip(docs[0], scores[0]) if s > 0}
    return run


# --- the harness --------------------------------------------------------------------

def variants(ranking: Ranking, ablation: bool) -> list[tuple[str, Ranking]]:
    """The medsearch rankings to report: the product's, then each lever alone."""
    rows = [("medsearch", ranking)]
    if ablation and ranking.semantic:
        rows.append(("medsearch --no-semantic", ranking.without_semantic()))
    if ablation:
        rows.append(("base (switches off)", BASE))
        rows += [(f"base + {name}", on(BASE)) for name, on in SWITCHES.items()]
        rows.append(("untuned base", UNTUNED))
    return rows


def evaluate(names: list[str], data=None, ranking: Ranking = DEFAULT, ablation: bool = True,
             run_file: str | None = None, max_queries: int | None = None,
             log: Callable[[str], None] | None = None, solr: str | None = None) -> list[Row]:
    """Score the reference and medsearch (and its ablations) on each collection.

    With `solr` (a SolrCloud URL, else $MEDSEARCH_SOLR) medsearch's rows are
    the SolrCloud engine's: each corpus is a collection behind the alias
    `eval_<corpus>`, replaced by the next eval; the rows say "on SolrCloud".
    """
    on_solr = bool(solr_address(solr))
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="medsearch-eval-") as tmp:
        indexes: dict[str, Index] = {}
        try:
            for name in names:
                collection = testsets.load(name, data)
                queries = dict(list(collection.queries.items())[:max_queries])
                qrels = {qid: collection.qrels[qid] for qid in queries}
                if collection.corpus not in indexes:
                    if log:
                        log(f"indexing and embedding {collection.corpus} "
                            f"({len(collection.docs)} documents; vectors cached in "
                            "~/.cache/medsearch/vectors)")
                    folder = Path(tmp) / f"eval_{collection.corpus}"
                    indexes[collection.corpus] = open_collection_index(collection, folder, data,
                                                                       solr)
                index = indexes[collection.corpus]
                if log:
                    log(f"ranking {name} ({len(queries)} queries)")
                rows.append(Row(name, "reference bm25s", len(queries),
                                score(qrels, run_reference(collection, queries))))
                for label, settings in variants(ranking, ablation):
                    run = run_medsearch(index, queries, settings)
                    shown = f"{label} on SolrCloud" if on_solr else label
                    rows.append(Row(name, shown, len(queries), score(qrels, run)))
                    if run_file and label == "medsearch":
                        write_run(_run_path(run_file, name, len(names)), run, "medsearch")
        finally:
            for index in indexes.values():
                index.close()
    return rows


def _run_path(run_file: str, name: str, count: int) -> Path:
    # One collection: the file named; several: one file each, named after it.
    path = Path(run_file)
    return path if count == 1 else path.with_name(f"{path.stem}.{name}{path.suffix}")


def format_table(rows: list[Row]) -> str:
    """A Markdown table: collection, engine, queries and the three measures."""
    head = ["collection", "engine", "queries", *MEASURE_NAMES, "Δ nDCG@10"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    reference = {}
    for row in rows:
        if row.engine.startswith("reference"):
            reference[row.collection] = row.scores["nDCG@10"]
        delta = row.scores["nDCG@10"] - reference.get(row.collection, row.scores["nDCG@10"])
        cells = [row.collection, row.engine, str(row.queries),
                 *(f"{row.scores[m]:.3f}" for m in MEASURE_NAMES),
                 "" if row.engine.startswith("reference") else f"{delta:+.3f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def to_json(rows: list[Row]) -> list[dict]:
    return [{"collection": r.collection, "engine": r.engine, "queries": r.queries,
             **{m: round(r.scores[m], 4) for m in MEASURE_NAMES}} for r in rows]

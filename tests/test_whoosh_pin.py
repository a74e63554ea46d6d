"""Guards on the Whoosh distribution: fail loudly if a moved pin brings back old bugs."""

import subprocess
import sys
from importlib.metadata import version

from whoosh import fields, index, qparser, scoring


def test_whoosh3_is_the_installed_distribution():
    assert version("whoosh3") == "3.54.0"


def test_whoosh_imports_without_any_warning():
    # The original whoosh 2.7.4 emits SyntaxWarnings on import.
    code = ("import whoosh.index, whoosh.fields, whoosh.qparser, whoosh.scoring, "
            "whoosh.highlight, whoosh.spelling, whoosh.sorting, indexer.search, indexer.whoosh_engine.build")
    subprocess.run([sys.executable, "-W", "error", "-c", code], check=True)


def _tiny_index(tmp_path):
    schema = fields.Schema(id=fields.ID(stored=True), title=fields.TEXT, body=fields.TEXT)
    ix = index.create_in(str(tmp_path), schema)
    with ix.writer() as writer:
        writer.add_document(id="1", title="blood patch", body="epidural blood patch")
        writer.add_document(id="2", title="spine", body="cement leakage and blood")
    return ix


def test_multifield_orgroup_factory_does_not_crash(tmp_path):
    # whoosh 2.7.4 raised ZeroDivisionError here.
    ix = _tiny_index(tmp_path)
    parser = qparser.MultifieldParser(["title", "body"], ix.schema,
                                      group=qparser.OrGroup.factory(0.9))
    with ix.searcher(weighting=scoring.BM25F()) as searcher:
        hits = searcher.search(parser.parse("blood patch"))
        assert [h["id"] for h in hits] == ["1", "2"]


def test_single_term_orgroup_factory_query_is_scored(tmp_path):
    # whoosh-reloaded scored this 0.0, so results came back unranked.
    ix = _tiny_index(tmp_path)
    parser = qparser.MultifieldParser(["title", "body"], ix.schema,
                                      group=qparser.OrGroup.factory(0.9))
    with ix.searcher(weighting=scoring.BM25F()) as searcher:
        hits = searcher.search(parser.parse("blood"))
        scores = [h.score for h in hits]
        assert len(scores) == 2 and all(s > 0 for s in scores) and scores[0] > scores[1]

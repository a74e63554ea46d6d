"""Building with worker processes gives exactly what one process gives."""

from __future__ import annotations

import os

from lifecycle_pages import write_corpus

from indexer.whoosh_engine import build as build_module
from indexer import open_index
from indexer.whoosh_engine.build import build

QUERIES = ["blood patch", "spinal tuberculosis debridement", "", "kyphoplasty OR covid",
           "year:2015-2021", "mesh:Vertebroplasty", "spin*"]


def everything(root) -> dict:
    """Every query's hits in order, with scores, titles and snippets, and the facets."""
    index = open_index(root)
    try:
        out = {}
        for query in QUERIES:
            res = index.search(query, per_page=100)
            out[query] = (res.total, res.facets,
                          [(h.pmid, h.score, h.title, h.snippet) for h in res.hits])
        return out
    finally:
        index.close()


def test_two_processes_build_the_same_index_as_one(tmp_path, monkeypatch):
    # Exercise the parallel path on a small corpus: several slices, two workers.
    monkeypatch.setattr(build_module, "PARALLEL_WRITE_MIN", 10)
    monkeypatch.setattr(build_module, "SLICE", 15)
    seeds = tmp_path / "seeds"
    write_corpus(seeds, 40)
    one, two = tmp_path / "one", tmp_path / "two"
    report_one = build(seeds, one, procs=1)
    report_two = build(seeds, two, procs=2)
    assert (report_one.indexed, report_two.indexed) == (40, 40)
    assert len(list((two / os.readlink(two / "current")).glob("MAIN_*.pst"))) == 3
    assert everything(one) == everything(two)

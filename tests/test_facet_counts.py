"""FacetTable.count: the common MeSH terms counted from bitsets, the others
gathered, equal to counting document by document."""

import random

import numpy as np
import pytest

from indexer.whoosh_engine import facets
from indexer.whoosh_engine.facets import FacetTable, top


def table_and_values(size: int, seed: int):
    rng = random.Random(seed)
    common = ["Humans", "Female", "Male", "Adult", "Aged", ""]
    rare = [f"Term {i}" for i in range(300)]
    years = [rng.choice([0, 1999, 2005, 2010, 2020]) for _ in range(size)]
    journals = [rng.choice(["", "Spine", "Eur Spine J", "Radiology"]) for _ in range(size)]
    mesh = [sorted(set(rng.sample(common, rng.randint(0, 4)) + rng.sample(rare, rng.randint(0, 3))))
            for _ in range(size)]
    return FacetTable(years, journals, mesh), (years, journals, mesh)


def counted_one_by_one(values, docs) -> dict:
    years, journals, mesh = values
    by_year, by_journal, by_mesh = {}, {}, {}
    for d in docs:
        if years[d]:
            by_year[years[d]] = by_year.get(years[d], 0) + 1
        if journals[d]:
            by_journal[journals[d]] = by_journal.get(journals[d], 0) + 1
        for term in mesh[d]:
            if term:
                by_mesh[term] = by_mesh.get(term, 0) + 1
    return {"year": sorted(by_year.items(), reverse=True), "journal": top(by_journal),
            "mesh": top(by_mesh)}


@pytest.mark.parametrize("size", [1, 63, 64, 65, 1000])
def test_counts_equal_counting_one_by_one_on_either_path(size):
    table, values = table_and_values(size, seed=size)
    rng = np.random.default_rng(size)
    # Few matches gather every code; many use the bitsets for the common terms.
    for share in (0.0, 0.01, 0.2, 0.7, 1.0):
        docs = np.sort(rng.choice(size, max(1, int(size * share)), replace=False))
        assert table.count(docs) == counted_one_by_one(values, docs.tolist())


def test_the_bitset_path_is_taken_for_many_matches_and_only_then():
    table, _ = table_and_values(1000, seed=7)
    names = [table.mesh_names[c] for c in table.common_codes]
    assert sorted(names) == ["Adult", "Aged", "Female", "Humans", "Male"]
    assert table.common_bits.shape == (5, 16)  # 1,000 documents in 16 words
    # Rare codes only in the gathered runs, and each document's kept in order.
    assert not set(table.rare_codes.tolist()) & set(table.common_codes.tolist())
    many = np.arange(0, 1000, 2)
    assert len(many) >= 1000 * facets.GATHER_SHARE
    assert table._mesh_counts(many).tolist() == np.bincount(
        table.mesh_codes[np.concatenate([np.arange(table.mesh_starts[d], table.mesh_starts[d + 1])
                                         for d in many])],
        minlength=len(table.mesh_names)).tolist()


def test_rare_terms_are_gathered_only_when_one_could_place(monkeypatch):
    # Twelve terms on about half of 2,000 documents each fill the top ten
    # with counts no rare term (on at most 30 documents) can reach.
    rng = random.Random(3)
    common = [f"Common {i:02d}" for i in range(12)]
    rare = [f"Rare {i}" for i in range(200)]
    size = 2000
    # The last 100 documents have rare terms only.
    mesh = [sorted({t for t in common if d < size - 100 and rng.random() < 0.5}
                   | set(rng.sample(rare, 1))) for d in range(size)]
    values = ([2000] * size, ["Spine"] * size, mesh)
    table = FacetTable(*values)
    assert len(table.common_codes) == 12 and 0 < table.rare_most <= 30
    gathered = []
    runs_counted = facets._runs_counted
    monkeypatch.setattr(facets, "_runs_counted",
                        lambda *args: gathered.append(len(args[2])) or runs_counted(*args))
    everything = np.arange(size)
    assert table.count(everything) == counted_one_by_one(values, everything.tolist())
    assert gathered == []  # the common terms decided the top ten
    # Matching those, the common counts are all 0: a rare term places.
    few = np.arange(size - 100, size)
    assert len(few) >= size * facets.GATHER_SHARE  # on the bitset path
    assert table.count(few) == counted_one_by_one(values, few.tolist())
    assert gathered == [100]
    # Asked for every count, the rare codes are always gathered.
    assert table._mesh_counts(everything).tolist() == np.bincount(
        table.mesh_codes, minlength=len(table.mesh_names)).tolist()

"""What an update derives segment by segment (postings columns, suggestion
counts, abbreviations) equals what reading the whole new generation gives,
and an update rewrites only its own small segments."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
from lifecycle_pages import page, write_corpus

from indexer.whoosh_engine import build as build_module
from indexer.whoosh_engine import assembly
from indexer.whoosh_engine import columns as columns_module
from indexer.whoosh_engine import update as update_module
from indexer.whoosh_engine.build import build, stored_records
from indexer.whoosh_engine.columns import SEGMENT_KIND as COLUMNS_KIND
from indexer.whoosh_engine.assembly import write_columns
from indexer.whoosh_engine.columns import _read
from indexer.whoosh_engine.postings import Columns
from indexer.query.expand import RESOURCE
from indexer.whoosh_engine.resources import SEGMENT_KIND as PAIRS_KIND
from indexer.whoosh_engine.resources import write_resources
from indexer.whoosh_engine.generations import SEGMENT_PREFIX, current_generation, segment_ids
from indexer.whoosh_engine.vocabulary import SEGMENT_KIND as COUNTS_KIND
from indexer.whoosh_engine.vocabulary import VOCABULARY_FILE, read_counts
from indexer.whoosh_engine.update import update
from whoosh import index as whoosh_index

from test_scoring import assert_saved_parts_are_computed_ones, positions_of

ABBREVIATIONS = [
    "magnetic resonance imaging (MRI) showed it",
    "cerebrospinal fluid (CSF) leak after surgery",
    "cerebro-spinal fluid (CSF) was clear",
    "low back pain (LBP) persisted",
]


@pytest.fixture
def seeds(tmp_path) -> Path:
    folder = tmp_path / "seeds"
    write_corpus(folder, 40)
    for i in range(0, 40, 3):
        (folder / f"p{i:05d}.html").write_text(
            page(i, extra=ABBREVIATIONS[i % len(ABBREVIATIONS)]), encoding="utf-8")
    hour_ago = time.time_ns() - 3600 * 10**9
    for path in folder.iterdir():
        os.utime(path, ns=(hour_ago, hour_ago))
    return folder


def edit(seeds: Path, round_: int) -> None:
    """One update's worth of changes: an edit, an addition, a removal."""
    (seeds / f"p{round_:05d}.html").write_text(
        page(round_, extra=f"revised {round_} " + ABBREVIATIONS[round_ % 4]), encoding="utf-8")
    (seeds / f"p{100 + round_:05d}.html").write_text(
        page(100 + round_, extra=ABBREVIATIONS[(round_ + 1) % 4]), encoding="utf-8")
    victim = seeds / f"p{39 - round_:05d}.html"
    if victim.exists():
        victim.unlink()


def assert_columns_read_afresh(generation: Path, positions: bool = True) -> None:
    """Each set of saved columns (the text fields, the names) is exactly
    what is read posting by posting from the index, with each posting's
    positions unless `positions` is False (then the text fields' hold none,
    and phrases are read from Whoosh's postings)."""
    for kept, saved in ((columns_module.TEXT, Columns.load(generation)),
                        (columns_module.NAMES, Columns.load_names(generation))):
        assert saved.fields == kept.fields
        fresh = Columns(_read(generation, kept.fields))
        for name in ("hashes", "starts", "docs", "tfs", "keys", "key_starts", "deleted"):
            a, b = getattr(saved, name), getattr(fresh, name)
            assert a.dtype == b.dtype and np.array_equal(a, b), name
        for field in kept.fields:
            assert np.array_equal(saved.lengths[field], fresh.lengths[field])
        assert (saved.doc_count_all, saved.field_length, saved.has_deletions) == (
            fresh.doc_count_all, fresh.field_length, fresh.has_deletions)
        # Each posting's term-frequency part, for this generation's lengths.
        assert_saved_parts_are_computed_ones(saved, searcher=None)
        if kept is columns_module.TEXT:
            assert (saved.positions is not None) == positions
        if saved.positions is not None:
            assert_positions_are_whooshs(generation, saved, kept.fields)


def assert_positions_are_whooshs(generation: Path, saved: Columns, fields) -> None:
    """Each posting's positions, deleted documents' too, as Whoosh decodes
    them: the updates keep them in step with the postings."""
    ix = whoosh_index.open_dir(str(generation))
    with ix.reader() as reader:
        leaves = [(reader, 0)] if reader.is_atomic() else reader.leaf_readers()
        for fieldname in fields:
            whooshs: dict[bytes, list] = {}
            for sub, _ in leaves:
                format_ = sub.schema[fieldname].format
                for btext in sub.lexicon(fieldname):
                    matcher = sub._terms.matcher(fieldname, btext, format_)
                    while matcher.is_active():
                        whooshs.setdefault(btext, []).append(matcher.value_as("positions"))
                        matcher.next()
            assert whooshs and all(positions_of(saved, fieldname, btext) == found
                                   for btext, found in whooshs.items())
    ix.close()


def assert_resources_read_afresh(generation: Path, tmp_path: Path) -> None:
    """suggest.json and expansions.json as the whole index and its stored records give them."""
    ix = whoosh_index.open_dir(str(generation))
    with ix.reader() as reader:
        words, mesh = read_counts(reader)
    ix.close()
    assert json.loads((generation / VOCABULARY_FILE).read_text("utf-8")) == {
        "words": words, "mesh": mesh}
    saved = json.loads((generation / RESOURCE).read_text("utf-8"))
    copy = tmp_path / "copy"
    copy.mkdir(parents=True)
    for entry in generation.iterdir():  # the index alone, without saved columns or counts
        if entry.name.startswith(("MAIN_", "_MAIN_")):
            os.link(entry, copy / entry.name)
    write_resources(copy, stored_records(copy))
    assert json.loads((copy / RESOURCE).read_text("utf-8")) == saved
    assert saved["abbreviations"]["short"], "the test corpus defines abbreviations"


def test_updates_derive_what_reading_the_whole_index_gives(seeds, tmp_path, monkeypatch):
    monkeypatch.setattr(build_module, "SLICE", 20)  # two segments, worn slowly
    monkeypatch.setattr(assembly, "POSITIONS_CHUNK", 7)  # positions put in order in parts
    taken = []
    real = assembly._previous_part
    monkeypatch.setattr(assembly, "_previous_part",
                        lambda *a: taken.append(real(*a)) or taken[-1])
    root = tmp_path / "index"
    build(seeds, root)
    assert_columns_read_afresh(current_generation(root))
    deletions = []
    for round_ in range(1, 4):
        edit(seeds, round_)
        report = update(seeds, root)
        assert (report.added, report.changed, report.removed) == (1, 1, 1)
        generation = current_generation(root)
        assert_columns_read_afresh(generation)
        deletions.append(Columns.load(generation).has_deletions)
        assert_resources_read_afresh(generation, tmp_path / f"round-{round_}")
    assert deletions[0]
    # The first update merged nothing away: the live columns were taken whole.
    assert taken[0] is not None and taken[0][0] == 2
    # The abbreviations are those of the live records, as a build gives them.
    fresh = tmp_path / "fresh"
    build(seeds, fresh)
    built = json.loads((current_generation(fresh) / RESOURCE).read_text("utf-8"))
    updated = json.loads((current_generation(root) / RESOURCE).read_text("utf-8"))
    assert updated["abbreviations"] == built["abbreviations"]


def test_update_links_each_kept_segments_derived_files_and_drops_the_rest(
        seeds, tmp_path, monkeypatch):
    monkeypatch.setattr(build_module, "SLICE", 8)
    root = tmp_path / "index"
    build(seeds, root)
    live = current_generation(root)
    kinds = (COLUMNS_KIND, COUNTS_KIND, PAIRS_KIND)

    def derived(generation: Path) -> dict[str, int]:
        return {p.name: p.stat().st_ino for p in generation.glob(SEGMENT_PREFIX + "*")
                if p.name.endswith(kinds)}

    before = derived(live)
    assert len(before) == len(kinds) * len(segment_ids(live))
    edit(seeds, 1)
    update(seeds, root)
    new = current_generation(root)
    ids = segment_ids(new)
    after = derived(new)
    assert {name.split(".")[0] for name in after} == {SEGMENT_PREFIX + i for i in ids}
    kept = set(before) & set(after)
    assert kept and all(before[name] == after[name] for name in kept)
    assert len(after) == len(kinds) * len(ids)


def test_a_hash_shared_by_two_terms_gives_the_same_columns(seeds, tmp_path, monkeypatch):
    # A 3-bit hash: every key shares its hash with many others.
    monkeypatch.setattr(columns_module, "key_hash", lambda key: len(key) % 8)
    monkeypatch.setattr(build_module, "SLICE", 8)
    root = tmp_path / "index"
    build(seeds, root)
    edit(seeds, 1)
    update(seeds, root)
    generation = current_generation(root)
    # Put together the slow way, the columns hold no positions.
    assert_columns_read_afresh(generation, positions=False)
    columns = Columns.load(generation)
    assert columns.postings("title", "spinal")[0].size
    write_columns(generation)  # again, from the saved segments' columns only
    assert_columns_read_afresh(generation, positions=False)


def test_updates_merge_their_own_small_segments_never_the_builds(seeds, tmp_path,
                                                                 monkeypatch):
    monkeypatch.setattr(build_module, "SLICE", 16)  # slices of 14, 13, 13: not small
    monkeypatch.setattr(update_module, "MERGE_FACTOR", 4)  # small: at most 4 records
    root = tmp_path / "index"
    build(seeds, root, procs=1)
    built = segment_ids(current_generation(root))
    assert len(built) == 3
    sizes = []
    for round_ in range(1, 6):
        (seeds / f"p{200 + round_:05d}.html").write_text(page(200 + round_), encoding="utf-8")
        update(seeds, root)
        ids = segment_ids(current_generation(root))
        assert ids[:3] == built  # the build's slices, as they were
        sizes.append(len(ids) - 3)
    # Each update adds a segment; with four small ones there, the next update
    # writes them and its own records into one.
    assert sizes == [1, 2, 3, 4, 1]
    assert_columns_read_afresh(current_generation(root))
    assert_resources_read_afresh(current_generation(root), tmp_path / "merged")


def test_an_update_brings_the_previous_sums_up_to_date(seeds, tmp_path, monkeypatch):
    """The suggestion counts of an update: the live generation's sums, plus the
    new segment's counts, minus the merged-away segments' (no other segment read)."""
    from indexer.whoosh_engine import vocabulary as suggest

    monkeypatch.setattr(build_module, "SLICE", 8)  # an edit wears its slice: rewritten
    root = tmp_path / "index"
    build(seeds, root)
    read = []
    real = suggest.segment_counts
    monkeypatch.setattr(suggest, "segment_counts", lambda sub: read.append(1) or real(sub))
    loaded = []
    real_load = suggest.load_json
    monkeypatch.setattr(suggest, "load_json", lambda h: loaded.append(h.name) or real_load(h))
    edit(seeds, 1)
    update(seeds, root)
    generation = current_generation(root)
    assert len(read) == 1 and len(segment_ids(generation)) == 4  # 5 - 2 worn + 1
    assert all(str(root) in name for name in loaded) and len(loaded) == 2  # merged away
    assert_resources_read_afresh(generation, tmp_path / "check")


def test_the_mesh_forms_are_analyzed_once_and_carried_forward(seeds, tmp_path):
    root = tmp_path / "index"
    build(seeds, root)
    live = current_generation(root)
    caches = list(live.glob("cache-mesh-*.json"))
    if not caches:
        pytest.skip("no MeSH vocabulary in the data folder")
    edit(seeds, 1)
    update(seeds, root)
    [carried] = current_generation(root).glob("cache-mesh-*.json")
    assert carried.stat().st_ino == caches[0].stat().st_ino


def test_columns_written_before_segments_kept_theirs_are_not_taken_whole(
        seeds, tmp_path, monkeypatch):
    """Columns read posting by posting by an older version could miss deleted
    documents' postings: an update puts the new ones together from segments."""
    monkeypatch.setattr(build_module, "SLICE", 20)
    root = tmp_path / "index"
    build(seeds, root)
    stats_file = current_generation(root) / "columns-stats.json"
    stats = json.loads(stats_file.read_text())
    del stats[assembly.FROM_SEGMENTS]
    stats_file.write_text(json.dumps(stats))
    # As an older version published it: without checksums (else the edit is damage).
    (current_generation(root) / "files.json").unlink()
    taken = []
    real = assembly._previous_part
    monkeypatch.setattr(assembly, "_previous_part",
                        lambda previous, ids, kept: taken.append(
                            (kept.prefix, real(previous, ids, kept))) or taken[-1][1])
    edit(seeds, 1)
    update(seeds, root)
    taken = dict(taken)
    assert taken["columns-"] is None
    assert taken["names-"] is not None  # the names' own stats still say whole
    assert_columns_read_afresh(current_generation(root))


def test_a_generation_without_the_names_columns_searches_them_and_an_update_writes_them(
        seeds, tmp_path):
    from indexer import open_index

    def by_kranz() -> int:
        return sum("Kranz PG" in path.read_text("utf-8") for path in seeds.glob("*.html"))

    root = tmp_path / "index"
    build(seeds, root)
    # As a version before the names' columns published it (without checksums).
    live = current_generation(root)
    for path in [*live.glob("names-*"), *live.glob(f"seg-*.{columns_module.NAMES.kind}")]:
        path.unlink()
    (live / "files.json").unlink()
    assert Columns.load_names(live) is None
    old = open_index(root)
    assert old.engine._names is None and old.search("author:kranz").total == by_kranz() > 0
    old.close()
    edit(seeds, 1)
    update(seeds, root)
    generation = current_generation(root)
    assert len(list(generation.glob(f"seg-*.{columns_module.NAMES.kind}"))) == len(
        segment_ids(generation))
    assert_columns_read_afresh(generation)
    new = open_index(root)
    assert new.engine._names is not None and new.search("author:kranz").total == by_kranz()

"""`medsearch update`: only changed pages are re-read, and the result is what a build gives."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import pytest
from conftest import ARTICLES, clinic_page
from lifecycle_pages import page, pmids, run, word, write_corpus

from indexer.whoosh_engine import build as build_module
from indexer import ArticleNotFound, open_index
from indexer.whoosh_engine.build import build
from indexer.whoosh_engine.update import update

QUERIES = ["blood patch", "vertebroplasty cement leakage", "spinal tuberculosis", "title:kyphoplasty",
           "year:2010-2020 spine", "", "mesh:Humans", "author:Smith", "lumbar NOT athletes",
           word(4), "zebraword", word(30), "spin*", '"cement leakage"']



def snapshot(root: Path) -> dict:
    """What searches show: for each query, the total and (pmid, score, snippet) of every hit."""
    index = open_index(root)
    try:
        return {q: (res.total, [(h.pmid, h.score, h.title, h.snippet) for h in res.hits])
                for q in QUERIES for res in [index.search(q, per_page=100)]}
    finally:
        index.close()


def assert_same_results(updated: dict, built: dict) -> None:
    """The same hits with the same titles and snippets, scores within 2 %, and
    the same order for every two hits whose scores differ by more than that.

    Not bit-identical: an update rewrites the segments it deleted many
    records from (here 4 of 31) by copying postings, and Whoosh copies field
    lengths in their one-byte encoding, which moves BM25F's average field
    length slightly; and hits with equal scores come in index order, which
    an update does not keep.
    """
    for query in QUERIES:
        (total_u, hits_u), (total_b, hits_b) = updated[query], built[query]
        assert total_u == total_b, query
        by_pmid = {h[0]: h for h in hits_u}
        assert set(by_pmid) == {h[0] for h in hits_b}, query
        for pmid, score, *shown in hits_b:
            assert by_pmid[pmid][2:] == tuple(shown), query
            assert by_pmid[pmid][1] == pytest.approx(score, rel=0.02), query
        rank_u = {h[0]: i for i, h in enumerate(hits_u)}
        for i, (a, score_a, *_) in enumerate(hits_b):
            for b, score_b, *_ in hits_b[i + 1:]:
                if score_a > score_b * 1.02:
                    assert rank_u[a] < rank_u[b], (query, a, b)


def stored(root: Path) -> list[dict]:
    index = open_index(root)
    try:
        return sorted((index.article(p).to_dict() for p in pmids(index, "")),
                      key=lambda r: r["pmid"])
    finally:
        index.close()


@pytest.fixture
def seeds(tmp_path) -> Path:
    folder = tmp_path / "seeds"
    write_corpus(folder, 30)
    # PMID 40000003 on two pages: this poorer copy (no abstract) sorts first.
    pmid, title, _, *rest = ARTICLES[3]
    (folder / "copy-of-3.html").write_text(
        clinic_page("40000003", f"{title} {word(3)}", None, *rest), encoding="utf-8")
    # Pages written an hour ago: an edit made now shows in size or mtime.
    # (Pages modified within 2 s before a scan are re-read by the next update
    # whatever their mtime says: one mtime tick could hide an edit.)
    hour_ago = time.time_ns() - 3600 * 10**9
    for path in folder.iterdir():
        os.utime(path, ns=(hour_ago, hour_ago))
    return folder


def edit(seeds: Path) -> None:
    """Adds, edits, deletions, a PMID change, a copy left alone, a touch."""
    (seeds / "p00030.html").write_text(page(30), encoding="utf-8")            # added
    (seeds / "sub").mkdir()
    (seeds / "sub" / "p00031.html").write_text(page(31), encoding="utf-8")    # added
    (seeds / "p00004.html").write_text(page(4, extra="zebraword"), encoding="utf-8")  # changed
    (seeds / "p00009.html").write_text(page(9, pmid="49999999"), encoding="utf-8")    # new PMID
    (seeds / "p00007.html").unlink()                                          # removed
    (seeds / "p00003.html").unlink()  # removed: PMID 40000003 lives on in copy-of-3
    os.utime(seeds / "p00011.html", ns=(time.time_ns(), time.time_ns() + 10**9))  # touched


def test_update_gives_what_a_build_gives(seeds, tmp_path):
    root = tmp_path / "index"
    build(seeds, root)
    before = snapshot(root)
    assert before["zebraword"] == (0, [])
    edit(seeds)
    status, out, err = run("update", "--seeds", str(seeds), "--index", str(root))
    assert (status, err) == (0, "")
    assert out.splitlines()[:9] == [
        "pages read:      31", "records indexed: 31", "duplicates:      0",
        "added:           2", "changed:         2", "removed:         2",
        "unchanged:       27", "pages skipped:   0", out.splitlines()[8]]
    assert out.splitlines()[8].startswith("time:  ")

    fresh = tmp_path / "fresh"
    build(seeds, fresh)
    assert stored(root) == stored(fresh)
    updated, built = snapshot(root), snapshot(fresh)
    assert_same_results(updated, built)
    index = open_index(root)
    # The words alone: feedback may add related pages (README: Relevance).
    for query, pmid in (("zebraword", "40000004"), (word(9), "49999999")):
        assert [h.pmid for h in index.search(query, expand=False).hits] == [pmid]
        assert pmids(index, query)[0] == pmid
    with pytest.raises(ArticleNotFound):
        index.article("40000007")
    assert index.article("40000003").abstract is None  # the copy that remained
    assert index.article("40000003").source == str(seeds / "copy-of-3.html")
    index.close()


def test_update_links_untouched_segments_and_never_changes_the_live_generation(
        seeds, tmp_path, monkeypatch):
    monkeypatch.setattr(build_module, "SLICE", 8)  # 4 segments of 8 records
    root = tmp_path / "index"
    build(seeds, root)
    live = root / os.readlink(root / "current")
    digests = {p.name: hashlib.sha1(p.read_bytes()).hexdigest() for p in live.iterdir()}
    (seeds / "p00030.html").write_text(page(30), encoding="utf-8")
    (seeds / "p00001.html").write_text(page(1, extra="zebraword"), encoding="utf-8")
    report = update(seeds, root)
    assert (report.added, report.changed, report.removed, report.unchanged) == (1, 1, 0, 30)
    assert {p.name: hashlib.sha1(p.read_bytes()).hexdigest() for p in live.iterdir()} == digests
    new = root / os.readlink(root / "current")
    shared = {p.name for p in new.glob("MAIN_*.pst")
              if (live / p.name).exists() and (live / p.name).stat().st_ino == p.stat().st_ino}
    # Only the slice holding p00001 was rewritten; the other three are the same files.
    assert len(shared) == 3 and len(list(new.glob("MAIN_*.pst"))) == 4
    assert len(open_index(root)) == 31


def test_update_with_nothing_changed_keeps_the_generation(seeds, tmp_path):
    root = tmp_path / "index"
    build(seeds, root)
    generation = os.readlink(root / "current")
    report = update(seeds, root)
    assert (report.note, report.added, report.changed, report.removed) == (
        "already up to date", 0, 0, 0)
    assert os.readlink(root / "current") == generation


def test_update_without_an_index_or_from_another_folder_builds_everything(seeds, tmp_path):
    root = tmp_path / "index"
    report = update(seeds, root)
    assert (report.note, report.added, report.indexed) == (
        "rebuilt everything: there was no index", 31, 30)
    other = tmp_path / "other"
    write_corpus(other, 2)
    report = update(other, root)
    assert report.note == f"rebuilt everything: it was built from {seeds}, not {other}"
    assert len(open_index(root)) == 2


def test_the_same_folder_named_another_way_is_updated_not_rebuilt(seeds, tmp_path,
                                                                   monkeypatch):
    root = tmp_path / "index"
    build(seeds, root)
    monkeypatch.chdir(seeds.parent)
    report = update(Path(".") / seeds.name, root)
    assert (report.note, report.added, report.changed, report.removed) == (
        "already up to date", 0, 0, 0)


def test_manifest_and_stats(seeds, tmp_path, monkeypatch):
    root = tmp_path / "index"
    monkeypatch.setenv("MEDSEARCH_DATA", str(tmp_path / "no-data"))
    (seeds / "empty.html").write_bytes(b"")
    build(seeds, root)
    generation = root / os.readlink(root / "current")
    manifest = json.loads((generation / "manifest.json").read_text())
    entry = manifest["pages"]["p00001.html"]
    info = (seeds / "p00001.html").stat()
    assert entry == {"size": info.st_size, "mtime_ns": info.st_mtime_ns,
                     "sha1": hashlib.sha1((seeds / "p00001.html").read_bytes()).hexdigest(),
                     "keys": ["40000001"], "skip": None}
    assert manifest["pages"]["empty.html"]["skip"] == "empty page"
    assert manifest["seeds"] == str(seeds)

    status, out, err = run("stats", "--index", str(root), "--json")
    assert (status, err) == (0, "")
    stats = json.loads(out)
    size = sum(p.stat().st_size for p in generation.iterdir())
    built_at = json.loads((generation / "build.json").read_text())["built_at"]
    assert stats == {
        "index": str(root), "generation": generation.name, "documents": 30,
        "built_at": built_at, "command": "build", "seeds": str(seeds), "pages": 32,
        "size_bytes": size, "skipped": [{"source": str(seeds / "empty.html"),
                                         "reason": "empty page"}],
        # Not files.json, the lock, or the vectors written after the swap (checked on their own).
        "checksums": f"verified, {len(list(generation.iterdir())) - 4} files",
        "vectors": "30 of 30 records (all-MiniLM-L6-v2-onnx-int8-256), checksum verified",
        "synonyms": f"none (no MeSH data found at {tmp_path}/no-data/mesh-ctd-diseases/"
                    "CTD_diseases.tsv.gz: set MEDSEARCH_DATA and rebuild)",
        "abbreviations": "2 mined from the abstracts"}
    status, out, err = run("stats", "--index", str(root))
    assert (status, err) == (0, "")
    assert out == (
        f"index:           {root} ({generation.name})\n"
        "documents:       30\n"
        f"built:           {built_at} by `medsearch build` from {seeds}\n"
        f"size on disk:    {size / 1e6:.1f} MB\n"
        "pages skipped:   1\n"
        f"  {seeds / 'empty.html'}: empty page\n"
        f"checksums:       {stats['checksums']}\n"
        f"vectors:         {stats['vectors']}\n"
        f"synonyms:        {stats['synonyms']}\n"
        "abbreviations:   2 mined from the abstracts\n")
    assert run("stats", "--index", str(tmp_path / "none")) == (
        1, "", f"medsearch: no index at {tmp_path / 'none'}: run `medsearch build`\n")


def test_a_few_deletions_leave_the_segment_in_place(seeds, tmp_path):
    root = tmp_path / "index"
    build(seeds, root)
    live = root / os.readlink(root / "current")
    (seeds / "p00002.html").unlink()  # 1 record of 30: below the rewrite share
    report = update(seeds, root)
    assert (report.removed, report.indexed) == (1, 29)
    new = root / os.readlink(root / "current")
    [old_segment] = live.glob("MAIN_*.pst")
    assert [p.stat().st_ino for p in new.glob("MAIN_*.pst")] == [old_segment.stat().st_ino]
    index = open_index(root)
    assert len(index) == 29
    with pytest.raises(ArticleNotFound):
        index.article("40000002")
    index.close()

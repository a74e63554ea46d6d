"""`medsearch update`: bring the live index in line with the seeds folder,
re-reading only the pages that were added or changed.

Like `build`, it writes a new generation and swaps it in, but it starts
from hard links to the live generation's files and applies a Whoosh writer
there: deleting the records of changed and removed pages, adding the new
ones. Its cost grows with the changed pages, not with the corpus; scanning
the folder costs one stat() per page. See generations.NoClobberStorage for
why the links cannot let it change the live index.

What is derived from the index (postings columns, suggestion counts,
abbreviations, facet values) is saved per segment when the segment is
written and linked with it, so an update reads only the segment it writes;
the generation-wide files start from the live generation's where they can
(columns.write_columns, suggest.write_vocabulary). At 100,000 pages an
update of 10 pages takes about 3 s, most of it scanning the folder and the
manifest.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from whoosh.reading import SegmentReader

from . import build as build_module
from .build import (
    BUILD_INFO, MANIFEST, WRITER_MB, BuildReport, build_locked, count_duplicates,
    entry_keys, finish_report, new_manifest, require_seeds,
    save_resources, verify_index, vocabulary_key, whole_headings, writing,
)
from .assembly import write_columns
from .embedding import embed_live
from .generations import (
    current_generation, link_generation, new_temp, open_generation, open_storage, publish,
    read_json,
)
from ..errors import IndexDamaged, IndexMissing
from ..pages.changes import compare, pick_winners
from ..pages.scan import Progress, code_version, scan
from ..pages.records import Record
from ..query import mesh
from ..pages.text import printable
from .integrity import size_damage, translated
from .schema import to_document

# Share of deleted records past which an update rewrites a segment.
REWRITE_SHARE = 0.1
# How many small segments (updates' own) wait before they are merged into one.
MERGE_FACTOR = 8


def update(
    seeds: str | os.PathLike,
    root: str | os.PathLike,
    procs: int = 1,
    progress: Progress | None = None,
    mesh_file: str | os.PathLike | None = None,
    embed: bool = True,
) -> BuildReport:
    """Apply the changes under `seeds` to the index at `root`, atomically, with
    the MeSH vocabulary of `mesh_file` (query.mesh.vocabulary)."""
    seeds, root = Path(seeds), Path(root)
    started = time.monotonic()
    require_seeds(seeds)
    vocabulary = mesh.vocabulary(mesh_file)
    with writing(root, "update", procs) as workers:
        live = current_generation(root)
        manifest = read_json(live / MANIFEST) if live else {}
        why = full_rebuild_reason(seeds, live, manifest, vocabulary)
        if why:
            report = build_locked(seeds, root, workers, progress, started, vocabulary,
                                  note=f"rebuilt everything: {why}")
        else:
            report = _update_locked(seeds, root, live, manifest, workers, progress, started,
                                    vocabulary)
        # Also when nothing changed: a killed embed is finished here.
        report.vectors = embed_live(root, embed)
        return report


def full_rebuild_reason(seeds: Path, live: Path | None, manifest: dict,
                        vocabulary: mesh.Vocabulary) -> str | None:
    """Why the changes cannot be applied to the live generation, or None."""
    if live is None:
        return "there was no index"
    if not manifest.get("pages"):
        return "the live index has no manifest"
    if manifest.get("seeds") != str(seeds.resolve()):
        return (f"it was built from {printable(str(manifest.get('seeds')))}, "
                f"not {printable(str(seeds.resolve()))}")
    if manifest.get("code") != code_version():
        return "the extractor or the schema changed since it was built"
    if manifest.get("mesh") != vocabulary_key(vocabulary):
        return f"the MeSH vocabulary is now {printable(vocabulary.path)}"
    damage = size_damage(live)  # its files would be linked into the new generation
    if damage:
        return f"the live index is damaged ({'; '.join(map(str, damage[:3]))})"
    try:
        with translated(lambda: live, opening=True):
            open_generation(live.parent, live).close()
    except IndexMissing:
        return "it was written by an older medsearch"
    except IndexDamaged as exc:
        return str(exc)
    return None


def _update_locked(seeds, root, live, manifest, workers, progress, started,
                   vocabulary) -> BuildReport:
    scanned_ns = time.time_ns()
    pages, skipped = scan(seeds)
    changes = compare(pages, manifest, workers, progress)
    report = BuildReport(seeds=printable(str(seeds)), command="update",
                         pages=len(pages) + len(skipped))
    report.skipped = sorted(skipped + [(printable(p.path), changes.entries[p.rel]["skip"])
                                       for p in pages if changes.entries[p.rel]["skip"]])
    report.duplicates = count_duplicates(changes.entries.values())
    report.added, report.changed, report.removed = changes.added, changes.changed, changes.removed
    report.unchanged = len(pages) - changes.added - changes.changed
    if not changes.any:
        report.note = "already up to date"
        report.indexed = len(entry_keys(changes.entries.values()))
        report.seconds = time.monotonic() - started
        return report
    winners = [whole_headings(w, vocabulary)
               for w in pick_winners(changes, {p.rel: p for p in pages}, workers)]
    expected = len(entry_keys(changes.entries.values()))
    tmp, name = new_temp(root)
    try:
        apply_changes(live, tmp, changes.affected, winners, vocabulary.names)
        verify_index(tmp, expected, winners[:1])
        report.vocabulary = save_resources(tmp, vocabulary, previous=live)
        finish_report(report, expected, name, started)
        publish(root, tmp, name, {BUILD_INFO: report.to_dict(), MANIFEST: {
            **new_manifest(seeds, changes.entries, scanned_ns), "mesh": manifest["mesh"]}})
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return report


def _key_term(key: str) -> tuple[str, str]:
    """The indexed term that finds the record of `key`."""
    if key.startswith("source:"):
        return "source", key[len("source:"):]
    return "pmid", key


def apply_changes(live: Path, tmp: Path, affected: set[str], winners: list[Record],
                  mesh_names: frozenset[str] | None = None) -> None:
    """A new generation in `tmp`: the live one, minus the affected keys, plus `winners`."""
    link_generation(live, tmp)
    ix = open_storage(tmp).open_index()
    writer = ix.writer(limitmb=WRITER_MB, compound=False)
    try:
        # All deletions first: they apply to the segments already written only.
        for key in sorted(affected):
            writer.delete_by_term(*_key_term(key))
        for record in winners:
            writer.add_document(**to_document(record, mesh_names))
    except BaseException:
        writer.cancel()
        raise
    writer.commit(mergetype=rewrite_worn)
    ix.close()
    write_columns(tmp, previous=live)


def rewrite_worn(writer, segments: list) -> list:
    """Merge policy: rewrite the segments where deleted records pass REWRITE_SHARE.

    Whoosh counts deleted records in BM25F statistics (document count, term
    frequencies, field lengths) until their segment is rewritten, so scores
    drift from a build's as deletions pile up. Rewriting costs about as much
    as indexing the segment afresh, so it waits, as Lucene's merges do, until
    a segment is worn enough; a build's segments are slices of at most
    build.SLICE records, which bounds the cost. The small segments earlier
    updates left are merged too (merge_small).
    """
    clean = []
    for segment in segments:
        if segment.deleted_count() > REWRITE_SHARE * segment.doc_count_all():
            _rewrite(writer, segment)
        else:
            clean.append(segment)
    return merge_small(writer, clean)


def merge_small(writer, segments: list) -> list:
    """Once MERGE_FACTOR small segments are there, rewrite them into this
    update's segment.

    Each update adds one segment of its changed records. Whoosh's own
    MERGE_SMALL would merge these with the build's slices (about 20 of them,
    20,000 records, at 100,000 pages: a minute per update). Here a segment of
    at most SLICE / MERGE_FACTOR records is small; MERGE_FACTOR of them are
    rewritten together with the update's own records, about SLICE records at
    most when updates are small, and the result is left alone like a build's
    slice (until deletions wear it: rewrite_worn).
    """
    limit = max(1, build_module.SLICE // MERGE_FACTOR)
    small = [s for s in segments if s.doc_count_all() <= limit]
    if len(small) < MERGE_FACTOR:
        return segments
    for segment in small:
        _rewrite(writer, segment)
    return [s for s in segments if s not in small]


def _rewrite(writer, segment) -> None:
    reader = SegmentReader(writer.storage, writer.schema, segment)
    writer.add_reader(reader)
    reader.close()

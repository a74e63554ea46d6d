"""Building the index: every page in, a verified Whoosh index swapped in atomically.

The folder layout and the swap are in .generations, the one-writer
lock in .lock, reading pages into records in indexer.pages.collect; the
incremental `update` in .update.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import shutil
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from whoosh import index as whoosh_index
from whoosh.filedb.filestore import FileStorage
from whoosh.index import TOC
from whoosh.qparser import QueryParser

from ..errors import BuildFailed
from .generations import (
    BUILD_INFO, GEN_PREFIX, MANIFEST, _swap_in, clear_stale, new_temp, publish,
)
from .lock import WriterLock, now
from ..pages.collect import (  # noqa: F401 (pick, richness: part of this module's API)
    collect_records, count_duplicates, entry_keys, manifest_entry, new_manifest, pick,
    require_seeds, richness,
)
from ..pages.changes import vocabulary_key  # noqa: F401 (update imports it from here)
from ..pages.scan import Progress, Workers
from ..pages import headings
from ..pages.records import Record, record_key
from ..query import mesh
from ..pages.text import printable
from ..results import BuildReport
from .schema import from_stored, schema, to_document
from ..semantic.vectors import user_cache
from .embedding import embed_generation, embed_live
from .assembly import save_segment_columns, write_columns
from .resources import save_segment_pairs, write_resources
from .facets import write_facets
from .vocabulary import save_segment_counts, write_vocabulary

# Below this many records one process writes the index faster than two.
PARALLEL_WRITE_MIN = 400
# Records per segment: an update rewrites the segments holding changed pages.
SLICE = 1000
WRITER_MB = 256
# Every writer passes compound=False: Whoosh reads a compound segment's
# postings and term index into memory (a BytesIO copy per segment: 900 MB per
# reader at 100,000 pages); a non-compound segment's files are read through
# the page cache, which every process shares.


# --- writing ------------------------------------------------------------------------

def _write_part(job: tuple[str, list[Record], frozenset[str] | None]) -> None:
    """Index `records` as a Whoosh index of its own in `folder` (in a worker)."""
    folder, records, mesh_names = job
    os.mkdir(folder)
    ix = whoosh_index.create_in(folder, schema)
    writer = ix.writer(limitmb=WRITER_MB, compound=False)
    for record in records:
        writer.add_document(**to_document(record, mesh_names))
    writer.commit()
    ix.close()
    save_segment_data(Path(folder))


def save_segment_data(folder: Path) -> None:
    """Save what is derived from each new segment alone (postings columns,
    word counts, abbreviations), so that the generation's files are put
    together without reading the index again, and an update reads only the
    segments it writes."""
    save_segment_columns(folder)
    save_segment_counts(folder)
    save_segment_pairs(folder)
    write_facets(folder)


def _adopt_segments(part: Path, folder: Path) -> list:
    """Move a part index's segment files into `folder`; its segments, in order."""
    segments = TOC.read(FileStorage(str(part)), "MAIN").segments
    for entry in os.scandir(part):
        if not entry.name.startswith("_") and not entry.name.endswith("_WRITELOCK"):
            os.rename(entry.path, folder / entry.name)
    shutil.rmtree(part)
    return segments


def write_index(folder: Path, records: list[Record], workers: Workers | None = None,
                mesh_names: frozenset[str] | None = None) -> None:
    """Create a Whoosh index of `records`, in their order, in `folder`
    (`mesh_names`: see schema.to_document).

    The records are cut into contiguous slices of at most SLICE, at least one
    per worker for a large corpus; each slice is indexed (by a worker when
    there are several) into a segment of its own, and one TOC lists the
    segments in slice order. So document numbers, and with them the order of
    equal-scored hits, are the same whatever the number of processes, and
    every statistic BM25F uses sums to the same values. An update rewrites
    only the slices where many records were deleted (update.rewrite_worn).

    (Whoosh's MpWriter was slower than one process here, and hands batches to
    whichever sub-writer is free, so document order varied between builds.)
    """
    folder.mkdir(parents=True)
    procs = workers.procs if workers else 1
    count = -(-len(records) // SLICE)
    if len(records) >= PARALLEL_WRITE_MIN:
        count = max(count, procs)
    size = -(-len(records) // max(count, 1)) or 1
    parts = [(str(folder / f"part-{i}"), records[start:start + size], mesh_names)
             for i, start in enumerate(range(0, len(records), size))]
    ix = whoosh_index.create_in(str(folder), schema)
    writer = ix.writer(limitmb=WRITER_MB, compound=False)
    try:
        list((workers or Workers(1)).map(_write_part, parts, chunksize=1))
        segments = [s for part, *_ in parts for s in _adopt_segments(Path(part), folder)]
    except BaseException:
        writer.cancel()
        raise
    writer.commit(mergetype=lambda _writer, existing: list(existing) + segments)
    ix.close()
    write_columns(folder)


def verify_index(folder: Path, expected: int, probes: Iterable[Record] = ()) -> None:
    """Check a new generation before it goes live: document count and test searches."""
    ix = whoosh_index.open_dir(str(folder))
    try:
        with ix.searcher() as searcher:
            if searcher.doc_count() != expected:
                raise BuildFailed(
                    f"verification failed: the new index holds {searcher.doc_count()} "
                    f"documents, expected {expected}; the live index was left as it was")
            parser = QueryParser("pmid", schema)
            for probe in probes:
                if probe.pmid and not searcher.search(parser.parse(f'"{probe.pmid}"'), limit=1):
                    raise BuildFailed(
                        f"verification failed: a test search for PMID {probe.pmid} found "
                        "nothing; the live index was left as it was")
    finally:
        ix.close()


@contextmanager
def writing(root: Path, command: str, procs: int) -> Iterator[Workers]:
    """The one writer of `root`: its lock held, what dead writers left cleared, workers up.

    An OS error on the way (a full or read-only disk, an index path that is
    a file) becomes BuildFailed naming the index folder and what to do.
    """
    try:
        root.mkdir(parents=True, exist_ok=True)
        with WriterLock(root, command), Workers(procs) as workers:
            clear_stale(root)
            yield workers
    except OSError as exc:
        raise BuildFailed(unwritable(root, exc)) from None


def unwritable(root: Path, exc: OSError) -> str:
    """The one-line message for an OS error while writing the index at `root`."""
    where = printable(str(root))
    if isinstance(exc, (FileExistsError, NotADirectoryError)) or exc.errno == errno.ENOTDIR:
        return f"cannot use {where} as the index folder: it is not a folder; pass --index DIR"
    what_to_do = {
        errno.ENOSPC: "free some space or pass --index DIR on another disk",
        errno.EDQUOT: "free some space or pass --index DIR on another disk",
        errno.EROFS: "pass --index DIR on a writable disk",
        errno.EACCES: "pass --index DIR in a folder you may write",
        errno.EPERM: "pass --index DIR in a folder you may write",
    }.get(exc.errno, "check the disk or pass --index DIR elsewhere")
    return (f"cannot write the index at {where}: {exc.strerror or exc}; "
            f"the live index was left as it was: {what_to_do}")


def build(
    seeds: str | os.PathLike,
    root: str | os.PathLike,
    procs: int = 1,
    progress: Progress | None = None,
    mesh_file: str | os.PathLike | None = None,
    embed: bool = True,
) -> BuildReport:
    """Build a new index of every page under `seeds` and swap it in at `root`,
    with the MeSH vocabulary of `mesh_file` (query.mesh.vocabulary); then,
    with it live, embed its documents for the semantic rerank (unless not `embed`)."""
    seeds, root = Path(seeds), Path(root)
    started = time.monotonic()
    require_seeds(seeds)
    vocabulary = mesh.vocabulary(mesh_file)
    with writing(root, "build", procs) as workers:
        report = build_locked(seeds, root, workers, progress, started, vocabulary)
        report.vectors = embed_live(root, embed)
        return report


def whole_headings(record: Record, vocabulary: mesh.Vocabulary) -> Record:
    """`record` with the descriptors its page split at commas rejoined."""
    keywords = headings.rejoin(record.keywords, vocabulary.joinable)
    return record if keywords == record.keywords else dataclasses.replace(record, keywords=keywords)


def build_locked(seeds: Path, root: Path, workers: Workers, progress: Progress | None,
                 started: float, vocabulary: mesh.Vocabulary, note: str = "") -> BuildReport:
    """The build proper, for a caller holding the writer lock.

    With a `note` (why), it is an update that had to re-read everything.
    """
    records, manifest, report = collect_records(seeds, workers, progress)
    manifest["mesh"] = vocabulary_key(vocabulary)
    if note:
        report.command, report.note = "update", note
        report.added = len(manifest["pages"])
    if not records:
        raise BuildFailed(
            f"no article pages found under {seeds} ({report.pages} files read, "
            f"{len(report.skipped)} skipped); the live index was left as it was")
    ordered = [whole_headings(r, vocabulary) for r in sorted(records.values(), key=record_key)]
    tmp, name = new_temp(root)
    try:
        write_index(tmp, ordered, workers, vocabulary.names)
        verify_index(tmp, len(ordered), ordered[:1])
        report.vocabulary = save_resources(tmp, vocabulary)
        finish_report(report, len(ordered), name, started)
        publish(root, tmp, name, {BUILD_INFO: report.to_dict(), MANIFEST: manifest})
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return report


def stored_records(folder: Path) -> list[Record]:
    """Every record in the index in `folder`, as stored, in key order.

    Build and update both derive the expansion resources from these, so
    the two give the same resources for the same pages.
    """
    ix = whoosh_index.open_dir(str(folder))
    try:
        with ix.searcher() as searcher:
            return sorted((from_stored(doc) for doc in searcher.documents()), key=record_key)
    finally:
        ix.close()


def save_resources(folder: Path, vocabulary: mesh.Vocabulary,
                   previous: Path | None = None) -> dict[str, str]:
    """Save the query expansion resources (.resources) beside a new generation.

    Derived from the stored records, so build and update derive the same
    resources from the same pages. Search works without them (no synonyms).
    The words that Index.suggest completes are saved here too. Both are put
    together from what each segment saved (save_segment_data); only segments
    without it are read. An update passes the `previous` (live) generation,
    whose sums it brings up to date. Returns which synonyms and
    abbreviations the generation has (expand.describe).
    """
    write_vocabulary(folder, previous)
    saved = write_resources(folder, vocabulary=vocabulary)
    write_facets(folder)
    return {"synonyms": saved["synonyms"], "abbreviations": saved["abbreviations"]}


def finish_report(report: BuildReport, indexed: int, name: str, started: float) -> None:
    report.indexed = indexed
    report.generation = name
    report.built_at = now()
    report.seconds = time.monotonic() - started


def index_records(root: str | os.PathLike, records: list[Record],
                  data: str | os.PathLike | None = None) -> None:
    """Make `records` the live index at `root`, with the build's resources (for eval)."""
    root = Path(root)
    generation = root / f"{GEN_PREFIX}eval"
    vocabulary = mesh.vocabulary(data=data)
    records = [whole_headings(r, vocabulary) for r in records]
    write_index(generation, records, mesh_names=vocabulary.names)
    write_resources(generation, records, vocabulary=vocabulary)
    # Eval's collections are embedded once per machine (the cache outlives the index).
    embed_generation(root, generation, cache=user_cache())
    _swap_in(root, generation)

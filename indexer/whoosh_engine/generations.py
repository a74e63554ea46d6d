"""The index folder: generations side by side, one of them live.

    index/
      current -> gen-20261126T120000123456-1234   (a symlink, replaced atomically)
      gen-20261126T120000123456-1234/              (a complete, verified Whoosh index
                                                    + build.json + manifest.json)
      .tmp-.../                                    (a build or update in progress)
      .lock                                        (held by the one writer)

A writer fills a temporary folder, verifies it, renames it to a generation and
points `current` at it with one atomic rename. Readers see the old index or
the new one, never a half-written one, and a writer that dies at any moment
leaves the live index untouched.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO

from whoosh.filedb.filestore import FileStorage

from ..errors import IndexDamaged, IndexMissing
from ..query.expand import describe, read_resources
from ..results import IndexCheck
from ..semantic import vectors as semantic_vectors
from .integrity import check, damaged, problems, record_files, recorded, translated

CURRENT = "current"
BUILD_INFO = "build.json"
MANIFEST = "manifest.json"
TMP_PREFIX = ".tmp-"
GEN_PREFIX = "gen-"
# Whoosh's files: TOCs (_MAIN_3.toc) and segments (MAIN_<id>.seg), not its lock.
WHOOSH_PREFIXES = ("_MAIN_", "MAIN_")
WHOOSH_LOCK = "MAIN_WRITELOCK"
# What is derived from one Whoosh segment alone (its postings as columns, its
# vocabulary counts): seg-<segment id>.<kind>, written once beside the segment
# and, like it, hard-linked into every later generation that keeps it.
SEGMENT_PREFIX = "seg-"
# Other write-once files named after what they were computed from
# (cache-<what>-<digest>.<ext>), carried from one generation to the next.
CACHE_PREFIX = "cache-"


def current_generation(root: Path) -> Path | None:
    """The live generation's folder, or None when nothing was ever built."""
    link = Path(root) / CURRENT
    try:
        target = os.readlink(link)
    except OSError:
        return None
    path = Path(root) / target
    return path if path.is_dir() else None


def has_index(root: str | os.PathLike) -> bool:
    """Whether `root` has a live generation that this code can open."""
    generation = current_generation(Path(root))
    if generation is None:
        return False
    try:
        open_generation(Path(root), generation).close()
    except IndexMissing:
        return False
    return True


def open_generation(root: Path, generation: Path):
    """The Whoosh index of `generation`; IndexMissing if it was written by an
    older layout (its pickled schema names classes that have moved)."""
    from whoosh import index as whoosh_index

    # Whoosh leaves the table of contents open when unpickling fails: the file
    # is closed as the error is dropped, without a warning about it.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            return whoosh_index.open_dir(str(generation))
        except (ImportError, AttributeError):  # a class it names has moved
            pass
    raise IndexMissing(f"the index at {root} was written by an older medsearch: "
                       "run `medsearch build`")


def read_json(path: Path) -> dict:
    """A JSON file saved beside a generation; {} when missing or unreadable."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def read_build_info(generation: Path) -> dict:
    """The build report saved beside a generation."""
    return read_json(generation / BUILD_INFO)


def new_temp(root: Path) -> tuple[Path, str]:
    """A fresh temporary folder path and the generation name it will get."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%f")
    name = f"{stamp}-{os.getpid()}"
    return root / f"{TMP_PREFIX}{name}", f"{GEN_PREFIX}{name}"


def publish(root: Path, tmp: Path, name: str, files: dict[str, dict]) -> Path:
    """Save `files` (name -> JSON) in `tmp`, record every file's size and
    checksum (indexer.integrity), make it generation `name`, swap it in.

    The generation swapped out is kept: a reader may still be searching it.
    Older ones are retired.
    """
    for filename, data in files.items():
        # The manifest lists every page: compact, as json's C encoder writes
        # it (indent makes json encode in Python, seconds at 100,000 pages);
        # ASCII, so that a file name that is not UTF-8 (a lone surrogate in
        # Python) is kept exactly, as a \udcNN escape, for `update` to match.
        text = (json.dumps(data, separators=(",", ":"))
                if filename == MANIFEST else json.dumps(data, indent=1, ensure_ascii=False))
        (tmp / filename).write_text(text)
    previous = current_generation(root)
    # Last, so that every file is listed (an update's links with the live checksums).
    record_files(tmp, previous)
    generation = root / name
    os.rename(tmp, generation)
    _swap_in(root, generation)
    keep = {generation.name} | ({previous.name} if previous else set())
    retire_old(root, keep)
    return generation


def _swap_in(root: Path, generation: Path) -> None:
    """Point `current` at `generation` with one atomic rename."""
    tmp_link = root / f"{TMP_PREFIX}link-{os.getpid()}"
    if tmp_link.is_symlink():
        tmp_link.unlink()
    os.symlink(generation.name, tmp_link)
    os.replace(tmp_link, root / CURRENT)


def clear_stale(root: Path) -> None:
    """Remove what dead writers left. Call only while holding the writer lock:
    then no live process owns a temporary folder."""
    for path in root.glob(TMP_PREFIX + "*"):
        if path.is_symlink() or path.is_file():
            path.unlink()
        else:
            shutil.rmtree(path, ignore_errors=True)


def retire_old(root: Path, keep: set[str]) -> None:
    """Delete generations other than `keep` (files shared by hard links live
    on in the generations that still list them)."""
    for path in root.glob(GEN_PREFIX + "*"):
        if path.name not in keep:
            shutil.rmtree(path, ignore_errors=True)


# --- copying a generation cheaply ------------------------------------------------

class NoClobberStorage(FileStorage):
    """A FileStorage that never opens an existing file for writing.

    An update hard-links the live generation's files into its temporary
    folder. Whoosh never rewrites a segment or TOC file in place (new segments
    get fresh random names, the TOC is written to a temporary name and renamed,
    deletions live in the TOC), but should that ever change, creating a file
    over a linked name fails here instead of writing through the link into
    the live index.
    """

    def create_file(self, name, excl=False, mode="wb", **kwargs):
        return super().create_file(name, excl=True, mode=mode, **kwargs)


def link_generation(source: Path, tmp: Path) -> None:
    """Fill `tmp` with hard links to `source`'s Whoosh files (a copy where
    links are impossible).

    Only Whoosh's index files, the per-segment files derived from them
    (SEGMENT_PREFIX) and caches (CACHE_PREFIX), never rewritten (see
    save_new), are taken: every other
    file beside them (build report, manifest, expansion resources) is
    rewritten by its owner with a plain open(..., "w"), which would write
    through a link into the live generation.
    """
    tmp.mkdir()
    for entry in os.scandir(source):
        if not entry.name.startswith(WHOOSH_PREFIXES + (SEGMENT_PREFIX, CACHE_PREFIX)) \
                or entry.name == WHOOSH_LOCK:
            continue
        target = tmp / entry.name
        try:
            os.link(entry.path, target)
        except OSError:
            shutil.copy2(entry.path, target)


def open_storage(folder: Path) -> FileStorage:
    return NoClobberStorage(str(folder))


# --- what is derived from each segment ------------------------------------------------

def segment_file(folder: Path, segment_id: str, kind: str) -> Path:
    return Path(folder) / f"{SEGMENT_PREFIX}{segment_id}.{kind}"


def save_new(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Write a file through `write` under a temporary name, then rename it to
    `path`: a new inode, so never through a hard link to an older generation."""
    tmp = path.with_name(f"{TMP_PREFIX}{path.name}")
    with open(tmp, "wb") as handle:
        write(handle)
    os.replace(tmp, path)


def save_json(handle: BinaryIO, data) -> None:
    """Write `data` as compact UTF-8 JSON (the `save` of a per_segment file)."""
    handle.write(json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def load_json(handle: BinaryIO):
    """The JSON a save_json wrote (the `load` of a per_segment file)."""
    return json.loads(handle.read().decode("utf-8"))


def per_segment(folder: Path, kind: str, compute: Callable, save: Callable,
                load: Callable, only: set[str] | None = None) -> list[tuple[object, object]]:
    """(segment, data) for every segment of the Whoosh index in `folder`, in
    document order: `data` loaded from the segment's `kind` file, or computed
    from a reader of the segment alone (deleted documents included) and saved.
    With `only`, just the segments with those ids.

    Files of segments the index no longer lists (merged away) are removed.
    """
    from whoosh.index import TOC
    from whoosh.reading import SegmentReader

    folder = Path(folder)
    storage = FileStorage(str(folder))
    toc = TOC.read(storage, "MAIN")
    found = []
    for segment in toc.segments:
        if only is not None and segment.segment_id() not in only:
            continue
        path = segment_file(folder, segment.segment_id(), kind)
        try:
            with open(path, "rb") as handle:
                data = load(handle)
        except FileNotFoundError:
            reader = SegmentReader(storage, toc.schema, segment)
            try:
                data = compute(reader)
            finally:
                reader.close()
            save_new(path, lambda handle: save(handle, data))
        found.append((segment, data))
    listed = {segment_file(folder, s.segment_id(), kind).name for s in toc.segments}
    for entry in os.scandir(folder):
        if (entry.name.startswith(SEGMENT_PREFIX) and entry.name.endswith(f".{kind}")
                and entry.name not in listed):
            os.unlink(entry.path)
    return found


def segment_ids(folder: Path) -> list[str]:
    """The ids of the segments of the Whoosh index in `folder`, in document order."""
    from whoosh.index import TOC

    return [s.segment_id() for s in TOC.read(FileStorage(str(folder)), "MAIN").segments]


# --- status --------------------------------------------------------------------------

def folder_size(folder: Path) -> int:
    """Bytes of the files in `folder` (hard-linked files counted in full)."""
    return sum(entry.stat().st_size for entry in os.scandir(folder) if entry.is_file())


def require_current(root: Path) -> Path:
    """The live generation, or IndexMissing saying to run `medsearch build`."""
    generation = current_generation(root)
    if generation is None:
        raise IndexMissing(f"no index at {root}: run `medsearch build`")
    return generation


def check_index(root: str | os.PathLike) -> IndexCheck:
    """The live generation's files against their recorded sizes and checksums."""
    generation = require_current(Path(root))
    found = check(generation)
    # Written after files.json, so checked on their own (indexer.semantic.vectors).
    found.vectors = semantic_vectors.describe(generation)
    return found


def index_stats(root: str | os.PathLike) -> dict:
    """What `medsearch stats` shows: documents, when and from where the live
    generation was built, its size on disk, the pages its build skipped, its
    checksums (verified: IndexDamaged when a file is damaged) and vocabulary."""
    root = Path(root)
    generation = require_current(root)
    found = problems(generation)  # every checksum: reads the whole generation
    if found:
        raise IndexDamaged(damaged(generation, found))
    with translated(lambda: generation, opening=True):
        ix = open_generation(root, generation)
        try:
            with ix.reader() as reader:
                documents = reader.doc_count()
        finally:
            ix.close()
        vocabulary = describe(read_resources(generation))
    info = read_build_info(generation)
    return {
        "index": str(root),
        "generation": generation.name,
        "documents": documents,
        "built_at": info.get("built_at"),
        "command": info.get("command", "build"),
        "seeds": info.get("seeds"),
        "pages": info.get("pages"),
        "size_bytes": folder_size(generation),
        "skipped": info.get("skipped", []),
        "checksums": (f"verified, {len(recorded(generation))} files" if found is not None else
                      "none (built before checksums were recorded): rebuild to add them"),
        "vectors": semantic_vectors.describe(generation, documents),
        **vocabulary,
    }

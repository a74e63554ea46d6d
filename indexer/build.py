"""Building the index: pages in, a verified Whoosh index swapped in atomically.

The index folder holds generations side by side:

    index/
      current -> gen-20261126T120000-1234   (a symlink, replaced atomically)
      gen-20261126T120000-1234/              (a complete, verified Whoosh index)
      .tmp-.../                              (a build in progress)
      .lock                                  (held by the one writer)

A build writes a new generation into a temporary folder, verifies it, renames
it and then points `current` at it with one atomic rename. Readers therefore
see the old index or the new one, never a half-built one, and a build that
dies at any moment leaves the live index untouched.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from whoosh import index as whoosh_index
from whoosh.qparser import QueryParser

from .errors import BuildFailed, ExtractionError, IndexLocked
from .extract import extract_file
from .records import Record
from .schema import schema, to_document

CURRENT = "current"
LOCK = ".lock"
BUILD_INFO = "build.json"
TMP_PREFIX = ".tmp-"
GEN_PREFIX = "gen-"

Progress = Callable[[int, int], None]


@dataclass
class BuildReport:
    """What a build did: the summary the CLI prints and `stats` shows."""

    seeds: str
    pages: int = 0
    indexed: int = 0
    duplicates: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    built_at: str = ""
    generation: str = ""

    def to_dict(self) -> dict:
        return {
            "seeds": self.seeds,
            "pages": self.pages,
            "indexed": self.indexed,
            "duplicates": self.duplicates,
            "skipped": [{"source": s, "reason": r} for s, r in self.skipped],
            "seconds": round(self.seconds, 3),
            "built_at": self.built_at,
            "generation": self.generation,
        }


# --- the seeds folder -------------------------------------------------------

def iter_pages(seeds: Path) -> Iterator[Path]:
    """Every non-hidden file under `seeds`, in a stable order.

    Directory symlinks are not followed, so a symlink loop cannot trap the walk.
    """
    for folder, dirs, files in os.walk(seeds, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                yield Path(folder) / name


def _extract_one(path: str) -> tuple[str, Record | None, str | None]:
    """Extract one page; errors come back as a reason, never raised."""
    try:
        return path, extract_file(path), None
    except ExtractionError as exc:
        return path, None, str(exc)
    except Exception as exc:  # noqa: BLE001 - one broken page must not abort a build
        return path, None, f"unexpected error: {type(exc).__name__}: {exc}"


def extract_pages(
    paths: list[Path], procs: int = 1, progress: Progress | None = None
) -> Iterator[tuple[str, Record | None, str | None]]:
    """Extract `paths`, in a process pool when `procs` > 1, in input order."""
    names = [str(p) for p in paths]
    if procs > 1 and len(names) > 1:
        with ProcessPoolExecutor(procs) as pool:
            results = pool.map(_extract_one, names, chunksize=32)
            for done, result in enumerate(results, 1):
                if progress:
                    progress(done, len(names))
                yield result
    else:
        for done, name in enumerate(names, 1):
            result = _extract_one(name)
            if progress:
                progress(done, len(names))
            yield result


def richness(record: Record) -> tuple:
    """How complete a record is: of two copies of one PMID the richer one wins."""
    return (
        record.abstract is not None,
        len(record.abstract or ""),
        len(record.keywords),
        len(record.authors),
        sum(v is not None for v in (record.journal, record.year, record.organisation)),
    )


def record_key(record: Record) -> str:
    """The unique key: the PMID, or the source file for a page without one."""
    return record.pmid or f"source:{record.source}"


def collect_records(
    seeds: Path, procs: int = 1, progress: Progress | None = None
) -> tuple[dict[str, Record], BuildReport]:
    """Extract every page under `seeds`, one record per PMID."""
    report = BuildReport(seeds=str(seeds))
    if not seeds.is_dir():
        raise BuildFailed(f"no seeds folder at {seeds}: pass --seeds DIR or set MEDSEARCH_SEEDS")
    paths = list(iter_pages(seeds))
    report.pages = len(paths)
    records: dict[str, Record] = {}
    for source, record, reason in extract_pages(paths, procs, progress):
        if record is None:
            report.skipped.append((source, reason or "unknown reason"))
            continue
        key = record_key(record)
        if key in records:
            report.duplicates += 1
            if richness(record) <= richness(records[key]):
                continue
        records[key] = record
    return records, report


# --- the lock -----------------------------------------------------------------

class WriterLock:
    """One writer at a time, held with flock.

    The kernel drops an flock when its process dies, however it dies, so a
    killed build never leaves a lock that blocks the next one.
    """

    def __init__(self, root: Path, command: str = "build"):
        self.path = root / LOCK
        self.command = command
        self._file = None

    def __enter__(self) -> WriterLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip()
            handle.close()
            raise IndexLocked(
                f"the index at {self.path.parent} is being written by another process "
                f"({_describe_holder(holder)}): wait for it to finish, then try again"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "command": self.command,
                                 "since": _now()}))
        handle.flush()
        self._file = handle
        return self

    def __exit__(self, *exc) -> None:
        if self._file:
            self._file.truncate(0)
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def _describe_holder(holder: str) -> str:
    try:
        info = json.loads(holder)
        return f"pid {info['pid']}, `medsearch {info['command']}` since {info['since']}"
    except (ValueError, KeyError, TypeError):
        return "holder unknown"


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- generations ----------------------------------------------------------------

def current_generation(root: Path) -> Path | None:
    """The live generation's folder, or None when nothing was ever built."""
    link = root / CURRENT
    try:
        target = os.readlink(link)
    except OSError:
        return None
    path = root / target
    return path if path.is_dir() else None


def read_build_info(generation: Path) -> dict:
    """The build report saved beside a generation."""
    try:
        return json.loads((generation / BUILD_INFO).read_text())
    except (OSError, ValueError):
        return {}


def _swap_in(root: Path, generation: Path) -> None:
    """Point `current` at `generation` with one atomic rename."""
    tmp_link = root / f"{TMP_PREFIX}link-{os.getpid()}"
    if tmp_link.is_symlink():
        tmp_link.unlink()
    os.symlink(generation.name, tmp_link)
    os.replace(tmp_link, root / CURRENT)


def _clear_stale(root: Path) -> None:
    """Remove what dead builds left. Called only while holding the lock."""
    for path in root.glob(TMP_PREFIX + "*"):
        if path.is_symlink() or path.is_file():
            path.unlink()
        else:
            shutil.rmtree(path, ignore_errors=True)


def _retire_old(root: Path, keep: set[str]) -> None:
    """Delete generations other than `keep`.

    The one swapped out just now is kept too: a reader may still be in the
    middle of a search on it, and it is retired by the next build instead.
    """
    for path in root.glob(GEN_PREFIX + "*"):
        if path.name not in keep:
            shutil.rmtree(path, ignore_errors=True)


# --- writing ----------------------------------------------------------------------

def write_index(folder: Path, records: list[Record], procs: int = 1) -> None:
    """Create a Whoosh index of `records` in `folder`, merged to one segment."""
    folder.mkdir(parents=True)
    ix = whoosh_index.create_in(str(folder), schema)
    writer_args = {"limitmb": 256}
    if procs > 1 and len(records) > 2000:
        writer_args.update(procs=procs, multisegment=False)
    writer = ix.writer(**writer_args)
    try:
        for record in records:
            writer.add_document(**to_document(record))
    except BaseException:
        writer.cancel()
        raise
    writer.commit(optimize=True)
    ix.close()


def verify_index(folder: Path, records: list[Record]) -> None:
    """Check a fresh index before it goes live: document count and a search."""
    ix = whoosh_index.open_dir(str(folder))
    try:
        with ix.searcher() as searcher:
            if searcher.doc_count() != len(records):
                raise BuildFailed(
                    f"verification failed: the new index holds {searcher.doc_count()} "
                    f"documents, expected {len(records)}; the live index was left as it was"
                )
            if records:
                probe = records[0]
                query = QueryParser("pmid", schema).parse(f'"{probe.pmid}"') if probe.pmid else None
                if query is not None and not searcher.search(query, limit=1):
                    raise BuildFailed(
                        f"verification failed: a test search for PMID {probe.pmid} found "
                        "nothing; the live index was left as it was"
                    )
    finally:
        ix.close()


def build(
    seeds: str | os.PathLike,
    root: str | os.PathLike,
    procs: int = 1,
    progress: Progress | None = None,
) -> BuildReport:
    """Build a new index of every page under `seeds` and swap it in at `root`."""
    seeds, root = Path(seeds), Path(root)
    started = time.monotonic()
    root.mkdir(parents=True, exist_ok=True)
    with WriterLock(root, "build"):
        _clear_stale(root)
        records, report = collect_records(seeds, procs, progress)
        if not records:
            raise BuildFailed(
                f"no article pages found under {seeds} ({report.pages} files read, "
                f"{len(report.skipped)} skipped); the live index was left as it was"
            )
        ordered = sorted(records.values(), key=record_key)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%f")
        tmp = root / f"{TMP_PREFIX}{stamp}-{os.getpid()}"
        try:
            write_index(tmp, ordered, procs)
            verify_index(tmp, ordered)
            report.indexed = len(ordered)
            report.seconds = time.monotonic() - started
            report.built_at = _now()
            generation = root / f"{GEN_PREFIX}{stamp}-{os.getpid()}"
            report.generation = generation.name
            (tmp / BUILD_INFO).write_text(json.dumps(report.to_dict(), indent=1))
            os.rename(tmp, generation)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        previous = current_generation(root)
        _swap_in(root, generation)
        _retire_old(root, keep={generation.name} | ({previous.name} if previous else set()))
    return report

"""A generation's files, recorded when it is published and checked when it is read.

`publish` writes files.json into the new generation just before the atomic
swap: every file's size and SHA-256. Opening a generation compares sizes (a
stat per file), so a cut file is reported before it is memory-mapped;
`medsearch stats` and `medsearch check` compare checksums too. Whatever a
damaged file makes Whoosh, pickle or numpy raise while a generation is
read is turned into IndexDamaged at the engine boundary (`translated`).
A generation published before checksums were recorded has no files.json:
it opens as before, and `stats` says so.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import struct
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from whoosh.reading import CorruptIndexError

from ..errors import IndexDamaged, MedsearchError
from ..results import IndexCheck
from .columns import SETS

FILES = "files.json"
VERSION = 1
# Memory-mapped while a generation is searched (postings.Columns.load): a file
# cut under a mapping kills the process (SIGBUS) at the next read of a lost page.
MAPPED_PREFIX, MAPPED_SUFFIX = tuple(kept.prefix for kept in SETS), ".npy"
# What a damaged file makes the readers raise (beyond any check's findings).
LOW_LEVEL = (CorruptIndexError, EOFError, pickle.UnpicklingError, struct.error, zlib.error)
_NOT_RECORDED = ("MAIN_WRITELOCK", FILES)
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Damage:
    """One damaged file of a generation and what is wrong with it."""

    name: str
    problem: str  # "missing", "wrong size (N bytes, expected M)", "wrong checksum"

    def __str__(self) -> str:
        return f"{self.name}: {self.problem}"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def record_files(folder: Path, previous: Path | None = None) -> None:
    """Write `folder`'s files.json: every file's size and SHA-256.

    A file hard-linked from the `previous` generation (an update's unchanged
    segments) takes the size and checksum recorded there instead of being
    read again: so a link to a file damaged since does not pass for sound.
    """
    folder = Path(folder)
    known = _linked_entries(previous) if previous else {}
    files = {}
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if entry.name in _NOT_RECORDED or not entry.is_file(follow_symlinks=False):
            continue
        info = entry.stat()
        files[entry.name] = known.get((info.st_dev, info.st_ino)) or {
            "size": info.st_size, "sha256": sha256_of(Path(entry.path))}
    (folder / FILES).write_text(json.dumps({"version": VERSION, "files": files}, indent=1))


def _linked_entries(previous: Path) -> dict[tuple[int, int], dict]:
    """(device, inode) -> what `previous` recorded of the file."""
    try:
        listed = recorded(previous) or {}
    except IndexDamaged:
        return {}
    found = {}
    for name, entry in listed.items():
        try:
            info = os.stat(previous / name)
        except OSError:
            continue
        found[(info.st_dev, info.st_ino)] = entry
    return found


def recorded(folder: Path) -> dict[str, dict] | None:
    """name -> {"size", "sha256"} as published; None for a generation published
    before checksums were recorded."""
    path = Path(folder) / FILES
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise IndexDamaged(damaged(folder, [f"{FILES}: unreadable ({exc.strerror})"])) from exc
    try:
        files = json.loads(text)["files"]
        if not all(isinstance(e["size"], int) and isinstance(e["sha256"], str)
                   for e in files.values()):
            raise TypeError
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise IndexDamaged(damaged(folder, [f"{FILES}: unreadable"])) from exc
    return files


def size_problems(folder: Path, listed: dict[str, dict]) -> list[Damage]:
    """Listed files that are missing or not their recorded size (a stat each)."""
    found = []
    for name, entry in listed.items():
        try:
            size = os.stat(Path(folder) / name).st_size
        except OSError:
            found.append(Damage(name, "missing"))
            continue
        if size != entry["size"]:
            found.append(Damage(name, f"wrong size ({size} bytes, expected {entry['size']})"))
    return found


def problems(folder: Path) -> list[Damage] | None:
    """Every damaged file (sizes, then checksums of the rest); None when the
    generation has no checksums."""
    listed = recorded(folder)
    if listed is None:
        return None
    found = size_problems(folder, listed)
    bad = {d.name for d in found}
    for name, entry in listed.items():
        if name not in bad and sha256_of(Path(folder) / name) != entry["sha256"]:
            found.append(Damage(name, "wrong checksum"))
    return found


def damaged(folder: Path, found: list) -> str:
    """The one-line message for a generation with damaged files."""
    shown = "; ".join(str(d) for d in found[:3])
    more = f" and {len(found) - 3} more" if len(found) > 3 else ""
    return (f"the index at {Path(folder).parent} is damaged ({shown}{more}): "
            "rebuild with `medsearch build`")


def size_damage(folder: Path) -> list[Damage]:
    """Recorded files missing or cut (cheap: a stat each); [] without checksums."""
    try:
        listed = recorded(folder)
    except IndexDamaged:
        return [Damage(FILES, "unreadable")]
    return size_problems(folder, listed) if listed else []


def check_sizes(folder: Path) -> None:
    """IndexDamaged unless every recorded file is there at its size."""
    found = size_damage(folder)
    if found:
        raise IndexDamaged(damaged(folder, found))


def open_checked(generation: Path, *loaders: Callable[[Path], object]) -> list:
    """Each loader's result for `generation`, its sizes checked first (so a cut
    file is reported before it is read or memory-mapped); whatever a damaged
    file makes a loader raise is IndexDamaged."""
    with translated(lambda: generation, opening=True):
        check_sizes(generation)
        return [load(generation) for load in loaders]


class MappedFiles:
    """A generation's memory-mapped files with their sizes when opened.

    `check` (a stat per file, a few microseconds) runs before each use, so a
    file cut after it was mapped is reported instead of killing the process.
    A cut between the check and the read still can: only a rebuild (a new
    generation, new files) is safe from that.
    """

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.sizes = {entry.path: entry.stat().st_size for entry in os.scandir(folder)
                      if entry.name.startswith(MAPPED_PREFIX)
                      and entry.name.endswith(MAPPED_SUFFIX)}

    def check(self) -> None:
        found = []
        for path, size in self.sizes.items():
            try:
                now = os.stat(path).st_size
            except OSError:
                found.append(Damage(Path(path).name, "missing"))
                continue
            if now != size:
                found.append(Damage(Path(path).name, f"wrong size ({now} bytes, expected {size})"))
        if found:
            raise IndexDamaged(damaged(self.folder, found))


_verdicts: dict[str, list[Damage] | None] = {}


@contextmanager
def translated(generation: Callable[[], Path | None], opening: bool = False) -> Iterator[None]:
    """Turn what a damaged file makes the readers raise into IndexDamaged.

    On any unexpected error, the generation (`generation()`, read then: the
    call may have opened a newer one) is checked, checksums included, once
    per process. While `opening` (only the generation's own files are read)
    any error means damage; later, one that damage does not explain and that
    is not a reader's own (LOW_LEVEL) propagates unchanged: it is a bug.
    """
    try:
        yield
    except MedsearchError:
        raise
    except Exception as exc:
        folder = generation()
        if folder is None:
            raise
        key = str(folder)
        if key not in _verdicts:
            try:
                _verdicts[key] = problems(folder)
            except (IndexDamaged, OSError):
                _verdicts[key] = [Damage(FILES, "unreadable")]
        found = _verdicts[key]
        if found:
            raise IndexDamaged(damaged(folder, found)) from exc
        if opening or isinstance(exc, LOW_LEVEL):
            detail = f"{type(exc).__name__}: {' '.join(str(exc).split())[:120]}"
            raise IndexDamaged(damaged(folder, [detail])) from exc
        raise


def check(generation: Path) -> IndexCheck:
    """`generation`'s files against their recorded sizes and checksums."""
    found = problems(generation)
    listed = recorded(generation) if found is not None else {}
    return IndexCheck(generation=generation.name, files=len(listed or {}),
                      damaged=None if found is None else [str(d) for d in found],
                      message=damaged(generation, found) if found else "")

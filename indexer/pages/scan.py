"""The seeds folder: which pages it holds, reading them safely, extracting
them in worker processes.

Shared by `build` and `update`, so both see the same pages in the same order
and skip the same ones for the same reasons.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import os
import signal
import stat
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

from ..errors import BuildFailed, ExtractionError
from .text import printable
from .extract import MAX_PAGE_BYTES
from .records import Record
from .sources import records_from_bytes

Progress = Callable[[int, int], None]

# The modules whose code decides what a page becomes in the index: when any
# of them changes, an update must re-extract everything (see code_version).
_INDEXING_MODULES = ("pages/extract.py", "pages/text.py", "pages/blocks.py", "pages/budget.py",
                     "pages/records.py", "pages/sources.py", "pages/pubmed.py", "pages/headings.py",
                     "whoosh_engine/schema.py", "whoosh_engine/analysis.py")
_PR_SET_PDEATHSIG = 1


@dataclass
class PageFile:
    """A page found under the seeds folder."""

    rel: str        # path relative to the seeds folder: the manifest's key
    path: str       # path as walked: the record's `source`
    size: int
    mtime_ns: int


# --- scanning -------------------------------------------------------------------

def scan(seeds: Path) -> tuple[list[PageFile], list[tuple[str, str]]]:
    """Every page under `seeds` in a stable order, and what was passed over, with why.

    A folder's files come before its subfolders, each sorted by name. Hidden
    names are ignored. Symbolic links to folders are never followed (a link to
    an enclosing folder would loop forever); links to files are read.
    """
    pages: list[PageFile] = []
    skipped: list[tuple[str, str]] = []
    _walk(Path(seeds), "", pages, skipped)
    return pages, skipped


def _walk(folder: Path, rel: str, pages: list, skipped: list) -> None:
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        skipped.append((printable(str(folder)), f"cannot list folder: {exc.strerror or exc}"))
        return
    subfolders = []
    for entry in entries:
        if entry.name.startswith("."):
            continue
        path = str(folder / entry.name)
        try:
            is_folder_link = entry.is_symlink() and entry.is_dir()
        except OSError as exc:  # ELOOP: a -> b -> a, or a link to itself
            skipped.append((printable(path), _link_error(path, exc)))
            continue
        if is_folder_link:
            skipped.append((printable(path), _folder_link_reason(folder, path)))
        elif entry.is_dir(follow_symlinks=False):
            subfolders.append(entry)
        else:
            page = _page_file(path, rel + entry.name, skipped)
            if page:
                pages.append(page)
    for entry in subfolders:
        _walk(folder / entry.name, f"{rel}{entry.name}/", pages, skipped)


def _folder_link_reason(folder: Path, path: str) -> str:
    target = os.path.realpath(path)
    here = os.path.realpath(folder)
    if here == target or here.startswith(target.rstrip(os.sep) + os.sep):
        return f"symlink loop: links to an enclosing folder ({printable(target)}); not followed"
    return f"symbolic link to a folder ({printable(target)}); not followed"


def _link_error(path: str, exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "symlink loop: the link leads back to itself; not followed"
    if os.path.islink(path):
        return "cannot read: broken symbolic link"
    return f"cannot read: {exc.strerror or exc}"


def _page_file(path: str, rel: str, skipped: list) -> PageFile | None:
    try:
        info = os.stat(path)
    except OSError as exc:
        skipped.append((printable(path), _link_error(path, exc)))
        return None
    if not stat.S_ISREG(info.st_mode):
        skipped.append((printable(path), f"not a regular file ({_kind(info.st_mode)}); not read"))
        return None
    return PageFile(rel, path, info.st_size, info.st_mtime_ns)


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "not a file"


# --- reading and extracting -------------------------------------------------------

def read_page(path: str) -> bytes:
    """A page's bytes, at most MAX_PAGE_BYTES + 1 of them.

    O_NONBLOCK: a page swapped for a named pipe since the scan must not hang us.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ExtractionError("not a regular file; not read")
        return handle.read(MAX_PAGE_BYTES + 1)


def process_page(job: tuple[str, str | None]) -> tuple[str | None, list[Record], str | None]:
    """(sha1, records, skip reason) for one file; never raises.

    A page gives one record, a PubMed export many (.sources). With the
    file's previous sha1 in `job` and unchanged content, returns (sha1, [],
    None) without extracting: a touched file costs a read only.
    """
    path, known_sha1 = job
    try:
        data = read_page(path)
    except OSError as exc:
        return None, [], f"cannot read: {exc.strerror or exc}"
    except ExtractionError as exc:
        return None, [], str(exc)
    sha1 = hashlib.sha1(data).hexdigest()
    if sha1 == known_sha1:
        return sha1, [], None
    try:
        return sha1, records_from_bytes(data, source=printable(path)), None
    except ExtractionError as exc:
        return sha1, [], str(exc)
    except Exception as exc:  # noqa: BLE001 - one broken page must not abort a build
        return sha1, [], f"unexpected error: {type(exc).__name__}: {exc}"[:300]


def code_version() -> str:
    """A fingerprint of the code that turns pages into index documents."""
    digest = hashlib.sha1()
    here = Path(__file__).parent.parent
    for name in _INDEXING_MODULES:
        try:
            digest.update((here / name).read_bytes())
        except OSError:
            digest.update(name.encode())
    return digest.hexdigest()


# --- worker processes ---------------------------------------------------------------

def worker_init(parent: int) -> None:
    """Make a worker die with its parent and leave Ctrl-C to the parent.

    A worker inherits the writer lock's descriptor: were it to outlive a
    killed build it would hold the lock and block the next build. The parent
    turns Ctrl-C into a clean exit; workers ignoring it print no tracebacks.
    A worker is forked with Ctrl-C blocked (Workers._fork_holding_ctrl_c):
    ignored now, one that arrived meanwhile is dropped.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: workers end when their queue closes
        pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


WORKER_DIED = ("a worker process died (killed, or out of memory); the live index was left "
               "as it was: run the command again")


class Workers:
    """A pool of `procs` worker processes, or none (work in-process) for 1."""

    def __init__(self, procs: int = 1):
        self.procs = max(1, int(procs))
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> Workers:
        if self.procs > 1:
            self._pool = ProcessPoolExecutor(
                self.procs, initializer=worker_init, initargs=(os.getpid(),))
            try:
                self._fork_holding_ctrl_c()
            except BaseException:  # Ctrl-C held while forking: no `with` body to run
                self.__exit__(KeyboardInterrupt)
                raise
        return self

    def _fork_holding_ctrl_c(self) -> None:
        """Fork the workers now, with Ctrl-C blocked until they ignore it.

        Ctrl-C reaches the whole process group. A worker forked but not yet
        scheduled (a loaded machine) took it before worker_init ran, died
        holding the task queue's lock, and the build hung. Ignoring Ctrl-C in
        the parent while it forked lost one that came then, and the build
        ran on. Blocked, a Ctrl-C waits: each worker drops it as it starts
        ignoring it (worker_init), the parent takes it once they are up.
        """
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            self._pool.submit(int).result()  # the first task forks every worker
        except BrokenProcessPool:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
            raise BuildFailed(WORKER_DIED) from None
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})

    def __exit__(self, exc_type, *exc) -> None:
        if self._pool is not None:
            # On Ctrl-C or an error, drop the queued work instead of finishing it.
            self._pool.shutdown(wait=True, cancel_futures=exc_type is not None)
            self._pool = None

    def map(self, fn: Callable, items: Iterable, chunksize: int = 16,
            progress: Progress | None = None, total: int = 0) -> Iterator:
        """fn over items, results in input order, in the pool when there is one."""
        items = list(items)
        total = total or len(items)
        try:
            if self._pool is not None and len(items) > 1:
                results = self._pool.map(fn, items, chunksize=chunksize)
            else:
                results = map(fn, items)
            for done, result in enumerate(results, 1):
                if progress:
                    progress(done, total)
                yield result
        except BrokenProcessPool:
            # Killed from outside (kill, the kernel's out-of-memory killer):
            # no page can do this within the extraction budgets.
            raise BuildFailed(WORKER_DIED) from None

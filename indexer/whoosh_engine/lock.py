"""One writer at a time: an flock on `index/.lock` naming its holder."""

from __future__ import annotations

import fcntl
import json
import os
from datetime import datetime, timezone
from pathlib import Path

from ..errors import IndexLocked

LOCK = ".lock"


def now() -> str:
    """The current UTC time, as build reports and the lock show it."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class WriterLock:
    """One writer at a time, held with flock; never waits.

    The kernel drops an flock when the last process holding it dies, however
    it dies, so a killed build never leaves a lock that blocks the next one.
    (Worker processes inherit the descriptor; they die with their parent, see
    pages.worker_init, so they cannot keep a dead build's lock.)
    """

    def __init__(self, root: Path, command: str = "build"):
        self.path = Path(root) / LOCK
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
                f"({describe_holder(holder)}): wait for it to finish, then try again"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "command": self.command, "since": now()}))
        handle.flush()
        self._file = handle
        return self

    def __exit__(self, *exc) -> None:
        if self._file:
            self._file.truncate(0)
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def describe_holder(holder: str) -> str:
    """'pid 123, `medsearch build` since ...' from the lock file's JSON."""
    try:
        info = json.loads(holder)
        return f"pid {info['pid']}, `medsearch {info['command']}` since {info['since']}"
    except (ValueError, KeyError, TypeError):
        # The holder has locked but not yet written its name (a moment's window).
        return "holder unknown"

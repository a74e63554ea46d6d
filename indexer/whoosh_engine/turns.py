"""Taking turns on a process's shared Whoosh searchers, within the time limit.

Whoosh's postings and stored-fields readers seek in shared files, so the
calls of one process take turns on each searcher (indexer.search.Index
keeps two: one for searches, and a "desk" for article pages, similar
articles and suggestions, which then never queue behind a search). The
time limit starts when the call starts, so the wait for a turn counts: a
call that cannot get its turn before its deadline raises Busy at once
instead of running late, and the caller is told to try again. Where
threads share the searchers (the web workers), a turn also ends after the
index's `turn_limit`, so one costly search keeps the others waiting that
long at most. What a damaged file makes the readers raise becomes
IndexDamaged here (indexer.integrity.translated).
"""

from __future__ import annotations

import functools
from contextlib import contextmanager

from . import integrity, limits
from ..errors import Busy


@contextmanager
def turn(lock, limit: float | None = None):
    """Hold `lock` for this block, waiting no longer than the thread's deadline
    allows, and holding it no longer than `limit` seconds (None: no bound)."""
    left = limits.time_left()
    if not lock.acquire(timeout=-1 if left is None else max(0.0, left)):
        raise Busy(f"the server is busy with other searches: try again in {Busy.retry_after} s")
    try:
        with limits.narrowed(limit):
            yield
    finally:
        lock.release()


def searching(method):
    """Decorate an engine method that uses the shared searcher: it runs under
    the index's time limit, the wait for its turn included."""
    @functools.wraps(method)
    def run(self, *args, **kwargs):
        with limits.deadline(self.time_limit), turn(self._lock, self.turn_limit), \
                integrity.translated(lambda: self._generation):
            return method(self, *args, **kwargs)
    return run


def at_desk(method):
    """Decorate an engine method that uses the desk searcher (not the searches' one)."""
    @functools.wraps(method)
    def run(self, *args, **kwargs):
        with limits.deadline(self.time_limit), turn(self._desk_lock, self.turn_limit), \
                integrity.translated(lambda: self._generation):
            return method(self, *args, **kwargs)
    return run

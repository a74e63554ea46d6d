"""A time budget for one step of work: a page that takes too long is refused, not waited for."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from .errors import ExtractionError


class _OutOfTime(BaseException):
    """Raised by the alarm; a BaseException so that no `except Exception` on the way swallows it."""


@contextmanager
def time_limit(seconds: float, message: str) -> Iterator[None]:
    """Raise ExtractionError(message) when the block runs longer than `seconds`.

    SIGALRM interrupts Python code between bytecodes (parsing calls back into
    Python for every tag), so this works in a build's worker processes and in
    a main thread. Elsewhere (another thread, or an alarm already set by the
    caller) the block runs without a time limit; the tag budget still holds.
    """
    if (seconds <= 0 or threading.current_thread() is not threading.main_thread()
            or signal.getitimer(signal.ITIMER_REAL)[0] > 0):
        yield
        return
    armed = [True]

    def expire(_signum, _frame):
        if armed[0]:  # not once the block is done: the alarm may ring as it ends
            raise _OutOfTime

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    except _OutOfTime:
        raise ExtractionError(message) from None
    finally:
        armed[0] = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)

"""The cyclic garbage collector paused while a batch of work runs.

A plan simulation's replay, a policy's batch and the views' batch each build many small
objects (events, lines, rows) that live until the batch ends and form no reference cycles; the
cyclic collector walks them again and again as they pile up, with everything else the process
keeps (kept aggregates, caches): half of a replay's CPU (decision 0039), a third of a policy's
and the views' in small batches (decision 0042). Reference counting still frees what dies; the
collector resumes when the last paused batch ends, as it was (an application that turned it off
keeps it off), and then collects the cycles made meanwhile (a request's, say) as usual.
"""

import contextlib
import gc
import threading
from collections.abc import Iterator


class CollectorPause:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running = 0
        self._resume = False

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            if self._running == 0:
                self._resume = gc.isenabled()
                gc.disable()
            self._running += 1
        try:
            yield
        finally:
            with self._lock:
                self._running -= 1
                if self._running == 0 and self._resume:
                    gc.enable()


collector_paused = CollectorPause()

"""The order in which one process's threads write to SQLite: first come, first served.

SQLite has one writer at a time, and a writer that finds the lock taken is left to its busy
handler, which sleeps and tries again, longer each time (up to 100 ms a try). Under a burst
the writer that has waited longest sleeps longest, while each newcomer retries within a few
milliseconds and takes the lock first: a request could lose to newer ones until its lock
timeout ran out and be told its change was not saved. Queued here, the threads of a process
take the lock in the order they asked, each handed it the moment the previous writer is done,
and only other processes (the command line) are left to the busy handler.
"""

from __future__ import annotations

import threading
from collections import deque


class WriteQueue:
    """A lock handed to waiters in the order they asked. Re-entrant: a thread that holds it and
    asks again (a write session inside its own) is let through, as SQLite would have."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._waiting: deque[threading.Lock] = deque()
        # A thread's id, or the turn (a lock) of the waiter it is being handed to: never None
        # between a release and that waiter waking up, so a newcomer cannot take it meanwhile.
        self._owner: int | threading.Lock | None = None
        self._depth = 0

    def acquire(self, timeout: float) -> bool:
        """Wait at most `timeout` seconds for the turn; False if it did not come."""
        me = threading.get_ident()
        with self._mutex:
            if self._owner == me:
                self._depth += 1
                return True
            if self._owner is None and not self._waiting:
                self._owner, self._depth = me, 1
                return True
            turn = threading.Lock()
            turn.acquire()
            self._waiting.append(turn)
        if turn.acquire(timeout=max(timeout, 0.0)):
            return self._handed_over(me)
        with self._mutex:
            try:
                self._waiting.remove(turn)
            except ValueError:  # handed over just as the wait ran out: it is ours
                pass
            else:
                return False
        return self._handed_over(me)

    def release(self) -> None:
        with self._mutex:
            if self._owner != threading.get_ident():
                raise RuntimeError("the write queue was released by a thread that does not hold it")
            self._depth -= 1
            if self._depth:
                return
            self._owner = None
            if self._waiting:
                turn = self._waiting.popleft()
                self._owner = turn  # reserved for that writer until it wakes
                turn.release()

    def _handed_over(self, me: int) -> bool:
        with self._mutex:
            self._owner, self._depth = me, 1
        return True

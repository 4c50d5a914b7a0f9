"""How one process's threads take turns at SQLite's write lock: no writer waits for long.

SQLite has one writer at a time, and a writer that finds the lock taken is left to its busy
handler, which sleeps and tries again, longer each time (up to 100 ms a try). Under a burst
the writer that has waited longest sleeps longest, while each newcomer retries within a few
milliseconds and takes the lock first: a request could lose to newer ones until its lock
timeout ran out and be told its change was not saved (the ack benchmark: 50 clients during
back-to-back generations).

Here the threads of a process wait for each other instead, and are woken the moment the lock
is free. Whoever comes first takes it (handing it strictly in turn would leave it idle while
the next thread waits for the interpreter, and cost throughput) until a writer has waited
`patience` seconds: then it is that writer's, the longest-waiting first. Only other processes
(the command line, the slow-work process) are left to SQLite's busy handler. A turn ends once
its transaction has (storage.db): handed on before the COMMIT, the next writer found SQLite's
lock still held and slept in that handler, 1 ms at the least, holding the turn meanwhile.

Writes someone waits an answer for (`answering()`: a Slack request not yet acknowledged) go
before writes done after an ack (the outbox workers), within that same patience. And the
thread that lets go of the lock lets such a writer run at once: otherwise it kept the
interpreter for up to Python's switch interval (5 ms) while the free lock waited for the
thread it had woken, which capped a burst of requests at a few hundred writes a second.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_ANSWERING: ContextVar[bool] = ContextVar("postmortem_bot_answering", default=False)


@contextmanager
def answering() -> Iterator[None]:
    """Mark the writes in this block as ones someone is waiting for (a request not yet
    acknowledged): they go before work done after an ack, within the patience that bounds
    every writer's wait."""
    token = _ANSWERING.set(True)
    try:
        yield
    finally:
        _ANSWERING.reset(token)


class _Waiter:
    def __init__(self, since: float, urgent: bool) -> None:
        self.since = since
        self.urgent = urgent
        self.turn = threading.Lock()  # released to wake this waiter
        self.turn.acquire()
        self.woken = False


class WriteQueue:
    """A lock that nobody waits for past `patience` while it keeps changing hands. Re-entrant:
    a thread that holds it and asks again (a write session inside its own) is let through."""

    def __init__(self, patience: float) -> None:
        self._patience = patience
        self._mutex = threading.Lock()
        self._waiting: deque[_Waiter] = deque()  # oldest first
        # A thread's id; or the waiter it was handed to, until that waiter wakes up (so that
        # nobody takes it meanwhile); or None when free.
        self._owner: int | _Waiter | None = None
        self._depth = 0

    def acquire(self, timeout: float) -> bool:
        """Wait at most `timeout` seconds for the lock; False if it did not come."""
        me = threading.get_ident()
        with self._mutex:
            if self._owner == me:
                self._depth += 1
                return True
            now = time.monotonic()
            urgent = _ANSWERING.get()
            if self._owner is None and self._may_take(urgent, now):
                self._owner, self._depth = me, 1
                return True
            waiter = _Waiter(now, urgent)
            self._waiting.append(waiter)
        deadline = now + max(timeout, 0.0)
        while True:
            woken = waiter.turn.acquire(timeout=max(deadline - time.monotonic(), 0.0))
            with self._mutex:
                waiter.woken = False
                if self._owner is waiter or (woken and self._owner is None):
                    if self._owner is None:
                        self._waiting.remove(waiter)
                    self._owner, self._depth = me, 1
                    return True
                if not woken and time.monotonic() >= deadline:
                    self._waiting.remove(waiter)
                    self._wake_next()  # it may have been waiting behind this one
                    return False

    def release(self, holder: int | None = None) -> None:
        """Let go once; `holder` is the thread that took it (default: this one), for a
        connection handed back by another thread (the garbage collector's, for a session
        dropped mid-transaction): a turn nobody gives back would stop every write."""
        with self._mutex:
            if self._owner != (threading.get_ident() if holder is None else holder):
                raise RuntimeError("the write lock was released by a thread that does not hold it")
            self._depth -= 1
            if self._depth:
                return
            self._owner = None
            if self._oldest_out_of_patience(time.monotonic()):
                oldest = self._waiting.popleft()
                self._owner = oldest  # it is next, whoever else asks before it wakes
                self._wake(oldest)
                woken: _Waiter | None = oldest
            else:
                woken = self._wake_next()  # to take it, unless a newcomer is quicker
        if woken is not None and woken.urgent:
            # Let it run now: this thread would otherwise keep the interpreter for up to the
            # switch interval while the lock, free, waits for the thread it just woke.
            time.sleep(0)

    def _may_take(self, urgent: bool, now: float) -> bool:
        """A newcomer may take the free lock: nobody is out of patience, and no request that
        waits for its answer is waiting when the newcomer's is not."""
        if self._oldest_out_of_patience(now):
            return False
        return urgent or not any(waiter.urgent for waiter in self._waiting)

    def _oldest_out_of_patience(self, now: float) -> bool:
        return bool(self._waiting) and now - self._waiting[0].since >= self._patience

    def _wake_next(self) -> _Waiter | None:
        """Wake the oldest waiter whose answer someone waits for, else the oldest."""
        if not self._waiting or self._owner is not None:
            return None
        chosen = next((w for w in self._waiting if w.urgent), self._waiting[0])
        self._wake(chosen)
        return chosen

    @staticmethod
    def _wake(waiter: _Waiter) -> None:
        if not waiter.woken:
            waiter.woken = True
            waiter.turn.release()

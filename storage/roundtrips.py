"""PostgreSQL round trips that never come back, ended from outside.

libpq bounds a connect (`connect_timeout`) and the server bounds a statement
(`statement_timeout`), but once a query is sent nothing bounds the wait for its answer: a frozen
server, or a network path that swallows packets while both kernels stay up, leaves the thread
waiting forever (TCP keepalives only probe idle connections). So every round trip of a
`GuardedConnection` is registered here while it waits, and one watcher thread ends the ones
that must not go on, by shutting the socket down under them: the waiting thread wakes at once
with psycopg's OperationalError, the connection is broken, and SQLAlchemy throws it away
instead of returning it to the pool.

A round trip is ended:
- when it has waited `answer_limit` seconds (the statement timeout plus a margin: the server
  would have answered by then, even with an error, if it were answering at all); or
- when it has waited over `suspect_after` seconds and the health check says the database is
  not answering (storage.health): then everything waiting on it is ended within about two
  seconds, instead of each round trip waiting out its own limit.

A round trip waiting over `suspect_after` seconds also starts a health probe: a slow statement
on a server that answers is left alone (the probe answers); a silent server is found out.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import Any

import psycopg

from storage.health import DatabaseHealth

log = logging.getLogger("postmortem_bot.database")

SUSPECT_AFTER_SECONDS = 1.0
_TICK_SECONDS = 0.05
_IDLE_EXIT_SECONDS = 5.0  # the watcher thread ends after this long with nothing to watch


class _Wait:
    __slots__ = ("connection", "started", "limit", "ended_because")

    def __init__(self, connection: GuardedConnection, started: float, limit: float | None):
        self.connection = connection
        self.started = started
        self.limit = limit
        self.ended_because: str | None = None


class RoundTrips:
    def __init__(
        self,
        health: DatabaseHealth | None = None,
        *,
        suspect_after: float = SUSPECT_AFTER_SECONDS,
    ) -> None:
        self._health = health
        self._suspect_after = suspect_after
        self._lock = threading.Condition()
        self._waits: set[_Wait] = set()
        self._watcher: threading.Thread | None = None

    def begin(self, connection: GuardedConnection, limit: float | None) -> _Wait:
        wait = _Wait(connection, time.monotonic(), limit)
        with self._lock:
            self._waits.add(wait)
            if self._watcher is None:
                self._watcher = threading.Thread(
                    target=self._watch, name="db-round-trips", daemon=True
                )
                self._watcher.start()
        return wait

    def end(self, wait: _Wait) -> None:
        # Under the lock: once this returns, the watcher cannot touch the socket any more (it
        # may be closed and its number reused next).
        with self._lock:
            self._waits.discard(wait)

    @property
    def waiting(self) -> int:
        with self._lock:
            return len(self._waits)

    def _watch(self) -> None:
        idle_since = time.monotonic()
        while True:
            time.sleep(_TICK_SECONDS)
            now = time.monotonic()
            with self._lock:
                waits = list(self._waits)
                if not waits and now - idle_since > _IDLE_EXIT_SECONDS:
                    self._watcher = None
                    return
            if waits:
                idle_since = now
                self._check(waits, now)

    def _check(self, waits: list[_Wait], now: float) -> None:
        slow = [w for w in waits if now - w.started > self._suspect_after]
        if slow and self._health is not None:
            self._health.suspect()
        silent = bool(slow) and self._health is not None and self._health.down
        for wait in waits:
            age = now - wait.started
            if wait.limit is not None and age > wait.limit:
                self._end(wait, f"no answer from the database within {wait.limit:g} s")
            elif silent and age > self._suspect_after:
                self._end(wait, "the database stopped answering")

    def _end(self, wait: _Wait, reason: str) -> None:
        with self._lock:
            if wait not in self._waits or wait.ended_because is not None:
                return
            wait.ended_because = reason
            try:
                fd = wait.connection.pgconn.socket
                # A duplicate of the descriptor: shutdown() acts on the socket itself (the
                # waiting thread wakes), close() only on the duplicate.
                with socket.socket(fileno=os.dup(fd)) as sock:
                    sock.shutdown(socket.SHUT_RDWR)
            except (OSError, psycopg.Error):
                return  # already closed: the waiting thread is finding out by itself
        log.info("ended a database round trip: %s", reason)


class GuardedConnection(psycopg.Connection[Any]):
    """A psycopg connection whose every wait for the server is watched by `round_trips` and
    ended after `answer_limit` seconds (None: no limit, e.g. while migrating)."""

    round_trips: RoundTrips | None = None
    answer_limit: float | None = None

    def wait(self, gen: Any, *args: Any, **kwargs: Any) -> Any:
        # psycopg runs every exchange with the server through `wait` (execute, fetch, commit,
        # rollback, SQLAlchemy's pre-ping); connecting has its own timeout (connect_timeout).
        round_trips = self.round_trips
        if round_trips is None:
            return super().wait(gen, *args, **kwargs)
        wait = round_trips.begin(self, self.answer_limit)
        try:
            return super().wait(gen, *args, **kwargs)
        except psycopg.OperationalError as error:
            if wait.ended_because is not None:  # say why, instead of "server closed the ..."
                raise psycopg.OperationalError(wait.ended_because) from error
            raise
        finally:
            round_trips.end(wait)

"""First-seen claims from many threads, written together: one statement and one commit for
every claim that arrived while the one before was being written (group commit).

Every Slack request records its replay digest before anything else (bot.slack.request_replays),
in a transaction of its own. Under a burst those one-row transactions were a third of the
bot's writes: on SQLite each one is a turn at the single write lock, on PostgreSQL a round trip
and a commit. Here the first thread to ask leads: it opens the transaction, and once it has the
write lock it takes every claim that has arrived meanwhile and inserts them in one statement.
Threads that ask while it writes wait for it; the first of them leads the next group. A thread
alone writes its own claim at once, as before.

A claim's outcome is the statement's: the first time a key is inserted wins (even within one
group: a key asked twice there wins once), and a failure is every member's failure, raised in
each member's thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from storage.first_insert import FirstInsert

Transaction = Callable[[], AbstractContextManager[Session]]


class _Claim:
    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values
        self.done = threading.Event()
        self.leads = False
        self.first: bool | None = None
        self.error: BaseException | None = None

    def outcome(self) -> bool:
        if self.error is not None:
            raise self.error
        assert self.first is not None
        return self.first


class GroupedClaims:
    """`claims.claim({"key": ..., ...})`: True the first time the key is recorded, False when it
    was there already. Each group is `insert`'s one statement (PostgreSQL and SQLite), run
    with all its rows in the transaction `transaction()` opens."""

    def __init__(self, insert: FirstInsert, transaction: Transaction) -> None:
        self._insert_first, self._key = insert, insert.key
        self._transaction = transaction
        self._lock = threading.Lock()
        self._waiting: list[_Claim] = []
        self._leader: _Claim | None = None

    def claim(self, values: dict[str, Any]) -> bool:
        me = _Claim(values)
        with self._lock:
            self._waiting.append(me)
            if self._leader is None:
                self._leader, me.leads = me, True
        if not me.leads:
            me.done.wait()  # written by the group it joined, or told to lead the next one
            if not me.leads:
                return me.outcome()
        self._lead(me)
        return me.outcome()

    def _lead(self, me: _Claim) -> None:
        group: list[_Claim] = []
        try:
            with self._transaction() as session:
                connection = session.connection()  # BEGIN: on SQLite, the write turn is ours
                with self._lock:
                    group, self._waiting = self._waiting, []
                firsts = self._insert(connection, group)
                for claim in group:
                    claim.first = firsts.pop(str(claim.values[self._key]), False)
        except BaseException as error:  # each member raises it in its own thread (outcome())
            for claim in group or [me]:
                claim.error = error
        finally:
            with self._lock:
                if not group:  # failed before it took the group: its own claim is still here
                    self._waiting = [claim for claim in self._waiting if claim is not me]
                following = self._waiting[0] if self._waiting else None
                self._leader = following
                if following is not None:
                    following.leads = True
            for claim in group:
                if claim is not me:
                    claim.done.set()
            if following is not None:
                following.done.set()

    def _insert(self, connection: Connection, group: list[_Claim]) -> dict[str, bool]:
        """Insert the group's keys (each once); {key: True} for those inserted now."""
        unique: dict[str, dict[str, Any]] = {}
        for claim in group:
            unique.setdefault(str(claim.values[self._key]), claim.values)
        statement = self._insert_first.statement(connection.dialect.name)
        if statement is None:
            raise NotImplementedError(f"no grouped claims on {connection.dialect.name}")
        inserted = connection.execute(statement, list(unique.values())).scalars().all()
        return dict.fromkeys((str(key) for key in inserted), True)

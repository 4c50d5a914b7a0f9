"""Engine and session setup for SQLite (embedded default) and PostgreSQL (production), with a
bound on every wait for the database.

A database that stops answering must not freeze the bot: every wait for it is bounded
(`Timeouts`, from the DATABASE_*_TIMEOUT_SECONDS settings), and once it is known not to answer
(storage.health) new work fails at once with `DatabaseUnavailable` instead of each request
paying its own timeout. On PostgreSQL:

- connecting: libpq's `connect_timeout` (covers the TCP connect and the start-up exchange);
- a statement: the server's `statement_timeout` and `lock_timeout` (sent in the connection's
  start-up `options`, merged with any options already in the URL);
- a server that never answers at all: storage.roundtrips ends the wait from outside;
- a dead peer on an idle connection: TCP keepalives (and `tcp_user_timeout` for unacknowledged
  data), then `pool_pre_ping` replaces what died;
- a free connection from the pool: `pool_timeout`.

On SQLite the only wait is for another writer's lock, at most the lock timeout: the threads of
one process take turns at it (storage.write_queue), other processes wait in SQLite's busy
handler.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import psycopg
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from storage.health import ANSWER_WITHIN_SECONDS, DatabaseHealth
from storage.roundtrips import GuardedConnection, RoundTrips
from storage.write_queue import WriteQueue

# How much longer than the statement timeout the bot waits for an answer before it gives up on
# its own: the server answers a timed-out statement with an error, so silence past this margin
# means it is not answering at all.
ANSWER_MARGIN_SECONDS = 1.0
# TCP keepalives, so a peer that died (host gone, connection dropped by a firewall) is noticed
# on an idle pooled connection within about idle + interval * count = 25 s, and sent data left
# unacknowledged for as long fails the connection too. A value set in DATABASE_URL wins.
KEEPALIVES = {
    "keepalives": "1",
    "keepalives_idle": "10",
    "keepalives_interval": "5",
    "keepalives_count": "3",
    "tcp_user_timeout": "25000",  # milliseconds
}


# psycopg's class for a connect that ran out of connect_timeout (not in every 3.x release).
_CONNECTION_TIMEOUT: Any = getattr(psycopg.errors, "ConnectionTimeout", ())


@dataclass(frozen=True)
class Timeouts:
    """Every bound on waiting for the database, in seconds (see README, "Environment")."""

    connect: int = 5  # DATABASE_CONNECT_TIMEOUT_SECONDS; libpq counts whole seconds, at least 2
    statement: float = 5.0  # DATABASE_STATEMENT_TIMEOUT_SECONDS
    lock: float = 2.0  # DATABASE_LOCK_TIMEOUT_SECONDS; also SQLite's busy timeout
    pool: float = 2.0  # DATABASE_POOL_TIMEOUT_SECONDS
    probe: float = ANSWER_WITHIN_SECONDS  # a health probe unanswered this long: not answering

    @property
    def answer_limit(self) -> float:
        """The longest the bot waits for any one answer from PostgreSQL."""
        return self.statement + ANSWER_MARGIN_SECONDS


# Set for the rest of one request once it found the database not answering (see failing_fast).
_failed_here: ContextVar[bool] = ContextVar("database_failed_here", default=False)


@contextmanager
def failing_fast() -> Iterator[None]:
    """Within this block, every session fails at once with DatabaseUnavailable: the request
    already waited once for a database that did not answer (SQLite's write lock, say, which
    the health probe cannot see), and must not wait again before it answers Slack."""
    token = _failed_here.set(True)
    try:
        yield
    finally:
        _failed_here.reset(token)


class DatabaseUnavailable(Exception):
    """The database is known not to answer right now, so the work was not attempted."""


class CommitOutcomeUnknown(Exception):
    """The database stopped answering while it was being asked to COMMIT: the change may or may
    not be saved. (Not a DatabaseUnavailable: "nothing was saved" would not be the truth.)"""


def is_unavailable(error: BaseException) -> bool:
    """The database did not answer or refused (timeouts, lost or refused connections, a full
    pool, a lock waited for too long), as opposed to a bug or a constraint violation."""
    if isinstance(error, DatabaseUnavailable | sa_exc.OperationalError | sa_exc.TimeoutError):
        return True
    return isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated


def explain(error: BaseException, timeouts: Timeouts | None = None) -> str:
    """The reason the database could not be used, in one line (no traceback), for logs and
    the command line; with `timeouts`, naming the setting that bounded the wait."""
    original = getattr(error, "orig", None) or error
    lines = str(original).strip().splitlines()
    reason = lines[0].strip() if lines else type(original).__name__
    if isinstance(error, sa_exc.TimeoutError):
        reason = "no pooled connection came free in time (DATABASE_POOL_TIMEOUT_SECONDS)"
    elif timeouts is not None and isinstance(original, _CONNECTION_TIMEOUT):
        reason += f" (no answer within DATABASE_CONNECT_TIMEOUT_SECONDS={timeouts.connect})"
    elif timeouts is not None and isinstance(original, psycopg.errors.QueryCanceled):
        reason += f" (DATABASE_STATEMENT_TIMEOUT_SECONDS={timeouts.statement:g})"
    elif timeouts is not None and (
        isinstance(original, psycopg.errors.LockNotAvailable) or reason == "database is locked"
    ):  # PostgreSQL's lock_timeout; SQLite's busy timeout
        reason += f" (DATABASE_LOCK_TIMEOUT_SECONDS={timeouts.lock:g})"
    return reason


READ_ONLY = "postmortem_bot_read_only"  # execution option: a transaction that will not write
log = logging.getLogger("postmortem_bot.db")


class Database:
    """One engine and a session factory. `session()` commits on success, rolls back on error,
    and raises DatabaseUnavailable at once while the database is known not to answer."""

    def __init__(self, url: str, *, echo: bool = False, timeouts: Timeouts | None = None) -> None:
        self.url = url
        self.timeouts = timeouts or Timeouts()
        self._postgres = make_url(url).get_backend_name() == "postgresql"
        self.health = DatabaseHealth(self._probe, answer_within=self.timeouts.probe)
        self._round_trips = RoundTrips(self.health) if self._postgres else None
        self.engine: Engine = self._create_engine(echo=echo)
        self._probe_engine: Engine = self._create_probe_engine()
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._commit_hooks: list[Callable[[Session], None]] = []
        event.listen(self._sessions, "after_commit", self._after_commit)

    def on_commit(self, hook: Callable[[Session], None]) -> None:
        """Call `hook(session)` after each commit (say, to wake the outbox workers at once
        when a transaction wrote jobs down); a failing hook is logged, never raised."""
        self._commit_hooks.append(hook)

    def _after_commit(self, session: Session) -> None:
        for hook in self._commit_hooks:
            try:
                hook(session)
            except Exception:
                log.exception("a commit hook failed")

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """A transaction that only reads. On SQLite it starts with a plain BEGIN instead of
        taking the write lock up front, so frequent readers (the outbox workers' polling) never
        queue behind, or in front of, the writers."""
        self.require_available()
        with self._sessions.begin() as session:
            if not self._postgres:
                session.connection(execution_options={READ_ONLY: True})
            yield session

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed when the block ends, rolled back if it raises. If the
        database stops answering during the COMMIT itself (PostgreSQL over the network), whether
        it committed can't be known: CommitOutcomeUnknown says so, instead of a plain failure
        that would let the caller say "not saved" about something that may be saved."""
        self.require_available()
        session = self._sessions()
        try:
            session.begin()
            yield session
            session.flush()  # a failure up to here means nothing was committed
            try:
                session.commit()
            except Exception as error:
                if self._postgres and is_unavailable(error):
                    raise CommitOutcomeUnknown(explain(error)) from error
                raise
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextmanager
    def single_statement(self) -> Iterator[Session]:
        """For one statement that is atomic by itself (an INSERT ... ON CONFLICT, say), on the
        path of every Slack request. On PostgreSQL it runs in autocommit: committed as it is
        answered, one round trip instead of BEGIN, the statement and COMMIT. On SQLite, a
        `session()` (no network between the bot and its file)."""
        if not self._postgres:
            with self.session() as session:
                yield session
            return
        self.require_available()
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as bound:
            with Session(bind=bound) as session:
                yield session

    def require_available(self) -> None:
        """Raise DatabaseUnavailable at once while the database is known not to answer (after
        asking again, for at most about a second, when the last answer is stale), or when the
        work at hand already found it not answering (`failing_fast`)."""
        if _failed_here.get():
            raise DatabaseUnavailable("the database did not answer earlier in this request")
        if self.health.down and not self.health.check():
            raise DatabaseUnavailable(f"the database is not answering ({self.health.reason})")

    def ping(self) -> bool:
        """Whether the database answers; waits about a second at most (see storage.health)."""
        return self.health.check()

    def explain(self, error: BaseException) -> str:
        """One line saying why the database could not be used, naming the setting that bounded
        the wait when there is one: for the command line."""
        return explain(error, self.timeouts)

    @contextmanager
    def unbounded(self, connection: Connection) -> Iterator[None]:
        """For migrations, in `connection`'s transaction: no statement timeout (a big ALTER may
        take minutes) and no lock timeout (replicas wait their turn on the migration lock; put
        it back with `SET LOCAL lock_timeout TO DEFAULT` once that is held). A server that
        stops answering is still found out by the health probe (storage.roundtrips)."""
        if not self._postgres:
            yield
            return
        dbapi = connection.connection.dbapi_connection
        limit = getattr(dbapi, "answer_limit", None)
        if isinstance(dbapi, GuardedConnection):
            dbapi.answer_limit = None
        try:
            connection.execute(text("SET LOCAL statement_timeout = 0"))
            connection.execute(text("SET LOCAL lock_timeout = 0"))
            yield
        finally:
            if isinstance(dbapi, GuardedConnection):
                dbapi.answer_limit = limit

    def dispose(self) -> None:
        self.engine.dispose()
        self._probe_engine.dispose()

    # -- engines --------------------------------------------------------------------------------

    def _probe(self) -> None:
        with self._probe_engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def _create_engine(self, *, echo: bool) -> Engine:
        t = self.timeouts
        if not self._postgres:
            engine = create_engine(self.url, echo=echo, **_sqlite_arguments(self.url, t))
            _configure_sqlite(engine, t, WriteQueue(patience=t.lock / 4))
        else:
            engine = create_engine(
                self.url,
                echo=echo,
                pool_pre_ping=True,  # a connection that died while pooled is replaced
                pool_size=10,
                max_overflow=10,
                pool_timeout=t.pool,
            )
            self._guard_connections(engine, gate=True)

        @event.listens_for(engine, "handle_error")
        def _suspect(context: Any) -> None:
            # A refused or lost connection, a timeout: find out at once whether the database
            # answers, so the next callers fail fast instead of each waiting.
            if isinstance(context.original_exception, psycopg.OperationalError) or (
                context.is_disconnect
            ):
                self.health.suspect()

        return engine

    def _create_probe_engine(self) -> Engine:
        """The health probe's own engine: one connection, outside the pool requests use, so a
        pool busy with slow work does not look like a database that is not answering."""
        if not self._postgres:
            return create_engine(
                self.url,
                poolclass=NullPool,
                connect_args={"check_same_thread": False, "timeout": self.timeouts.lock},
            )
        engine = create_engine(self.url, pool_size=1, max_overflow=0, pool_timeout=0.5)
        self._guard_connections(engine, gate=False)
        return engine

    def _guard_connections(self, engine: Engine, *, gate: bool) -> None:
        timeouts, round_trips = self.timeouts, self._round_trips

        @event.listens_for(engine, "do_connect")
        def _connect(_dialect: Any, _record: Any, cargs: Any, cparams: Any) -> GuardedConnection:
            if gate:  # while it does not answer, fail now instead of after connect_timeout
                self.require_available()
            connection = GuardedConnection.connect(*cargs, **postgres_params(cparams, timeouts))
            connection.round_trips = round_trips
            connection.answer_limit = timeouts.answer_limit
            return connection


def postgres_params(cparams: dict[str, Any], timeouts: Timeouts) -> dict[str, Any]:
    """psycopg's connection parameters with the bot's bounds: the connect timeout and
    keepalives, and the statement and lock timeouts appended to any `options` already given
    (the URL's, e.g. `-csearch_path=...`): PostgreSQL applies them in order, so ours win."""
    params = dict(cparams)
    params["connect_timeout"] = str(timeouts.connect)
    for name, value in KEEPALIVES.items():
        params.setdefault(name, value)
    ours = (
        f"-c statement_timeout={_milliseconds(timeouts.statement)} "
        f"-c lock_timeout={_milliseconds(timeouts.lock)}"
    )
    given = str(params.get("options") or "").strip()
    params["options"] = f"{given} {ours}" if given else ours
    return params


def _milliseconds(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def in_memory(url: str) -> bool:
    """An in-memory SQLite database: it exists in one process, on one connection's memory."""
    parsed = make_url(url)
    return parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:")


def _sqlite_arguments(url: str, timeouts: Timeouts) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        # The driver's own wait for another writer's lock, as PRAGMA busy_timeout below.
        "connect_args": {"check_same_thread": False, "timeout": timeouts.lock},
    }
    if not in_memory(url):
        arguments["pool_timeout"] = timeouts.pool  # in-memory databases use a one-thread pool
    return arguments


_WRITER_TURN = "postmortem_bot.writer_turn"  # Connection.info: the thread whose turn it holds


def _configure_sqlite(engine: Engine, timeouts: Timeouts, writers: WriteQueue) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event decide how transactions start (see below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        # Waiting for another writer is bounded: past it the write fails ("database is
        # locked") and the user is told, instead of a thread waiting for as long as the lock
        # is held.
        cursor.execute(f"PRAGMA busy_timeout={_milliseconds(timeouts.lock)}")
        if not in_memory(str(engine.url)):
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")  # durable in WAL mode, far fewer fsyncs
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Take the write lock up front: a deferred transaction that later writes can fail with
        # "database is locked" when two threads upgrade their locks at once. A read-only one
        # (Database.read_session) needs no lock.
        if conn.get_execution_options().get(READ_ONLY):
            conn.exec_driver_sql("BEGIN")
            return
        # This process's writers take turns (storage.write_queue): none waits past a quarter
        # of the lock timeout while others keep taking it, none past the timeout itself.
        if not writers.acquire(timeouts.lock):
            raise sa_exc.OperationalError(
                "BEGIN IMMEDIATE", None, sqlite3.OperationalError("database is locked")
            )
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            writers.release()
            raise
        conn.info[_WRITER_TURN] = threading.get_ident()

    def give_back(info: dict[Any, Any]) -> None:
        holder = info.pop(_WRITER_TURN, None)
        if holder is not None:
            writers.release(holder)

    # The turn ends once the transaction has: handed on before the COMMIT, it let the next
    # writer's BEGIN IMMEDIATE find the lock still held and sleep in SQLite's busy handler
    # (1 ms at the least, longer each try), holding the turn meanwhile. So these events, which
    # SQLAlchemy fires before it commits or rolls back, end the transaction themselves; its own
    # commit() or rollback() that follows finds none open and does nothing.
    @event.listens_for(engine, "commit")
    def _on_commit(conn: Any) -> None:
        _end_then_give_back(conn, "COMMIT")

    @event.listens_for(engine, "rollback")
    def _on_rollback(conn: Any) -> None:
        _end_then_give_back(conn, "ROLLBACK")

    def _end_then_give_back(conn: Any, statement: str) -> None:
        if _WRITER_TURN not in conn.info:
            return  # a read (plain BEGIN): no turn to give back
        try:
            dbapi_connection = conn.connection.dbapi_connection
            if dbapi_connection is not None and dbapi_connection.in_transaction:
                dbapi_connection.execute(statement)
        except sqlite3.Error as error:
            if statement == "COMMIT":  # not committed: say so as SQLAlchemy would
                raise sa_exc.DBAPIError.instance(statement, None, error, sqlite3.Error) from error
            # A failed ROLLBACK: SQLAlchemy's own, which follows, tries again and reports it.
        finally:
            give_back(conn.info)

    # A connection that ends its transaction any other way still gives its turn back.
    @event.listens_for(engine.pool, "checkin")
    @event.listens_for(engine.pool, "invalidate")
    @event.listens_for(engine.pool, "soft_invalidate")
    def _on_dropped(_dbapi_connection: Any, record: Any, *_: Any) -> None:
        if record is not None:
            give_back(record.info)

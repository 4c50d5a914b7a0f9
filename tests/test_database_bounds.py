"""The parts that bound waiting for the database, without a network: the health check, the
connection parameters, the server's view of them, and the user's message (see
tests/test_availability.py for the whole bot against a stalled database)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from bot.core.errors import DATABASE_UNAVAILABLE
from bot.core.settings import load_settings
from handlers.errors import APOLOGY, message_for
from sandbox.harness import wait_until
from storage.db import Database, DatabaseUnavailable, Timeouts, postgres_params
from storage.health import DatabaseHealth


def eventually(check: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    wait_until(lambda: check() or None, timeout=timeout, what=what)


def test_health_checks_probe_one_at_a_time_and_never_wait_past_the_bound() -> None:
    release, calls = threading.Event(), []

    def probe() -> None:  # a database that does not answer until released
        calls.append(1)
        if not release.wait(10):
            raise TimeoutError("not released")

    health = DatabaseHealth(probe, answer_within=0.3)
    with ThreadPoolExecutor(max_workers=20) as pool:
        started = time.monotonic()
        results = list(pool.map(lambda _: health.check(), range(20)))
        took = time.monotonic() - started
    assert results == [False] * 20 and len(calls) == 1
    assert took < 1.0, took
    assert health.down
    started = time.monotonic()
    assert health.check() is False and time.monotonic() - started < 0.05  # stuck: at once
    release.set()
    eventually(lambda: not health.down, "the probe to answer", 2)
    assert health.check() is True and len(calls) == 1  # a fresh answer is reused


def test_a_failed_probe_is_retried_soon_and_sessions_fail_fast_meanwhile(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    failing = [True]

    def probe() -> None:
        if failing[0]:
            raise OSError("connection refused")

    db.health = DatabaseHealth(probe, answer_within=0.5)
    assert db.health.check() is False
    started = time.monotonic()
    with pytest.raises(DatabaseUnavailable), db.session():
        pass
    assert time.monotonic() - started < 0.1
    failing[0] = False
    eventually(lambda: db.ping(), "a new probe to answer", 2)
    with db.session() as session:
        assert session.execute(text("SELECT 1")).scalar() == 1
    db.dispose()


def test_postgres_connections_get_every_bound_and_keep_the_urls_options() -> None:
    params = postgres_params(
        {"host": "db", "options": "-csearch_path=tenant", "keepalives_idle": "60"},
        Timeouts(connect=3, statement=4.5, lock=1.25),
    )
    assert (
        params["options"] == "-csearch_path=tenant -c statement_timeout=4500 -c lock_timeout=1250"
    )
    assert params["connect_timeout"] == "3"
    assert params["keepalives"] == "1" and params["keepalives_idle"] == "60"  # the URL wins
    assert params["tcp_user_timeout"] == "25000"
    assert postgres_params({}, Timeouts())["options"] == (
        "-c statement_timeout=5000 -c lock_timeout=2000"
    )


def test_the_server_applies_the_timeouts_and_the_urls_search_path(db: Database) -> None:
    if db.dialect != "postgresql":
        with db.engine.connect() as conn:
            busy = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
            assert busy == db.timeouts.lock * 1000  # the tests' db sets 10 s (conftest)
        return
    with db.engine.connect() as conn:
        shown = [
            conn.execute(text(f"SHOW {name}")).scalar()
            for name in ("statement_timeout", "lock_timeout", "search_path")
        ]
    timeouts = db.timeouts  # the tests' db: 15 s and 10 s (conftest)
    assert shown[:2] == [f"{timeouts.statement:g}s", f"{timeouts.lock:g}s"]
    options = str(make_url(db.url).query["options"])  # the URL's own option is kept
    assert shown[2] == options.removeprefix("-csearch_path=")


def test_database_failures_become_one_clear_private_message() -> None:
    refused = OperationalError("SELECT 1", {}, Exception("connection refused"))
    for error in (refused, PoolTimeout("QueuePool limit"), DatabaseUnavailable("down")):
        assert message_for(error) == DATABASE_UNAVAILABLE
    assert message_for(ValueError("a bug")) == APOLOGY
    assert "not saved" in DATABASE_UNAVAILABLE and "try again in a minute" in DATABASE_UNAVAILABLE


def test_the_timeout_settings_reach_the_database(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from bot.cli import _database

    for name, value in {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "DATABASE_CONNECT_TIMEOUT_SECONDS": "3",
        "DATABASE_STATEMENT_TIMEOUT_SECONDS": "1.5",
        "DATABASE_LOCK_TIMEOUT_SECONDS": "0.5",
        "DATABASE_POOL_TIMEOUT_SECONDS": "4",
    }.items():
        monkeypatch.setenv(name, value)
    database = _database(load_settings(_env_file=None))
    assert database.timeouts == Timeouts(connect=3, statement=1.5, lock=0.5, pool=4)
    database.dispose()
    monkeypatch.setenv("DATABASE_CONNECT_TIMEOUT_SECONDS", "1")  # libpq would make it 2
    with pytest.raises(ValidationError, match="database_connect_timeout_seconds"):
        load_settings(_env_file=None)


def test_a_read_session_takes_no_write_lock_on_sqlite(tmp_path: Path) -> None:
    """The outbox workers poll in read sessions: on SQLite these must not hold the write lock,
    or every poll would make writers (requests being acknowledged) wait."""
    import threading
    import time

    from sqlalchemy import text

    db = Database(f"sqlite:///{tmp_path / 'reads.sqlite3'}")
    with db.session() as session:
        session.execute(text("CREATE TABLE t (x INTEGER)"))
    wrote = threading.Event()

    def write() -> None:
        with db.session() as session:
            session.execute(text("INSERT INTO t VALUES (1)"))
        wrote.set()

    with db.read_session() as session:
        session.execute(text("SELECT count(*) FROM t")).scalar()
        started = time.monotonic()
        writer = threading.Thread(target=write)
        writer.start()
        assert wrote.wait(1.0), "the writer waited for the reader"
        assert time.monotonic() - started < 1.0
    writer.join()
    with db.read_session() as session:
        assert session.execute(text("SELECT count(*) FROM t")).scalar() == 1
    db.dispose()


def _holding_the_write_lock(db: Database, release: threading.Event) -> threading.Thread:
    """A writer that takes SQLite's write lock and keeps it until `release` is set."""
    holding = threading.Event()

    def hold() -> None:
        with db.session() as session:
            session.execute(text("INSERT INTO t VALUES ('holder')"))
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(5)
    return holder


def test_a_sqlite_writer_that_has_waited_long_takes_the_lock_before_a_newcomer(
    tmp_path: Path,
) -> None:
    """SQLite's busy handler lets a waiting writer sleep longer and longer (up to 100 ms a
    try) while one that has just arrived retries within milliseconds: under a burst, a request
    that waited longest kept losing the lock to newer ones, past the lock timeout, and was told
    its change was not saved (the ack benchmark, 50 clients during a generation). Past a
    quarter of the lock timeout (0.5 s here), a waiting writer is next."""
    db = Database(f"sqlite:///{tmp_path / 'order.sqlite3'}")
    with db.session() as session:
        session.execute(text("CREATE TABLE t (who TEXT)"))
    release = threading.Event()
    holder = _holding_the_write_lock(db, release)

    def write(who: str, asking: threading.Event) -> None:
        asking.set()
        with db.session() as session:
            session.execute(text("INSERT INTO t VALUES (:who)"), {"who": who})

    first_asked, second_asked = threading.Event(), threading.Event()
    first = threading.Thread(target=write, args=("first", first_asked))
    first.start()
    assert first_asked.wait(5)
    time.sleep(0.7)  # the first has waited past its patience (SQLite retries 100 ms apart)
    second = threading.Thread(target=write, args=("second", second_asked))
    second.start()
    assert second_asked.wait(5)
    time.sleep(0.03)  # the second asks too, before the lock comes free
    release.set()
    for thread in (holder, first, second):
        thread.join(10)
    with db.read_session() as session:
        order = list(session.execute(text("SELECT who FROM t ORDER BY rowid")).scalars())
    db.dispose()
    assert order == ["holder", "first", "second"]


def test_a_sqlite_writer_that_waits_past_the_lock_timeout_is_told_and_the_queue_goes_on(
    tmp_path: Path,
) -> None:
    db = Database(f"sqlite:///{tmp_path / 'timeout.sqlite3'}", timeouts=Timeouts(lock=0.3))
    with db.session() as session:
        session.execute(text("CREATE TABLE t (who TEXT)"))
    release = threading.Event()
    holder = _holding_the_write_lock(db, release)
    started = time.monotonic()
    with pytest.raises(OperationalError) as refused:
        with db.session() as session:
            session.execute(text("INSERT INTO t VALUES ('late')"))
    waited = time.monotonic() - started
    assert 0.25 <= waited < 2.0
    assert "database is locked" in db.explain(refused.value)
    assert "DATABASE_LOCK_TIMEOUT_SECONDS=0.3" in db.explain(refused.value)
    release.set()
    holder.join(10)
    with db.session() as session:  # the writer that gave up holds no place in the queue
        session.execute(text("INSERT INTO t VALUES ('next')"))
    with db.read_session() as session:
        rows = list(session.execute(text("SELECT who FROM t ORDER BY rowid")).scalars())
    db.dispose()
    assert rows == ["holder", "next"]


def test_a_sqlite_write_that_fails_gives_its_turn_back(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'failed.sqlite3'}", timeouts=Timeouts(lock=0.5))
    with db.session() as session:
        session.execute(text("CREATE TABLE t (who TEXT UNIQUE)"))
        session.execute(text("INSERT INTO t VALUES ('taken')"))
    with pytest.raises(Exception, match="UNIQUE"):
        with db.session() as session:
            session.execute(text("INSERT INTO t VALUES ('taken')"))
    with pytest.raises(RuntimeError):
        with db.session() as session:
            session.execute(text("INSERT INTO t VALUES ('rolled back')"))
            raise RuntimeError("the handler failed")
    started = time.monotonic()
    with db.session() as session:  # not kept waiting for a turn nobody gave back
        session.execute(text("INSERT INTO t VALUES ('next')"))
    assert time.monotonic() - started < 0.4
    with db.read_session() as session:
        rows = list(session.execute(text("SELECT who FROM t ORDER BY rowid")).scalars())
    db.dispose()
    assert rows == ["taken", "next"]


def test_a_sqlite_write_dropped_mid_transaction_by_its_thread_gives_its_turn_back(
    tmp_path: Path,
) -> None:
    """A session a thread abandons without commit or rollback is handed back to the pool by
    whichever thread collects it; its turn must come back with it, or no write would go
    through again."""
    import gc

    db = Database(f"sqlite:///{tmp_path / 'dropped.sqlite3'}", timeouts=Timeouts(lock=0.5))
    with db.session() as session:
        session.execute(text("CREATE TABLE t (who TEXT)"))

    def abandon() -> None:
        session = db._sessions()
        session.execute(text("INSERT INTO t VALUES ('abandoned')"))  # BEGIN IMMEDIATE taken

    thread = threading.Thread(target=abandon)
    thread.start()
    thread.join(5)
    gc.collect()  # this thread hands the abandoned connection back
    with db.session() as session:
        session.execute(text("INSERT INTO t VALUES ('next')"))
    with db.read_session() as session:
        rows = list(session.execute(text("SELECT who FROM t ORDER BY rowid")).scalars())
    db.dispose()
    assert rows == ["next"]


def test_a_sqlite_writer_gets_its_turn_only_once_the_last_write_is_committed(
    tmp_path: Path,
) -> None:
    """The turn was handed on just before the COMMIT: the next writer's BEGIN IMMEDIATE found
    the lock still held and slept in SQLite's busy handler (1 ms and more, never less), while
    the turn it held kept everyone else waiting too. Under 10 clients `/timeline <text>` spent
    half its write turns asleep (the ack benchmark). Here the busy handler is off, so a writer
    that finds the lock held fails instead of sleeping: none may."""
    from sqlalchemy import event

    from storage.write_queue import answering

    db = Database(f"sqlite:///{tmp_path / 'turns.sqlite3'}")

    @event.listens_for(db.engine, "connect")
    def _no_busy_handler(dbapi_connection: object, _record: object) -> None:
        dbapi_connection.execute("PRAGMA busy_timeout=0")  # type: ignore[attr-defined]

    with db.session() as session:
        session.execute(text("CREATE TABLE t (who TEXT)"))
    failures: list[str] = []

    def write(who: str) -> None:
        with answering():  # requests: each hands its turn straight to the next (sleep(0))
            for n in range(150):
                try:
                    with db.session() as session:
                        session.execute(text("INSERT INTO t VALUES (:who)"), {"who": f"{who}{n}"})
                except OperationalError as error:
                    failures.append(str(error.orig))

    writers = [threading.Thread(target=write, args=(who,)) for who in "abcd"]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join(30)
    with db.read_session() as session:
        rows = session.execute(text("SELECT count(*) FROM t")).scalar()
    db.dispose()
    assert failures == []
    assert rows == 600


def test_a_sqlite_commit_that_fails_is_reported_not_saved_and_gives_its_turn_back(
    tmp_path: Path,
) -> None:
    """The turn's end runs the COMMIT itself (see above): a COMMIT that SQLite refuses (here a
    deferred foreign key) must fail the write as SQLAlchemy would, not pass for saved."""
    from sqlalchemy.exc import IntegrityError

    db = Database(f"sqlite:///{tmp_path / 'refused.sqlite3'}", timeouts=Timeouts(lock=0.5))
    with db.session() as session:
        session.execute(text("CREATE TABLE parent (id INTEGER PRIMARY KEY)"))
        session.execute(
            text(
                "CREATE TABLE child (parent_id INTEGER REFERENCES parent(id) "
                "DEFERRABLE INITIALLY DEFERRED)"
            )
        )
    with pytest.raises(IntegrityError, match="FOREIGN KEY"):
        with db.session() as session:
            session.execute(text("INSERT INTO child VALUES (42)"))  # refused only at COMMIT
    started = time.monotonic()
    with db.session() as session:  # the turn came back at once
        session.execute(text("INSERT INTO parent VALUES (1)"))
        session.execute(text("INSERT INTO child VALUES (1)"))
    assert time.monotonic() - started < 0.4
    with db.read_session() as session:
        rows = list(session.execute(text("SELECT parent_id FROM child")).scalars())
    db.dispose()
    assert rows == [1]

"""Engine and session setup for SQLite (embedded default) and PostgreSQL (production)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger("postmortem_bot.db")


class Database:
    """One engine and a session factory. `session()` commits on success, rolls back on error."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.engine: Engine = _create_engine(url, echo=echo)
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
    def session(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    def dispose(self) -> None:
        self.engine.dispose()


def _create_engine(url: str, *, echo: bool) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": 30},
        )
        _configure_sqlite(engine)
        return engine
    return create_engine(url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=10)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event decide how transactions start (see below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")  # durable in WAL mode, far fewer fsyncs
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Take the write lock up front: a deferred transaction that later writes can fail with
        # "database is locked" when two threads upgrade their locks at once.
        conn.exec_driver_sql("BEGIN IMMEDIATE")

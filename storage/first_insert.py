"""Recording a key the first time it is seen, in one statement: INSERT ... ON CONFLICT (key)
DO NOTHING RETURNING key. Two replicas racing on the same key cannot both win, and nothing
needs a savepoint.

Such claims sit on the path of every Slack request (replays, event ids), so the statement is
built once per dialect and run on the session's connection: building it and the ORM's handling
of it took more CPU than the database took to answer.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Session
from sqlalchemy.sql import Executable


class FirstInsert:
    """`FirstInsert(Model, "key")(session, {"key": ..., ...})`: True the first time the key is
    inserted, False when it was there already. Runs in the caller's transaction."""

    def __init__(self, model: type[DeclarativeBase], key: str) -> None:
        self._table, self._key = cast(Table, model.__table__), key
        self._statements: dict[str, Executable] = {}

    @property
    def key(self) -> str:
        return self._key

    def __call__(self, session: Session, values: dict[str, Any]) -> bool:
        statement = self.statement(session.get_bind().dialect.name)
        if statement is None:
            return self._with_savepoint(session, values)
        return session.connection().execute(statement, values).first() is not None

    def statement(self, dialect: str) -> Executable | None:
        """The one-statement claim on `dialect` (it returns the keys it inserted; executed
        with many rows, it claims them all at once), or None where there is none."""
        statement = self._statements.get(dialect)
        return statement if statement is not None else self._build(dialect)

    def _build(self, dialect: str) -> Executable | None:
        key = self._table.c[self._key]
        statement: Executable
        if dialect == "postgresql":
            statement = (
                postgresql_insert(self._table)
                .on_conflict_do_nothing(index_elements=[key])
                .returning(key)
            )
        elif dialect == "sqlite":
            statement = (
                sqlite_insert(self._table)
                .on_conflict_do_nothing(index_elements=[key])
                .returning(key)
            )
        else:
            return None
        self._statements[dialect] = statement
        return statement

    def _with_savepoint(self, session: Session, values: dict[str, Any]) -> bool:
        """Any other database: a plain insert in a savepoint, its key conflict caught."""
        try:
            with session.begin_nested():
                session.connection().execute(self._table.insert(), values)
            return True
        except IntegrityError:
            return False

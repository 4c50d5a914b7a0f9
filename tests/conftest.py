"""Shared fixtures: databases (SQLite and PostgreSQL), the Slack fake, the bot over real HTTP."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from psycopg.errors import DeadlockDetected
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

if TYPE_CHECKING:
    from tests.bench import Bench
    from tests.processes import Launcher

from sandbox.slack.fake import FakeSlack
from storage.db import Database, Timeouts
from storage.migrate import upgrade

POSTGRES_URL = os.environ.get("TEST_DATABASE_URL", "")
SHARED = Path(__file__).resolve().parents[1].parent / "shared"
PG_SKIP = (
    "PostgreSQL case skipped: set TEST_DATABASE_URL (for example "
    "postgresql+psycopg://postgres@127.0.0.1:5432/test) to run it against PostgreSQL too"
)


def shared_file(relative: str) -> Path:
    """A file from ../shared (present in the workplace and CI, absent on a user's clone)."""
    path = SHARED / relative
    if not path.exists():
        pytest.skip(f"{relative} is not available here (it lives in ../shared, outside the repo)")
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'bot.sqlite3'}"
        return
    if not POSTGRES_URL:
        pytest.skip(PG_SKIP)
    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        _drop_schema(admin, schema)
        admin.dispose()


def _drop_schema(admin: Engine, schema: str) -> None:
    """DROP SCHEMA, again if it deadlocks: a bot process the test killed may still have a
    statement running on the server, which takes its locks in another order (PostgreSQL
    aborts one of the two, and the other then finishes)."""
    for attempt in range(10):
        try:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            return
        except OperationalError as error:
            if not isinstance(error.orig, DeadlockDetected) or attempt == 9:
                raise
            time.sleep(0.2)


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    # On a loaded CI machine (xdist workers, Chromium, PostgreSQL checkpoints on a slow disk)
    # the production bounds read a slow machine as a sick database: a bot thread starved of
    # CPU holds SQLite's write lock past 2 s, or the 1 s health probe goes unanswered and the
    # bot gives up on its connections, or a statement or a wait for a pooled connection runs
    # past its bound and the web view answers 503. The tests of those bounds (test_availability,
    # test_database_bounds, test_crash) build their databases with the production defaults.
    database = Database(
        database_url, timeouts=Timeouts(lock=10.0, probe=5.0, statement=15.0, pool=10.0)
    )
    upgrade(database)
    yield database
    database.dispose()


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    from tests.bench import populate

    with FakeSlack() as fake:
        populate(fake)
        yield fake


@pytest.fixture
def launcher(tmp_path: Path) -> Iterator[Launcher]:
    """Starts `python -m bot run` processes (tests/processes.py) and kills what is left."""
    from tests.processes import Launcher

    started = Launcher(tmp_path)
    try:
        yield started
    finally:
        started.close()


@pytest.fixture
def bench(slack: FakeSlack, db: Database) -> Iterator[Bench]:
    from tests.bench import running_bench

    with running_bench(slack, db) as running:
        yield running

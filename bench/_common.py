"""What the benchmarks share: a throwaway database (SQLite file or PostgreSQL schema)."""

from __future__ import annotations

import statistics
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from storage.db import Database  # noqa: E402
from storage.migrate import upgrade  # noqa: E402


@contextmanager
def temporary_database(url: str | None) -> Iterator[Database]:
    """A migrated, empty database: a temp SQLite file, or a fresh schema dropped afterwards."""
    if not url:
        with tempfile.TemporaryDirectory(prefix="pm-bench-") as tmp:
            db = Database(f"sqlite:///{Path(tmp) / 'bench.sqlite3'}")
            upgrade(db)
            try:
                yield db
            finally:
                db.dispose()
        return
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    scoped = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    db = Database(scoped.render_as_string(hide_password=False))
    try:
        upgrade(db)
        yield db
    finally:
        db.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def label(url: str | None) -> str:
    return "SQLite" if not url else make_url(url).get_backend_name()

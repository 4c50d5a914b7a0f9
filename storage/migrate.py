"""Apply Alembic migrations programmatically (`postmortem-bot db upgrade`, and at `run`)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from storage.db import Database

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Any fixed 64-bit number: replicas starting together take turns to migrate.
_MIGRATION_LOCK_KEY = 0x706D2D626F74


# Dialect-specific objects that exist only in migrations (not in the models): SQLite's FTS5
# table (and its shadow tables), PostgreSQL's expression index for full-text search (before
# 0017), and its stored tsvector column and index (0017).
_MIGRATION_ONLY_PREFIXES = (
    "incident_search_fts",
    "ix_incident_search_docs_tsv",
    "search_vector",
    "ix_incident_search_docs_vector",
)


# Tables owned by slack-sdk's OAuth stores (multi-workspace install): created by migration 0009,
# defined by slack-sdk rather than storage.models; tests compare them with slack-sdk's own.
SLACK_OAUTH_TABLES = frozenset({"slack_bots", "slack_installations", "slack_oauth_states"})


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic filter: leave migration-only objects and slack-sdk's tables out of model
    comparisons."""
    if type_ == "table" and name in SLACK_OAUTH_TABLES:
        return False
    return not (name or "").startswith(_MIGRATION_ONLY_PREFIXES)


def include_slack_oauth_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic filter: only slack-sdk's tables (to compare them with slack-sdk's metadata)."""
    return type_ != "table" or name in SLACK_OAUTH_TABLES


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def upgrade(db: Database, revision: str = "head") -> None:
    config = alembic_config()
    with db.engine.begin() as connection, db.unbounded(connection):
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK_KEY})
            # Our turn: DDL waits for its table locks no longer than DATABASE_LOCK_TIMEOUT_SECONDS,
            # or a migration queued behind a long transaction would block every query on it.
            connection.execute(text("SET LOCAL lock_timeout TO DEFAULT"))
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def current_revision(db: Database) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()

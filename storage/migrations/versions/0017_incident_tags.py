"""Incident tags, and a stemming full-text index on SQLite

* `incident_tags`: free tags per incident (`/incident tag database,payments`), used by
  `/incident list tag:x`, search and recurrence (bot.knowledge).
* SQLite's FTS5 mirror `incident_search_fts` is rebuilt with the Porter stemmer, so that
  "timeouts" finds "timeout" as it does on PostgreSQL (`to_tsvector('english', …)`); its rows
  are copied back from `incident_search_docs`, the table both dialects keep.
* PostgreSQL keeps each document's `tsvector` in a stored generated column,
  `incident_search_docs.search_vector`, GIN-indexed (`ix_incident_search_docs_vector`), in
  place of the GIN index on the expression: ranking thousands of matches (`ts_rank`) then
  reads the vectors instead of parsing every document again.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30 14:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _rebuild_sqlite_fts(tokenize: str) -> None:
    op.execute("DROP TABLE IF EXISTS incident_search_fts")
    op.execute(
        "CREATE VIRTUAL TABLE incident_search_fts USING fts5("
        f"document, team_id UNINDEXED{tokenize})"
    )
    op.execute(
        "INSERT INTO incident_search_fts (rowid, document, team_id) "
        "SELECT incident_id, document, team_id FROM incident_search_docs"
    )


def upgrade() -> None:
    op.create_table(
        "incident_tags",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("tag", sa.String(length=64), nullable=False),
        sa.Column("added_by", sa.String(length=32), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_incident_tags_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_tags")),
        sa.UniqueConstraint("incident_id", "tag", name=op.f("uq_incident_tags_incident_id_tag")),
    )
    with op.batch_alter_table("incident_tags", schema=None) as batch_op:
        batch_op.create_index("ix_incident_tags_team_tag", ["team_id", "tag"], unique=False)
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        _rebuild_sqlite_fts(", tokenize = 'porter unicode61 remove_diacritics 2'")
    elif dialect == "postgresql":
        op.execute(
            "ALTER TABLE incident_search_docs ADD COLUMN search_vector tsvector "
            "GENERATED ALWAYS AS (to_tsvector('english', document)) STORED"
        )
        op.execute(
            "CREATE INDEX ix_incident_search_docs_vector ON incident_search_docs "
            "USING gin (search_vector)"
        )
        op.execute("DROP INDEX IF EXISTS ix_incident_search_docs_tsv")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        _rebuild_sqlite_fts("")
    elif dialect == "postgresql":
        op.execute(
            "CREATE INDEX ix_incident_search_docs_tsv ON incident_search_docs "
            "USING gin (to_tsvector('english', document))"
        )
        op.execute("DROP INDEX IF EXISTS ix_incident_search_docs_vector")
        op.execute("ALTER TABLE incident_search_docs DROP COLUMN search_vector")
    with op.batch_alter_table("incident_tags", schema=None) as batch_op:
        batch_op.drop_index("ix_incident_tags_team_tag")
    op.drop_table("incident_tags")

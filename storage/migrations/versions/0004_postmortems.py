"""postmortems

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 10:36:55.635176
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "incident_search_docs",
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_incident_search_docs_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("incident_id", name=op.f("pk_incident_search_docs")),
    )
    with op.batch_alter_table("incident_search_docs", schema=None) as batch_op:
        batch_op.create_index("ix_incident_search_docs_team", ["team_id"], unique=False)

    op.create_table(
        "postmortems",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "draft",
                "in_review",
                "completed",
                name="postmortem_status",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("owner_id", sa.String(length=32), nullable=False),
        sa.Column("template", sa.String(length=100), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("canvas_id", sa.String(length=64), nullable=True),
        sa.Column("file_id", sa.String(length=64), nullable=True),
        sa.Column("document_url", sa.Text(), nullable=True),
        sa.Column("attached", sa.Boolean(), nullable=False),
        sa.Column("message_channel_id", sa.String(length=32), nullable=True),
        sa.Column("message_ts", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status_changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_postmortems_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_postmortems")),
        sa.UniqueConstraint("incident_id", name=op.f("uq_postmortems_incident_id")),
    )
    with op.batch_alter_table("postmortems", schema=None) as batch_op:
        batch_op.create_index(
            "ix_postmortems_team_owner_status", ["team_id", "owner_id", "status"], unique=False
        )

    op.create_table(
        "postmortem_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("postmortem_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("template", sa.String(length=100), nullable=False),
        sa.Column("markdown", sa.Text(), nullable=False),
        sa.Column("generated_by", sa.String(length=32), nullable=False),
        sa.Column("generated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["postmortem_id"],
            ["postmortems.id"],
            name=op.f("fk_postmortem_versions_postmortem_id_postmortems"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_postmortem_versions")),
        sa.UniqueConstraint(
            "postmortem_id", "version", name=op.f("uq_postmortem_versions_postmortem_id_version")
        ),
    )

    # Full-text search for recurrence (bot.postmortem.recurrence): one object per dialect.
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(
            "CREATE INDEX ix_incident_search_docs_tsv ON incident_search_docs "
            "USING gin (to_tsvector('english', document))"
        )
    elif dialect == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE incident_search_fts USING fts5(document, team_id UNINDEXED)"
        )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_incident_search_docs_tsv")
    elif dialect == "sqlite":
        op.execute("DROP TABLE IF EXISTS incident_search_fts")
    op.drop_table("postmortem_versions")
    with op.batch_alter_table("postmortems", schema=None) as batch_op:
        batch_op.drop_index("ix_postmortems_team_owner_status")

    op.drop_table("postmortems")
    with op.batch_alter_table("incident_search_docs", schema=None) as batch_op:
        batch_op.drop_index("ix_incident_search_docs_team")

    op.drop_table("incident_search_docs")

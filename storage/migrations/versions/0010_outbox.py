"""outbox: side effects recorded with the change that causes them, done by workers

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 10:46:18.232113
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "outbox_jobs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("lane", sa.String(length=16), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=True),
        sa.Column("ordering_key", sa.String(length=200), nullable=True),
        sa.Column(
            "state",
            sa.Enum(
                "pending",
                "done",
                "dead",
                name="outbox_state",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("leased_by", sa.String(length=128), nullable=True),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_jobs")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_outbox_jobs_dedupe_key")),
    )
    with op.batch_alter_table("outbox_jobs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_outbox_jobs_due",
            ["lane", "next_attempt_at"],
            unique=False,
            postgresql_where=sa.text("state = 'pending'"),
            sqlite_where=sa.text("state = 'pending'"),
        )
        batch_op.create_index("ix_outbox_jobs_finished_at", ["finished_at"], unique=False)
        batch_op.create_index(
            "ix_outbox_jobs_pending_order",
            ["ordering_key", "id"],
            unique=False,
            postgresql_where=sa.text("state = 'pending'"),
            sqlite_where=sa.text("state = 'pending'"),
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox_jobs", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_outbox_jobs_pending_order",
            postgresql_where=sa.text("state = 'pending'"),
            sqlite_where=sa.text("state = 'pending'"),
        )
        batch_op.drop_index("ix_outbox_jobs_finished_at")
        batch_op.drop_index(
            "ix_outbox_jobs_due",
            postgresql_where=sa.text("state = 'pending'"),
            sqlite_where=sa.text("state = 'pending'"),
        )

    op.drop_table("outbox_jobs")

"""capture gaps: what live capture did not see (lead-up, downtime), and replica heartbeats

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 11:08:20.498163
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "capture_gaps",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("channel_id", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "pending",
                "done",
                "failed",
                name="capture_gap_state",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("cursor", sa.String(length=255), nullable=True),
        sa.Column("history_done", sa.Boolean(), nullable=False),
        sa.Column("threads", sa.JSON(), nullable=False),
        sa.Column("fetched", sa.Integer(), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_capture_gaps")),
        sa.UniqueConstraint(
            "team_id",
            "channel_id",
            "reason",
            "start_at",
            name=op.f("uq_capture_gaps_team_id_channel_id_reason_start_at"),
        ),
    )
    with op.batch_alter_table("capture_gaps", schema=None) as batch_op:
        batch_op.create_index(
            "ix_capture_gaps_channel_state", ["team_id", "channel_id", "state"], unique=False
        )

    op.create_table(
        "capture_heartbeats",
        sa.Column("worker", sa.String(length=128), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("worker", name=op.f("pk_capture_heartbeats")),
    )
    with op.batch_alter_table("capture_heartbeats", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_capture_heartbeats_last_seen"), ["last_seen"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("capture_heartbeats", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_capture_heartbeats_last_seen"))

    op.drop_table("capture_heartbeats")
    with op.batch_alter_table("capture_gaps", schema=None) as batch_op:
        batch_op.drop_index("ix_capture_gaps_channel_state")

    op.drop_table("capture_gaps")

"""follow-ups and their change history

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 10:24:03.875020
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "follow_ups",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("owner_id", sa.String(length=32), nullable=True),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column(
            "priority",
            sa.Enum(
                "p1",
                "p2",
                "p3",
                "p4",
                name="follow_up_priority",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "open",
                "in_progress",
                "done",
                "wont_do",
                name="follow_up_status",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("created_by", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source_channel_id", sa.String(length=32), nullable=True),
        sa.Column("source_ts", sa.String(length=32), nullable=True),
        sa.Column("permalink", sa.Text(), nullable=True),
        sa.Column("announcement_channel_id", sa.String(length=32), nullable=True),
        sa.Column("announcement_ts", sa.String(length=32), nullable=True),
        sa.Column("announcement_permalink", sa.Text(), nullable=True),
        sa.Column("snoozed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("request_key", sa.String(length=128), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_follow_ups_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_follow_ups")),
        sa.UniqueConstraint("incident_id", "number", name=op.f("uq_follow_ups_incident_id_number")),
        sa.UniqueConstraint("request_key", name=op.f("uq_follow_ups_request_key")),
    )
    with op.batch_alter_table("follow_ups", schema=None) as batch_op:
        batch_op.create_index(
            "ix_follow_ups_owner_status_due",
            ["team_id", "owner_id", "status", "due_date"],
            unique=False,
        )
        batch_op.create_index(
            "ix_follow_ups_team_status_due", ["team_id", "status", "due_date"], unique=False
        )

    op.create_table(
        "follow_up_changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("follow_up_id", sa.Integer(), nullable=False),
        sa.Column("changed_by", sa.String(length=32), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "field",
            sa.Enum(
                "created",
                "status",
                "owner",
                "due_date",
                "priority",
                "snoozed_until",
                name="follow_up_field",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("old_value", sa.Text(), nullable=True),
        sa.Column("new_value", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["follow_up_id"],
            ["follow_ups.id"],
            name=op.f("fk_follow_up_changes_follow_up_id_follow_ups"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_follow_up_changes")),
    )
    with op.batch_alter_table("follow_up_changes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_follow_up_changes_follow_up", ["follow_up_id", "changed_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("follow_up_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_follow_up_changes_follow_up")

    op.drop_table("follow_up_changes")
    with op.batch_alter_table("follow_ups", schema=None) as batch_op:
        batch_op.drop_index("ix_follow_ups_team_status_due")
        batch_op.drop_index("ix_follow_ups_owner_status_due")

    op.drop_table("follow_ups")

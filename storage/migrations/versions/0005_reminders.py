"""reminders

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 11:10:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN_FOLLOWUP = sa.text("status IN ('open', 'in_progress')")


def upgrade() -> None:
    op.create_table(
        "reminder_claims",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column(
            "item_kind",
            sa.Enum(
                "followup",
                "postmortem",
                name="reminder_item",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column(
            "reminder_kind",
            sa.Enum(
                "overdue",
                "due_soon",
                "draft_stale",
                "review_stale",
                name="reminder_kind",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("recipient_id", sa.String(length=32), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "claimed",
                "sent",
                name="reminder_claim_state",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminder_claims")),
        sa.UniqueConstraint(
            "item_kind",
            "item_id",
            "reminder_kind",
            "day",
            name=op.f("uq_reminder_claims_item_kind_item_id_reminder_kind_day"),
        ),
    )
    with op.batch_alter_table("reminder_claims", schema=None) as batch_op:
        batch_op.create_index("ix_reminder_claims_day", ["day"], unique=False)

    with op.batch_alter_table("follow_ups", schema=None) as batch_op:
        batch_op.create_index(
            "ix_follow_ups_open_due",
            ["due_date"],
            unique=False,
            postgresql_where=OPEN_FOLLOWUP,
            sqlite_where=OPEN_FOLLOWUP,
        )
    with op.batch_alter_table("postmortems", schema=None) as batch_op:
        batch_op.create_index(
            "ix_postmortems_status_changed", ["status", "status_changed_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("postmortems", schema=None) as batch_op:
        batch_op.drop_index("ix_postmortems_status_changed")
    with op.batch_alter_table("follow_ups", schema=None) as batch_op:
        batch_op.drop_index("ix_follow_ups_open_due")
    with op.batch_alter_table("reminder_claims", schema=None) as batch_op:
        batch_op.drop_index("ix_reminder_claims_day")
    op.drop_table("reminder_claims")

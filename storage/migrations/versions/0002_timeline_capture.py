"""timeline capture

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 10:13:29.532056
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "captured_messages",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("channel_id", sa.String(length=32), nullable=False),
        sa.Column("ts", sa.String(length=32), nullable=False),
        sa.Column("thread_ts", sa.String(length=32), nullable=True),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=True),
        sa.Column("bot_id", sa.String(length=32), nullable=True),
        sa.Column("username", sa.String(length=255), nullable=True),
        sa.Column("subtype", sa.String(length=64), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("file_names", sa.JSON(), nullable=False),
        sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("captured_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_captured_messages")),
        sa.UniqueConstraint(
            "team_id", "channel_id", "ts", name=op.f("uq_captured_messages_team_id_channel_id_ts")
        ),
    )
    with op.batch_alter_table("captured_messages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_captured_messages_channel_time",
            ["team_id", "channel_id", "posted_at"],
            unique=False,
        )

    op.create_table(
        "processed_events",
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_processed_events")),
    )
    with op.batch_alter_table("processed_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_processed_events_received_at"), ["received_at"], unique=False
        )

    op.create_table(
        "slack_users",
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("real_name", sa.String(length=255), nullable=True),
        sa.Column("tz", sa.String(length=64), nullable=False),
        sa.Column("is_bot", sa.Boolean(), nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("team_id", "user_id", name=op.f("pk_slack_users")),
    )
    with op.batch_alter_table("timeline_events", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "source",
                sa.Enum(
                    "auto",
                    "command",
                    "shortcut",
                    "reaction",
                    name="event_source",
                    native_enum=False,
                    create_constraint=True,
                    length=16,
                ),
                server_default="auto",
                nullable=False,
            )
        )
        batch_op.add_column(sa.Column("added_by", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("source_channel_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("source_ts", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("permalink", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("edited_by", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f("uq_timeline_events_incident_id_source_channel_id_source_ts"),
            ["incident_id", "source_channel_id", "source_ts"],
        )


def downgrade() -> None:
    with op.batch_alter_table("timeline_events", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("uq_timeline_events_incident_id_source_channel_id_source_ts"), type_="unique"
        )
        batch_op.drop_column("edited_at")
        batch_op.drop_column("edited_by")
        batch_op.drop_column("permalink")
        batch_op.drop_column("source_ts")
        batch_op.drop_column("source_channel_id")
        batch_op.drop_column("added_by")
        batch_op.drop_column("source")

    op.drop_table("slack_users")
    with op.batch_alter_table("processed_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_processed_events_received_at"))

    op.drop_table("processed_events")
    with op.batch_alter_table("captured_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_captured_messages_channel_time")

    op.drop_table("captured_messages")

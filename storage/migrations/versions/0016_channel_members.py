"""Channel members, and incidents in channels shared with another organisation

* `channel_members`: who is in each incident channel (seeded from conversations.members, kept
  by member_joined_channel / member_left_channel / group_left / channel_left): a private
  incident's content is shown only to them (bot.core.visibility).
* `incidents.channel_shared`: the channel is shared with another organisation (Slack Connect,
  `channel_shared`): no other incident's content is written there.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30 14:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "channel_members",
        sa.Column("team_id", sa.String(32), nullable=False),
        sa.Column("channel_id", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "team_id", "channel_id", "user_id", name=op.f("pk_channel_members")
        ),
    )
    # A plain ADD COLUMN (not a batch copy of the table: on SQLite dropping the old copy of
    # `incidents` would cascade to every row that references it).
    op.add_column(
        "incidents",
        sa.Column("channel_shared", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )


def downgrade() -> None:
    op.execute("ALTER TABLE incidents DROP COLUMN channel_shared")  # SQLite 3.35+, PostgreSQL
    op.drop_table("channel_members")

"""request replays: signed Slack requests already taken in, so a replay is processed once

One row per signed HTTP request (the SHA-256 of its signature and timestamp), kept until that
timestamp is too old to pass verification; hourly housekeeping deletes the rest. See
bot.slack.request_replays.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 11:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "seen_slack_requests",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_seen_slack_requests")),
    )
    with op.batch_alter_table("seen_slack_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_seen_slack_requests_expires_at"), ["expires_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("seen_slack_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_seen_slack_requests_expires_at"))
    op.drop_table("seen_slack_requests")

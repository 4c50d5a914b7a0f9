"""jira: follow-ups' Jira issues (export state, key, what sync last saw), webhook
deliveries already handled, and job claims (one replica runs a scheduled job per slot)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22 12:00:44.604393
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "jira_webhook_deliveries",
        sa.Column("identifier", sa.String(length=128), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("identifier", name=op.f("pk_jira_webhook_deliveries")),
    )
    with op.batch_alter_table("jira_webhook_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_jira_webhook_deliveries_received_at"), ["received_at"], unique=False
        )

    op.create_table(
        "job_claims",
        sa.Column("job", sa.String(length=64), nullable=False),
        sa.Column("slot", sa.String(length=64), nullable=False),
        sa.Column("claimed_by", sa.String(length=128), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("job", "slot", name=op.f("pk_job_claims")),
    )
    with op.batch_alter_table("job_claims", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_job_claims_claimed_at"), ["claimed_at"], unique=False)

    op.create_table(
        "jira_links",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("follow_up_id", sa.Integer(), nullable=False),
        sa.Column("marker", sa.String(length=128), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "pending",
                "exported",
                "failed",
                name="jira_export_state",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("requested_by", sa.String(length=32), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("issue_key", sa.String(length=64), nullable=True),
        sa.Column("issue_url", sa.Text(), nullable=True),
        sa.Column("assignee_note", sa.Text(), nullable=True),
        sa.Column("exported_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status_name", sa.String(length=255), nullable=True),
        sa.Column("status_category", sa.String(length=16), nullable=True),
        sa.Column("seen_due", sa.String(length=10), nullable=True),
        sa.Column("seen_assignee", sa.String(length=128), nullable=True),
        sa.Column("jira_updated", sa.String(length=40), nullable=True),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("push_status", sa.String(length=16), nullable=True),
        sa.Column("push_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["follow_up_id"],
            ["follow_ups.id"],
            name=op.f("fk_jira_links_follow_up_id_follow_ups"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jira_links")),
        sa.UniqueConstraint("follow_up_id", name=op.f("uq_jira_links_follow_up_id")),
        sa.UniqueConstraint("issue_key", name=op.f("uq_jira_links_issue_key")),
        sa.UniqueConstraint("marker", name=op.f("uq_jira_links_marker")),
    )
    with op.batch_alter_table("jira_links", schema=None) as batch_op:
        batch_op.create_index(
            "ix_jira_links_state_next", ["state", "next_attempt_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("jira_links", schema=None) as batch_op:
        batch_op.drop_index("ix_jira_links_state_next")

    op.drop_table("jira_links")
    with op.batch_alter_table("job_claims", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_job_claims_claimed_at"))

    op.drop_table("job_claims")
    with op.batch_alter_table("jira_webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_jira_webhook_deliveries_received_at"))

    op.drop_table("jira_webhook_deliveries")

"""weekly digest: a reminder claim item and kind for it

The claim enums are VARCHAR + CHECK: the CHECK constraints are replaced to allow the new
values (`reminder_item` 'digest', `reminder_kind` 'weekly_digest').

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 11:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ITEMS = ("followup", "postmortem")
KINDS = ("overdue", "due_soon", "draft_stale", "review_stale")


def _enum(values: Sequence[str], name: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=16)


def _alter(items: Sequence[str], kinds: Sequence[str], old: tuple[Sequence[str], ...]) -> None:
    with op.batch_alter_table("reminder_claims", schema=None) as batch_op:
        batch_op.alter_column(
            "item_kind",
            existing_type=_enum(old[0], "reminder_item"),
            type_=_enum(items, "reminder_item"),
            existing_nullable=False,
        )
        batch_op.alter_column(
            "reminder_kind",
            existing_type=_enum(old[1], "reminder_kind"),
            type_=_enum(kinds, "reminder_kind"),
            existing_nullable=False,
        )


def upgrade() -> None:
    _alter((*ITEMS, "digest"), (*KINDS, "weekly_digest"), (ITEMS, KINDS))


def downgrade() -> None:
    op.execute("DELETE FROM reminder_claims WHERE item_kind = 'digest'")
    _alter(ITEMS, KINDS, ((*ITEMS, "digest"), (*KINDS, "weekly_digest")))

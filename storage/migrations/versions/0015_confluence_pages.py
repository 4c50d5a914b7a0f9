"""Confluence pages: the page a postmortem is published to, and the version it holds

* `postmortems.confluence_page_id`: the incident's one Confluence page (found again by it
  before any search or create).
* `postmortems.confluence_version`: the postmortem version last written to that page, so a
  regeneration knows what the bot wrote there (sections it wrote that people removed stay
  removed).
* `postmortem_versions.marked`: the rendering with its `{bot}`/`{people}` markers, so that a
  version published later, by its own job, still knows who owns each section.

Revision ID: 0015
Revises: 0013
Create Date: 2026-11-30 14:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("postmortems", schema=None) as batch_op:
        batch_op.add_column(sa.Column("confluence_page_id", sa.String(64), nullable=True))
        batch_op.add_column(sa.Column("confluence_version", sa.Integer(), nullable=True))
    with op.batch_alter_table("postmortem_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("marked", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("postmortem_versions", schema=None) as batch_op:
        batch_op.drop_column("marked")
    with op.batch_alter_table("postmortems", schema=None) as batch_op:
        batch_op.drop_column("confluence_version")
        batch_op.drop_column("confluence_page_id")

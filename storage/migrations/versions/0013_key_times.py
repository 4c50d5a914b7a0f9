"""key times: the moments people set, the key time a status event records, follow-up events

* `incident_key_times`: a key time (impact started, detected, mitigated, resolved, impact
  ended) set by a person, with who, when and how; the rest is derived from what was captured.
* `timeline_events.key_time`: the key time an automatic event records ("Incident declared",
  "Status changed to mitigated/resolved"), filled in for existing events from their text.
* `timeline_events.kind` gains 'followup'; existing "Follow-up INC-n-Fm created: ..." events,
  recorded as 'status' until now, become 'followup'.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS = ("note", "detection", "escalation", "mitigation", "decision", "status", "message")
KEY_TIMES = ("impact_started", "detected", "declared", "mitigated", "resolved", "impact_ended")


def _enum(values: Sequence[str], name: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=16)


def _event_kinds(new: Sequence[str], old: Sequence[str]) -> None:
    with op.batch_alter_table("timeline_events", schema=None) as batch_op:
        batch_op.alter_column(
            "kind",
            existing_type=_enum(old, "event_kind"),
            type_=_enum(new, "event_kind"),
            existing_nullable=False,
        )


def upgrade() -> None:
    op.create_table(
        "incident_key_times",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("kind", _enum(KEY_TIMES, "key_time"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("set_by", sa.String(length=32), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("via", _enum(("command", "modal", "event_edit"), "key_time_via"), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_incident_key_times_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_key_times")),
        sa.UniqueConstraint(
            "incident_id", "kind", name=op.f("uq_incident_key_times_incident_id_kind")
        ),
    )
    with op.batch_alter_table("timeline_events", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("key_time", _enum(KEY_TIMES, "event_key_time"), nullable=True)
        )
    _event_kinds((*KINDS, "followup"), KINDS)
    op.execute(
        "UPDATE timeline_events SET kind = 'followup' "
        "WHERE kind = 'status' AND text LIKE 'Follow-up %created:%'"
    )
    for key_time, pattern in (
        ("declared", "Incident declared (%"),
        ("mitigated", "Status changed to mitigated"),
        ("resolved", "Status changed to resolved"),
    ):
        op.execute(
            f"UPDATE timeline_events SET key_time = '{key_time}' "
            f"WHERE kind = 'status' AND source = 'auto' AND text LIKE '{pattern}'"
        )


def downgrade() -> None:
    op.execute("UPDATE timeline_events SET kind = 'status' WHERE kind = 'followup'")
    _event_kinds(KINDS, (*KINDS, "followup"))
    with op.batch_alter_table("timeline_events", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_timeline_events_event_key_time"), type_="check")
        batch_op.drop_column("key_time")
    op.drop_table("incident_key_times")

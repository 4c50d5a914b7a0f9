"""What the buttons of a reminder DM do to a follow-up (through bot.followups, so the change
is recorded like any other and the channel announcement can be refreshed)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.followups.service import Change, change_status, snooze
from storage.models import FollowUp, FollowUpChange, FollowUpField, FollowUpStatus


def mark_done(session: Session, followup: FollowUp, *, by: str, now: datetime) -> Change:
    return change_status(session, followup, FollowUpStatus.DONE, by=by, now=now)


def snooze_for(
    session: Session, followup: FollowUp, period: timedelta, *, by: str, now: datetime
) -> Change:
    """Snooze for `period`: bot.followups.snooze (one day), lengthened when asked for more."""
    change = snooze(session, followup, by=by, now=now)
    until = now + period
    if followup.snoozed_until == until:
        return change
    followup.snoozed_until = until
    recorded = session.scalars(
        select(FollowUpChange)
        .where(
            FollowUpChange.follow_up_id == followup.id,
            FollowUpChange.field == FollowUpField.SNOOZED_UNTIL,
        )
        .order_by(FollowUpChange.id.desc())
        .limit(1)
    ).one()
    recorded.new_value = until.isoformat()
    session.flush()
    return replace(change, after=until.isoformat())

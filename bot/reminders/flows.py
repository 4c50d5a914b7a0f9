"""What the buttons of a reminder DM do: change the follow-up like any other change (announced
in its channel, moved in Jira, as outbox jobs), and show in the DM what was done (a job too)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from slack_sdk.errors import SlackApiError
from sqlalchemy.orm import Session

from bot.core import outbox
from bot.core.outbox_worker import JobRun, JobSpec
from bot.followups.flows import enqueue_change, followup_id
from bot.followups.service import get_followup
from bot.reminders import blocks
from bot.reminders.service import mark_done, snooze_for
from bot.services import Services
from bot.slack.origin import Origin
from bot.slack.posting import client_or_fail
from storage.models import FollowUp

log = logging.getLogger("postmortem_bot.reminders")

UPDATE_DM = "reminders.update_dm"


@dataclass(frozen=True)
class ReminderDm:
    """The DM message a button was clicked in (to show the outcome in place)."""

    channel_id: str | None
    ts: str | None
    text: str | None
    blocks: list[dict[str, Any]] = field(default_factory=list)


def done(services: Services, origin: Origin, value: object, dm: ReminderDm) -> None:
    """*Mark done* in a reminder DM."""
    by, now = origin.user_id, services.clock()
    with services.db.session() as session:
        item = get_followup(session, team_id=origin.team_id, followup_id=followup_id(value))
        enqueue_change(session, services, item, mark_done(session, item, by=by, now=now))
        _enqueue_dm_update(session, item, dm, blocks.done_note(item, by))


def snooze(services: Services, origin: Origin, value: object, dm: ReminderDm, days: int) -> None:
    """*Snooze 1 day* / *Snooze 1 week* in a reminder DM."""
    by, now, period = origin.user_id, services.clock(), timedelta(days=days)
    label = "a day" if days == 1 else "a week" if days == 7 else f"{days} days"
    with services.db.session() as session:
        item = get_followup(session, team_id=origin.team_id, followup_id=followup_id(value))
        change = snooze_for(session, item, period, by=by, now=now)
        enqueue_change(session, services, item, change)
        _enqueue_dm_update(session, item, dm, blocks.snoozed_note(item, by, label))


def _enqueue_dm_update(session: Session, item: FollowUp, dm: ReminderDm, note: str) -> None:
    if not dm.channel_id or not dm.ts:
        return
    outbox.enqueue(
        session,
        UPDATE_DM,
        {
            "channel": dm.channel_id,
            "ts": dm.ts,
            "text": dm.text or note,
            "blocks": blocks.after_action(dm.blocks, item.id, note),
        },
        team_id=item.team_id,
        ordering_key=f"dm:{item.team_id}:{dm.channel_id}:{dm.ts}",
    )


def run_update_dm(services: Services, run: JobRun) -> None:
    """Show in the DM what was done (the change itself is saved and announced already)."""
    job, payload = run.job, run.job.payload
    client = client_or_fail(services.client_for, job.team_id)
    try:
        client.chat_update(
            channel=payload["channel"],
            ts=payload["ts"],
            text=payload["text"],
            blocks=payload["blocks"],
        )
    except SlackApiError as error:
        log.info("reminder DM not updated: %s", error.response.get("error"))


def jobs(services: Services) -> list[JobSpec]:
    return [JobSpec(UPDATE_DM, outbox.Lane.FAST, lambda run: run_update_dm(services, run))]

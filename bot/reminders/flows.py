"""What the buttons of a reminder DM do: change the follow-up like any other change (announced
in its channel, moved in Jira), then show in the DM what was done (no Bolt)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.followups.flows import change_followup
from bot.reminders import blocks
from bot.reminders.service import mark_done, snooze_for
from bot.services import Services
from bot.slack.origin import Origin

log = logging.getLogger("postmortem_bot.reminders")


@dataclass(frozen=True)
class ReminderDm:
    """The DM message a button was clicked in (to show the outcome in place)."""

    channel_id: str | None
    ts: str | None
    text: str | None
    blocks: list[dict[str, Any]] = field(default_factory=list)


def done(
    services: Services, client: WebClient, origin: Origin, value: object, dm: ReminderDm
) -> None:
    """*Mark done* in a reminder DM."""
    by, now = origin.user_id, services.clock()
    item = change_followup(
        services,
        client,
        origin.team_id,
        value,
        lambda session, found: mark_done(session, found, by=by, now=now),
    )
    update_dm(client, dm, item.id, blocks.done_note(item, by))


def snooze(
    services: Services, client: WebClient, origin: Origin, value: object, dm: ReminderDm, days: int
) -> None:
    """*Snooze 1 day* / *Snooze 1 week* in a reminder DM."""
    by, now, period = origin.user_id, services.clock(), timedelta(days=days)
    item = change_followup(
        services,
        client,
        origin.team_id,
        value,
        lambda session, found: snooze_for(session, found, period, by=by, now=now),
    )
    label = "a day" if days == 1 else "a week" if days == 7 else f"{days} days"
    update_dm(client, dm, item.id, blocks.snoozed_note(item, by, label))


def update_dm(client: WebClient, dm: ReminderDm, item_id: int, note: str) -> None:
    """Show in the DM what was done (the change itself is already saved and announced)."""
    if not dm.channel_id or not dm.ts:
        return
    try:
        client.chat_update(
            channel=dm.channel_id,
            ts=dm.ts,
            text=dm.text or note,
            blocks=blocks.after_action(dm.blocks, item_id, note),
        )
    except SlackApiError as error:
        log.info("reminder DM not updated: %s", error.response.get("error"))

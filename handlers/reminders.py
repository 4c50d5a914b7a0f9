"""The buttons of reminder DMs: Mark done, Snooze 1 day / 1 week (and Open, a link)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.orm import Session

from bot.followups.service import Change
from bot.reminders import blocks
from bot.reminders.service import mark_done, snooze_for
from bot.services import Services
from handlers.errors import replies_on_error
from handlers.followups import change_followup, publish_change
from storage.models import FollowUp

log = logging.getLogger("postmortem_bot.reminders")

Act = Callable[[Session, FollowUp, str, datetime], Change]


def update_dm(client: WebClient, body: dict[str, Any], item_id: int, note: str) -> None:
    """Show in the DM what was done (the change itself is already saved and announced)."""
    container, message = body.get("container") or {}, body.get("message") or {}
    channel, ts = container.get("channel_id"), container.get("message_ts")
    if not channel or not ts:
        return
    try:
        client.chat_update(
            channel=channel,
            ts=ts,
            text=message.get("text") or note,
            blocks=blocks.after_action(message.get("blocks") or [], item_id, note),
        )
    except SlackApiError as error:
        log.info("reminder DM not updated: %s", error.response.get("error"))


def register(app: App, services: Services) -> None:
    db, clock = services.db, services.clock

    def listener(act: Act, note: Callable[[FollowUp, str], str]) -> Callable[..., None]:
        def reminder_button(
            ack: Ack,
            action: dict[str, Any],
            body: dict[str, Any],
            client: WebClient,
            context: BoltContext,
        ) -> None:
            ack()
            user, team = body["user"]["id"], context.team_id or ""
            item, change = change_followup(
                db,
                team,
                action.get("value"),
                lambda session, found: act(session, found, user, clock()),
            )
            publish_change(client, item, change, services.jira)
            update_dm(client, body, item.id, note(item, user))

        return reminder_button

    def reminder_open_button(ack: Ack) -> None:
        ack()  # a link: Slack opens it, and still tells us about the click

    def done(session: Session, item: FollowUp, by: str, now: datetime) -> Change:
        return mark_done(session, item, by=by, now=now)

    def snooze(days: int) -> Act:
        def act(session: Session, item: FollowUp, by: str, now: datetime) -> Change:
            return snooze_for(session, item, timedelta(days=days), by=by, now=now)

        return act

    app.action(blocks.DONE_ACTION)(replies_on_error(listener(done, blocks.done_note)))
    app.action(blocks.SNOOZE_DAY_ACTION)(
        replies_on_error(listener(snooze(1), lambda f, u: blocks.snoozed_note(f, u, "a day")))
    )
    app.action(blocks.SNOOZE_WEEK_ACTION)(
        replies_on_error(listener(snooze(7), lambda f, u: blocks.snoozed_note(f, u, "a week")))
    )
    app.action(blocks.OPEN_ACTION)(replies_on_error(reminder_open_button))

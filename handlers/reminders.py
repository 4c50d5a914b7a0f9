"""The buttons of reminder DMs: Mark done, Snooze 1 day / 1 week (and Open, a link)."""

from __future__ import annotations

from slack_bolt import App

from bot.reminders import blocks, flows
from bot.reminders.flows import ReminderDm
from handlers.request import Request, listener

SNOOZE_DAYS = {blocks.SNOOZE_DAY_ACTION: 1, blocks.SNOOZE_WEEK_ACTION: 7}


def _dm(request: Request) -> ReminderDm:
    """The DM the button is in (its channel and ts, to show there what was done)."""
    container, message = request.body.get("container") or {}, request.body.get("message") or {}
    return ReminderDm(
        channel_id=container.get("channel_id"),
        ts=container.get("message_ts"),
        text=message.get("text"),
        blocks=message.get("blocks") or [],
    )


def reminder_done_button(request: Request) -> None:
    flows.done(request.services, request.origin, request.payload.get("value"), _dm(request))
    request.ack()


def reminder_snooze_button(request: Request) -> None:
    value, days = request.payload.get("value"), SNOOZE_DAYS[request.payload["action_id"]]
    flows.snooze(request.services, request.origin, value, _dm(request), days)
    request.ack()


def reminder_open_button(request: Request) -> None:
    request.ack()  # a link: Slack opens it, and still tells us about the click


def register(app: App) -> None:
    app.action(blocks.DONE_ACTION)(listener(reminder_done_button))
    app.action(blocks.SNOOZE_DAY_ACTION)(listener(reminder_snooze_button))
    app.action(blocks.SNOOZE_WEEK_ACTION)(listener(reminder_snooze_button))
    app.action(blocks.OPEN_ACTION)(listener(reminder_open_button))

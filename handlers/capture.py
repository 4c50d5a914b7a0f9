"""Capturing incident channels: every `message` event (message.channels / message.groups), and
the history backfill that follows a declaration.

Bolt acknowledges events before running the listener; the listener only queues the event for
the capture writer (bot/capture_writer.py explains why), so it frees its thread at once.
Bolt runs only the first listener that matches a request: this is THE listener for `message`
events; anything else that needs message events should be called from here.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from slack_bolt import App, BoltContext
from slack_bolt.context.respond import Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.capture.backfill import backfill_incident
from bot.capture.events import delivery_of
from bot.capture.writer import CaptureWriter
from bot.services import Services
from handlers.errors import replies_on_error
from storage.models import Incident

log = logging.getLogger("postmortem_bot.capture")


def backfill_declared(
    client: WebClient, services: Services, incident: Incident, respond: Respond
) -> None:
    """Capture what was said in the channel before the declaration (call after the ack).

    The incident is declared whatever happens here, so a failure is told privately to the
    person who declared it, as what it means for the postmortem, not as a failed command.
    """
    leadup = timedelta(minutes=services.settings.backfill_leadup_minutes)
    try:
        backfill_incident(client, services.db, incident, leadup=leadup, clock=services.clock)
    except Exception as error:
        if isinstance(error, SlackApiError):
            reason = f"Slack answered `{error.response.get('error', 'unknown_error')}`"
        else:
            reason = "something went wrong on my side; it has been logged"
        log.warning("backfill of %s failed", incident.channel_id, exc_info=error)
        respond(
            text=(
                f"{incident.key} is declared, but I couldn't read this channel's earlier "
                f"messages ({reason}). Messages from now on are captured for the postmortem."
            ),
            response_type="ephemeral",
            replace_original=False,
        )


def register(app: App, services: Services) -> CaptureWriter:
    """Returns the writer, whose queue must be flushed when the bot stops."""
    clock = services.clock
    writer = CaptureWriter(services.db)

    def capture_message(body: dict[str, Any], event: dict[str, Any], context: BoltContext) -> None:
        delivery = delivery_of(
            team_id=context.team_id or body.get("team_id") or "",
            event_id=body.get("event_id"),
            event=event,
            received_at=clock(),
        )
        if delivery is not None:
            writer.submit(delivery)

    app.event("message")(replies_on_error(capture_message))
    return writer

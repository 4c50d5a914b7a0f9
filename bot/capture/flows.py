"""Capture orchestration: the history backfill after a declaration, and handing live message
events to the writer (no Bolt)."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.capture.backfill import backfill_incident
from bot.capture.events import delivery_of
from bot.services import Services
from storage.models import Incident

log = logging.getLogger("postmortem_bot.capture")


def backfill_declared(services: Services, client: WebClient, incident: Incident) -> str | None:
    """Capture what was said in the channel before the declaration (call after the ack).

    The incident is declared whatever happens here, so a failure is returned as a private note
    for the person who declared it, saying what it means for the postmortem.
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
        return (
            f"{incident.key} is declared, but I couldn't read this channel's earlier "
            f"messages ({reason}). Messages from now on are captured for the postmortem."
        )
    return None


def capture_message(
    services: Services, *, team_id: str, event_id: str | None, event: dict[str, Any]
) -> None:
    """Queue a message event for the capture writer (it returns at once)."""
    delivery = delivery_of(
        team_id=team_id, event_id=event_id, event=event, received_at=services.clock()
    )
    if delivery is not None and services.capture is not None:
        services.capture.submit(delivery)

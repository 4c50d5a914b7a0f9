"""Capture: live message events are stored before their ack; the backfill of what the bot
missed (the lead-up before a declaration) is an outbox job on the slow lane (no Bolt)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from slack_sdk.errors import SlackApiError
from sqlalchemy.orm import Session

from bot.capture.backfill import backfill_channel
from bot.capture.events import delivery_of
from bot.capture.service import apply_delivery
from bot.core import outbox
from bot.core.outbox_worker import PERMANENT_SLACK_ERRORS, JobRun, JobSpec
from bot.services import Services
from bot.slack.posting import client_or_fail
from storage.models import Incident

log = logging.getLogger("postmortem_bot.capture")

BACKFILL = "capture.backfill"


def capture_message(
    services: Services, *, team_id: str, event_id: str | None, event: dict[str, Any]
) -> None:
    """Store one message event of an incident channel (once per event id), in one short
    transaction, before Slack is told it arrived."""
    delivery = delivery_of(
        team_id=team_id, event_id=event_id, event=event, received_at=services.clock()
    )
    if delivery is None:
        return
    with services.db.session() as session:
        apply_delivery(session, delivery, services.channels)


def enqueue_backfill(
    session: Session, services: Services, incident: Incident, *, reply_to: str | None
) -> None:
    """Fetch what was said in the channel from BACKFILL_LEADUP_MINUTES before the declaration
    (a slow-lane job: the declaration is acknowledged without waiting for it)."""
    leadup = timedelta(minutes=services.settings.backfill_leadup_minutes)
    outbox.enqueue(
        session,
        BACKFILL,
        {
            "channel": incident.channel_id,
            "oldest": (incident.declared_at - leadup).isoformat(),
            "incident_key": incident.key,
            "reply_to": reply_to,
        },
        team_id=incident.team_id,
        lane=outbox.Lane.SLOW,
        ordering_key=f"backfill:{incident.team_id}:{incident.channel_id}",
    )


def run_backfill(services: Services, run: JobRun) -> None:
    job, payload = run.job, run.job.payload
    client = client_or_fail(services.client_for, job.team_id)
    try:
        backfill_channel(
            client,
            services.db,
            team_id=job.team_id,
            channel_id=str(payload["channel"]),
            oldest=datetime.fromisoformat(str(payload["oldest"])),
            clock=services.clock,
        )
    except SlackApiError as error:
        code = str(error.response.get("error", "unknown_error"))
        if code not in PERMANENT_SLACK_ERRORS:
            raise  # retried by the outbox
        _tell_backfill_failed(services, payload, f"Slack answered `{code}`")


def backfill_given_up(services: Services, job: outbox.Job, reason: str) -> None:
    _tell_backfill_failed(services, job.payload, "something went wrong on my side; it is logged")


def _tell_backfill_failed(services: Services, payload: dict[str, Any], reason: str) -> None:
    """The incident is declared whatever happens here: say what it means for the postmortem."""
    log.warning("backfill of %s failed: %s", payload.get("channel"), reason)
    note = (
        f"{payload.get('incident_key')} is declared, but I couldn't read this channel's earlier "
        f"messages ({reason}). Messages from now on are captured for the postmortem."
    )
    services.replies.respond(payload.get("reply_to"), {"text": note, "response_type": "ephemeral"})


def jobs(services: Services) -> list[JobSpec]:
    return [
        JobSpec(
            BACKFILL,
            outbox.Lane.SLOW,
            lambda run: run_backfill(services, run),
            on_dead=lambda job, reason: backfill_given_up(services, job, reason),
        )
    ]

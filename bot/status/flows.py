"""Telling the stakeholder channel (STATUS_UPDATES_CHANNEL): an outbox job, and a clear private
note to the person who asked when the bot can't post there (no Bolt)."""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.errors import SlackApiError
from sqlalchemy.orm import Session

from bot.core import outbox
from bot.core.outbox_worker import JobRun, JobSpec
from bot.core.visibility import may_show_in_channel
from bot.services import Services
from bot.slack.once import post_once
from bot.slack.posting import channel_key, client_or_fail
from bot.status import blocks
from storage.models import Incident

log = logging.getLogger("postmortem_bot.status")

TELL_STAKEHOLDERS = "status.tell_stakeholders"
# Slack's answers when the bot can't post in a channel (not a member, private, gone).
UNREACHABLE = {"not_in_channel", "channel_not_found", "is_archived"}
Message = tuple[str, list[dict[str, Any]]]


def enqueue_stakeholder_post(
    session: Session,
    *,
    team_id: str,
    channel: str,
    message: Message,
    what: str,
    reply_to: str | None,
    incident_id: int | None = None,
) -> None:
    """Post `message` in the stakeholder channel once this transaction commits; if the bot
    can't, `reply_to` (the request's response_url) is told why. With `incident_id`, the
    incident is checked again when the job runs: one made private meanwhile is not posted."""
    text, message_blocks = message
    outbox.enqueue(
        session,
        TELL_STAKEHOLDERS,
        {
            "channel": channel,
            "text": text,
            "blocks": message_blocks,
            "what": what,
            "reply_to": reply_to,
            "incident_id": incident_id,
        },
        team_id=team_id,
        ordering_key=channel_key(team_id, channel),
    )


def run_tell_stakeholders(services: Services, run: JobRun) -> None:
    job, payload = run.job, run.job.payload
    channel = str(payload["channel"])
    if payload.get("incident_id") is not None:
        with services.db.session() as session:
            incident = session.get(Incident, int(payload["incident_id"]))
            if incident is None or not may_show_in_channel(incident, channel):
                log.info("%s not posted to %s: the incident is private now", job.kind, channel)
                return
    client = client_or_fail(services.client_for, job.team_id)
    try:
        post_once(
            client, job, channel=channel, text=str(payload["text"]), blocks=payload.get("blocks")
        )
    except SlackApiError as error:
        code = str(error.response.get("error", ""))
        if code not in UNREACHABLE:
            raise
        note = blocks.stakeholder_channel_unreachable(channel, code, what=str(payload["what"]))
        services.replies.respond(
            payload.get("reply_to"), {"text": note, "response_type": "ephemeral"}
        )


def jobs(services: Services) -> list[JobSpec]:
    return [
        JobSpec(
            TELL_STAKEHOLDERS, outbox.Lane.FAST, lambda run: run_tell_stakeholders(services, run)
        )
    ]

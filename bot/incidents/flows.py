"""`/incident`: the change is recorded with the messages it implies (outbox jobs) in one
transaction, before the ack; the answer for the person who asked is returned (no Bolt)."""

from __future__ import annotations

from typing import Any

from slack_sdk import WebClient

from bot.capture.flows import enqueue_backfill
from bot.core.errors import UserError
from bot.incidents import blocks
from bot.incidents.commands import SetComponents, SetSeverity, SetStatus, Update
from bot.incidents.service import (
    NO_INCIDENT_HINT,
    Workspace,
    change_severity,
    change_status,
    declare_incident,
    latest_incident_in_channel,
    require_open_incident,
)
from bot.services import Services
from bot.slack.channels import prepare_incident_channel
from bot.slack.event_claims import claim_event
from bot.slack.origin import Origin
from bot.slack.posting import enqueue_post
from bot.status import blocks as status_blocks
from bot.status.flows import enqueue_stakeholder_post
from bot.status.service import incident_components, post_update, set_components
from storage.models import Severity

Message = tuple[str, list[dict[str, Any]]]


def declare(
    services: Services,
    client: WebClient,
    origin: Origin,
    title: str,
    severity: Severity | None,
    *,
    reply_to: str | None = None,
) -> None:
    """Bind the channel to a new incident; its announcement and the backfill of what was said
    before follow from the outbox."""
    channel = prepare_incident_channel(client, origin.channel_id)  # read before the write
    with services.db.session() as session:
        incident = declare_incident(
            session,
            workspace=Workspace(origin.team_id, origin.enterprise_id),
            channel_id=origin.channel_id,
            channel_private=channel.is_private,
            commander_id=origin.user_id,
            title=title,
            severity=severity,
            now=services.clock(),
        )
        text, message = blocks.incident_declared(incident, default_severity=severity is None)
        enqueue_post(
            session,
            team_id=origin.team_id,
            channel=origin.channel_id,
            text=text,
            blocks=message,
            reply_to=reply_to,
            what=f"the announcement of {incident.key}",
        )
        enqueue_backfill(session, services, incident, reply_to=reply_to)


def status_summary(services: Services, origin: Origin) -> Message | None:
    """This channel's incident, for `/incident status` (None: the channel has none)."""
    with services.db.session() as session:
        latest = latest_incident_in_channel(session, origin.team_id, origin.channel_id)
        if latest is None:
            return None
        return blocks.incident_summary(latest, now=services.clock())


def change(
    services: Services, origin: Origin, parsed: SetSeverity | SetStatus, *, reply_to: str | None
) -> str | None:
    """A severity or status change, announced in the channel; a resolution is also told to
    STATUS_UPDATES_CHANNEL (never for a private incident: the returned note says so)."""
    now, user, team = services.clock(), origin.user_id, origin.team_id
    stakeholders = services.settings.status_updates_channel
    with services.db.session() as session:
        incident = require_open_incident(session, team, origin.channel_id)
        if isinstance(parsed, SetSeverity):
            previous = change_severity(session, incident, parsed.severity, by=user, now=now)
            text, message = blocks.severity_changed(incident, previous=previous, by=user)
        else:
            change_status(session, incident, parsed.status, by=user, now=now)
            text, message = blocks.status_changed(incident, by=user, now=now)
        enqueue_post(
            session,
            team_id=team,
            channel=origin.channel_id,
            text=text,
            blocks=message,
            reply_to=reply_to,
            what=f"the change to {incident.key}",
        )
        resolved = isinstance(parsed, SetStatus) and incident.resolved_at is not None
        if not resolved or not stakeholders or stakeholders == origin.channel_id:
            return None
        if incident.channel_private:
            return status_blocks.private_not_shared("the resolution notice")
        notice = status_blocks.resolution_notice(incident, incident_components(session, incident))
        enqueue_stakeholder_post(
            session,
            team_id=team,
            channel=stakeholders,
            message=notice,
            what="the resolution notice",
            reply_to=reply_to,
        )
    return None


def update(
    services: Services,
    origin: Origin,
    parsed: Update | SetComponents,
    *,
    trigger_id: str | None,
    reply_to: str | None,
) -> str | None:
    """`/incident update` and `/incident components` (open or resolved incident); an update is
    made once per request (`trigger_id`), however often it is delivered."""
    now, user, team = services.clock(), origin.user_id, origin.team_id
    stakeholders = services.settings.status_updates_channel
    with services.db.session() as session:
        incident = latest_incident_in_channel(session, team, origin.channel_id)
        if incident is None:
            raise UserError(NO_INCIDENT_HINT)
        if trigger_id and not claim_event(
            session, team_id=team, event_id=f"cmd:{trigger_id}", now=now
        ):
            return None  # the same request again: it was done the first time
        private = incident.channel_private
        if isinstance(parsed, SetComponents):
            names = set_components(session, incident, parsed.components, by=user, now=now)
            text, message = status_blocks.components_set(incident, names, by=user)
            enqueue_post(
                session, team_id=team, channel=origin.channel_id, text=text, blocks=message
            )
            return None
        posted = post_update(
            session,
            incident,
            text=parsed.text,
            components=parsed.components,
            public=parsed.public,
            by=user,
            now=now,
        )
        text, message = status_blocks.update_posted(incident, posted, stakeholders=False)
        enqueue_post(session, team_id=team, channel=origin.channel_id, text=text, blocks=message)
        if private and (stakeholders or parsed.public):
            return status_blocks.private_not_shared("the update")
        if stakeholders and stakeholders != origin.channel_id:
            enqueue_stakeholder_post(
                session,
                team_id=team,
                channel=stakeholders,
                message=status_blocks.update_posted(incident, posted, stakeholders=True),
                what="the update",
                reply_to=reply_to,
            )
    return None

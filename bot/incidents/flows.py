"""`/incident` orchestration: the database change, then the channel message, the backfill and
the stakeholder channel. Returns what the person who asked should be told privately (no Bolt).

Flows take the `Services` and open short transactions themselves: Slack is never called while a
transaction is open.
"""

from __future__ import annotations

from typing import Any

from slack_sdk import WebClient

from bot.capture.flows import backfill_declared
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
from bot.slack.origin import Origin
from bot.status import blocks as status_blocks
from bot.status import flows as status_flows
from bot.status.service import incident_components, post_update, set_components
from storage.models import Severity

Message = tuple[str, list[dict[str, Any]]]


def declare(
    services: Services, client: WebClient, origin: Origin, title: str, severity: Severity | None
) -> str | None:
    """Bind the channel to a new incident, announce it, and capture what was said before."""
    channel = prepare_incident_channel(client, origin.channel_id)
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
    client.chat_postMessage(channel=origin.channel_id, text=text, blocks=message)
    return backfill_declared(services, client, incident)


def status_summary(services: Services, origin: Origin) -> Message | None:
    """This channel's incident, for `/incident status` (None: the channel has none)."""
    with services.db.session() as session:
        latest = latest_incident_in_channel(session, origin.team_id, origin.channel_id)
        if latest is None:
            return None
        return blocks.incident_summary(latest, now=services.clock())


def change(
    services: Services, client: WebClient, origin: Origin, parsed: SetSeverity | SetStatus
) -> str | None:
    """A severity or status change, announced in the channel; a resolution is also told to
    STATUS_UPDATES_CHANNEL (never for a private incident)."""
    now, user = services.clock(), origin.user_id
    resolution: Message | None = None
    private = False
    with services.db.session() as session:
        incident = require_open_incident(session, origin.team_id, origin.channel_id)
        if isinstance(parsed, SetSeverity):
            previous = change_severity(session, incident, parsed.severity, by=user, now=now)
            text, message = blocks.severity_changed(incident, previous=previous, by=user)
        else:
            change_status(session, incident, parsed.status, by=user, now=now)
            text, message = blocks.status_changed(incident, by=user, now=now)
            if incident.resolved_at is not None:
                private = incident.channel_private
                components = incident_components(session, incident)
                resolution = status_blocks.resolution_notice(incident, components)
    client.chat_postMessage(channel=origin.channel_id, text=text, blocks=message)
    stakeholders = services.settings.status_updates_channel
    if resolution is None or not stakeholders or stakeholders == origin.channel_id:
        return None
    if private:
        return status_blocks.private_not_shared("the resolution notice")
    return status_flows.tell_stakeholders(
        client, stakeholders, resolution, what="the resolution notice"
    )


def update(
    services: Services, client: WebClient, origin: Origin, parsed: Update | SetComponents
) -> str | None:
    """`/incident update` and `/incident components` (open or resolved incident)."""
    now, user = services.clock(), origin.user_id
    stakeholders = services.settings.status_updates_channel
    stakeholder_message: Message | None = None
    with services.db.session() as session:
        incident = latest_incident_in_channel(session, origin.team_id, origin.channel_id)
        if incident is None:
            raise UserError(NO_INCIDENT_HINT)
        private = incident.channel_private
        if isinstance(parsed, SetComponents):
            names = set_components(session, incident, parsed.components, by=user, now=now)
            text, message = status_blocks.components_set(incident, names, by=user)
        else:
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
            if not private:
                stakeholder_message = status_blocks.update_posted(
                    incident, posted, stakeholders=True
                )
    client.chat_postMessage(channel=origin.channel_id, text=text, blocks=message)
    if not isinstance(parsed, Update):
        return None
    if private and (stakeholders or parsed.public):
        return status_blocks.private_not_shared("the update")
    if stakeholder_message and stakeholders and stakeholders != origin.channel_id:
        return status_flows.tell_stakeholders(
            client, stakeholders, stakeholder_message, what="the update"
        )
    return None

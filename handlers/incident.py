"""`/incident`: declare, status, severity, mitigated, resolved, update, components, help."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_bolt.context.respond import Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.core.errors import UserError
from bot.incidents import blocks
from bot.incidents.commands import (
    USAGE,
    Declare,
    Help,
    SetComponents,
    SetSeverity,
    SetStatus,
    ShowStatus,
    Update,
    parse_incident_command,
)
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
from bot.status import blocks as status_blocks
from bot.status.service import incident_components, post_update, set_components
from handlers import capture
from handlers.errors import replies_on_error


def workspace_of(context: BoltContext) -> Workspace:
    return Workspace(team_id=context.team_id or "", enterprise_id=context.enterprise_id)


# Slack's answers when the bot can't post in a channel (not a member, private, gone).
UNREACHABLE = {"not_in_channel", "channel_not_found", "is_archived"}


def tell_stakeholders(
    client: WebClient,
    respond: Respond,
    channel: str,
    message: tuple[str, list[dict[str, Any]]],
    *,
    what: str,
) -> None:
    """Post in STATUS_UPDATES_CHANNEL; when the bot can't, say so privately and clearly."""
    text, message_blocks = message
    try:
        client.chat_postMessage(channel=channel, text=text, blocks=message_blocks)
    except SlackApiError as error:
        code = str(error.response.get("error", ""))
        if code not in UNREACHABLE:
            raise
        note = status_blocks.stakeholder_channel_unreachable(channel, code, what=what)
        respond(text=note, response_type="ephemeral")


def register(app: App, services: Services) -> None:
    db, clock = services.db, services.clock
    stakeholder_channel = services.settings.status_updates_channel

    def incident_command(
        ack: Ack, command: dict[str, Any], client: WebClient, respond: Respond, context: BoltContext
    ) -> None:
        # Parsing is pure and instant: usage and parse errors go back in the ack itself.
        parsed = parse_incident_command(command.get("text", ""))
        if isinstance(parsed, Help):
            ack(text=USAGE, response_type="ephemeral")
            return
        ack()
        channel_id: str = command["channel_id"]
        user_id: str = command["user_id"]
        workspace = workspace_of(context)

        if isinstance(parsed, Declare):
            channel = prepare_incident_channel(client, channel_id)
            with db.session() as session:
                incident = declare_incident(
                    session,
                    workspace=workspace,
                    channel_id=channel_id,
                    channel_private=channel.is_private,
                    commander_id=user_id,
                    title=parsed.title,
                    severity=parsed.severity,
                    now=clock(),
                )
                text, message = blocks.incident_declared(
                    incident, default_severity=parsed.severity is None
                )
            client.chat_postMessage(channel=channel_id, text=text, blocks=message)
            capture.backfill_declared(client, services, incident, respond)
            return

        if isinstance(parsed, ShowStatus):
            with db.session() as session:
                latest = latest_incident_in_channel(session, workspace.team_id, channel_id)
                if latest is None:
                    respond(text=NO_INCIDENT_HINT, response_type="ephemeral")
                    return
                text, message = blocks.incident_summary(latest, now=clock())
            respond(text=text, blocks=message, response_type="ephemeral")
            return

        if isinstance(parsed, Update | SetComponents):
            updates_command(parsed, client, respond, channel_id, user_id, workspace)
            return

        now = clock()
        resolution: tuple[str, list[dict[str, Any]]] | None = None
        private = False
        with db.session() as session:
            incident = require_open_incident(session, workspace.team_id, channel_id)
            if isinstance(parsed, SetSeverity):
                previous = change_severity(session, incident, parsed.severity, by=user_id, now=now)
                text, message = blocks.severity_changed(incident, previous=previous, by=user_id)
            else:
                assert isinstance(parsed, SetStatus)
                change_status(session, incident, parsed.status, by=user_id, now=now)
                text, message = blocks.status_changed(incident, by=user_id, now=now)
                if incident.resolved_at is not None:
                    private = incident.channel_private
                    components = incident_components(session, incident)
                    resolution = status_blocks.resolution_notice(incident, components)
        client.chat_postMessage(channel=channel_id, text=text, blocks=message)
        if resolution is None or not stakeholder_channel or stakeholder_channel == channel_id:
            return
        if private:
            note = status_blocks.private_not_shared("the resolution notice")
            respond(text=note, response_type="ephemeral")
            return
        tell_stakeholders(
            client, respond, stakeholder_channel, resolution, what="the resolution notice"
        )

    def updates_command(
        parsed: Update | SetComponents,
        client: WebClient,
        respond: Respond,
        channel_id: str,
        user_id: str,
        workspace: Workspace,
    ) -> None:
        """`/incident update` and `/incident components` (open or resolved incident)."""
        now = clock()
        stakeholder_message: tuple[str, list[dict[str, Any]]] | None = None
        with db.session() as session:
            incident = latest_incident_in_channel(session, workspace.team_id, channel_id)
            if incident is None:
                raise UserError(NO_INCIDENT_HINT)
            private = incident.channel_private
            if isinstance(parsed, SetComponents):
                names = set_components(session, incident, parsed.components, by=user_id, now=now)
                text, message = status_blocks.components_set(incident, names, by=user_id)
            else:
                update = post_update(
                    session,
                    incident,
                    text=parsed.text,
                    components=parsed.components,
                    public=parsed.public,
                    by=user_id,
                    now=now,
                )
                text, message = status_blocks.update_posted(incident, update, stakeholders=False)
                if not private:
                    stakeholder_message = status_blocks.update_posted(
                        incident, update, stakeholders=True
                    )
        client.chat_postMessage(channel=channel_id, text=text, blocks=message)
        if not isinstance(parsed, Update):
            return
        if private and (stakeholder_channel or parsed.public):
            respond(text=status_blocks.private_not_shared("the update"), response_type="ephemeral")
        elif stakeholder_message and stakeholder_channel and stakeholder_channel != channel_id:
            tell_stakeholders(
                client, respond, stakeholder_channel, stakeholder_message, what="the update"
            )

    app.command("/incident")(replies_on_error(incident_command))

"""Timeline orchestration: log events from the command, the shortcut and reactions; list, edit
and delete them; echo in the channel (no Bolt). Slack is never called inside a transaction."""

from __future__ import annotations

from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.core.errors import UserError
from bot.incidents.service import incident_for_timeline, latest_incident_in_channel
from bot.services import Services
from bot.slack.event_claims import claim_event
from bot.slack.messages import find_message, message_ref, permalink, still_reacted
from bot.slack.origin import Origin
from bot.slack.users import user_timezone
from bot.timeline import blocks
from bot.timeline.commands import EventEdit, LogEvent, resolve
from bot.timeline.service import (
    add_message,
    delete_event,
    edit_event,
    get_event,
    latest_events,
    record_event,
    remove_reaction_event,
)
from storage.models import EventSource

Message = tuple[str, list[dict[str, Any]]]


def timeline_list(services: Services, origin: Origin) -> Message:
    """The channel's timeline, privately, with Edit and Delete on each event."""
    with services.db.session() as session:
        incident = incident_for_timeline(session, origin.team_id, origin.channel_id)
        events, total = latest_events(session, incident, blocks.LIST_LIMIT)
        return blocks.timeline_list(incident, events, total, now=services.clock())


def log_event(services: Services, client: WebClient, origin: Origin, parsed: LogEvent) -> None:
    """`/timeline [at <time>] [kind] <text>`: store the event, then echo it in the channel."""
    db, now = services.db, services.clock()
    with db.session() as session:
        incident_for_timeline(session, origin.team_id, origin.channel_id)  # fail fast
    tz = None
    if parsed.timed:
        tz = user_timezone(db, client, team_id=origin.team_id, user_id=origin.user_id, now=now)
    event = resolve(parsed, now=now, tz_name=tz)
    with db.session() as session:
        incident = incident_for_timeline(session, origin.team_id, origin.channel_id)
        logged = record_event(
            session,
            incident,
            kind=event.kind,
            text=event.text,
            author_id=origin.user_id,
            occurred_at=event.occurred_at,
            now=now,
            source=EventSource.COMMAND,
        )
        text, message = blocks.event_logged(incident, logged, now=now)
    client.chat_postMessage(channel=origin.channel_id, text=text, blocks=message)


def add_from_shortcut(
    services: Services, client: WebClient, origin: Origin, message_payload: dict[str, Any]
) -> str:
    """The *Add to timeline* shortcut: log the message at its own time; the private answer."""
    db, team, channel = services.db, origin.team_id, origin.channel_id
    message = message_ref(channel, message_payload)
    with db.session() as session:
        incident_for_timeline(session, team, channel)  # fail fast, before any API call
    link = permalink(client, channel, message.ts)
    now = services.clock()
    with db.session() as session:
        incident = incident_for_timeline(session, team, channel)
        event, created = add_message(
            session,
            incident,
            message,
            source=EventSource.SHORTCUT,
            added_by=origin.user_id,
            permalink=link,
            now=now,
        )
        key, at = incident.key, blocks.when(event.occurred_at, now=now)
        adder = blocks.who(event.added_by)
    if not created:
        return f"That message is already on the {key} timeline (at {at}, added by {adder})."
    react(client, channel, message.ts, services.settings.timeline_emoji)
    return f"Added to the {key} timeline at {at}."


def reaction_added(
    services: Services, client: WebClient, *, team_id: str, event_id: str, event: dict[str, Any]
) -> None:
    """A timeline-emoji reaction on a message of an incident channel logs that message."""
    item = event.get("item") or {}
    if event.get("reaction") != services.settings.timeline_emoji or item.get("type") != "message":
        return
    db, channel, ts = services.db, item["channel"], item["ts"]
    with db.session() as session:
        if latest_incident_in_channel(session, team_id, channel) is None:
            return
    message = find_message(db, client, team_id=team_id, channel_id=channel, ts=ts)
    if message is None:
        return
    link = permalink(client, channel, ts)
    now = services.clock()
    with db.session() as session:
        if not claim_event(session, team_id=team_id, event_id=event_id, now=now):
            return
        incident = incident_for_timeline(session, team_id, channel)
        add_message(
            session,
            incident,
            message,
            source=EventSource.REACTION,
            added_by=event.get("user") or "",
            permalink=link,
            now=now,
        )


def reaction_removed(
    services: Services, client: WebClient, *, team_id: str, event_id: str, event: dict[str, Any]
) -> None:
    """Removing the last timeline-emoji reaction takes the message off the timeline again."""
    item = event.get("item") or {}
    emoji = services.settings.timeline_emoji
    if event.get("reaction") != emoji or item.get("type") != "message":
        return
    channel, ts = item["channel"], item["ts"]
    if still_reacted(client, channel, ts, emoji):
        return  # someone else's pin still holds it on the timeline
    with services.db.session() as session:
        if not claim_event(session, team_id=team_id, event_id=event_id, now=services.clock()):
            return
        incident = latest_incident_in_channel(session, team_id, channel)
        if incident is not None:
            remove_reaction_event(session, incident, channel, ts)


def open_edit(
    services: Services, client: WebClient, origin: Origin, event_id: int, trigger_id: str
) -> None:
    """The list's *Edit*: open the edit modal for one event."""
    with services.db.session() as session:
        event = get_event(session, team_id=origin.team_id, event_id=event_id)
        view = blocks.event_edit_modal(event, channel_id=origin.channel_id)
    client.views_open(trigger_id=trigger_id, view=view)


def delete(services: Services, origin: Origin, event_id: int) -> Message:
    """The list's *Delete*: remove the event; the refreshed list, noting what was deleted."""
    now = services.clock()
    with services.db.session() as session:
        event = get_event(session, team_id=origin.team_id, event_id=event_id)
        incident = event.incident
        removed = blocks.event_line(event, now=now, limit=200)
        delete_event(session, event)
        session.flush()
        events, total = latest_events(session, incident, blocks.LIST_LIMIT)
        text, message = blocks.timeline_list(incident, events, total, now=now)
    message.append(blocks.context_block(f"Deleted: {removed}"))
    return text, message


def save_edit(services: Services, origin: Origin, edit: EventEdit) -> str | dict[str, str]:
    """Store an edited event (committed on return); its new line, or the modal's inline
    errors when nothing was saved."""
    errors = dict(edit.errors)
    with services.db.session() as session:
        try:
            event = get_event(session, team_id=origin.team_id, event_id=edit.event_id)
        except UserError as error:
            errors["text"] = error.message
        if errors:
            return errors
        assert edit.occurred_at is not None  # no "time" error
        now = services.clock()
        edit_event(
            session,
            event,
            text=edit.text,
            kind=edit.kind,
            occurred_at=edit.occurred_at,
            by=origin.user_id,
            now=now,
        )
        return blocks.event_line(event, now=now, limit=300)


def react(client: WebClient, channel: str, ts: str, emoji: str) -> None:
    """Mark a message as on the timeline (already marked is fine)."""
    try:
        client.reactions_add(channel=channel, timestamp=ts, name=emoji)
    except SlackApiError as error:
        if error.response.get("error") != "already_reacted":
            raise

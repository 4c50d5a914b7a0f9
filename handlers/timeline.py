"""`/timeline`, the "Add to timeline" shortcut, reaction capture, and list edit/delete."""

from __future__ import annotations

import json
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_bolt.context.respond import Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.core.errors import UserError
from bot.core.timeparse import parse_time_prefix
from bot.incidents.service import incident_for_timeline, latest_incident_in_channel
from bot.services import Services
from bot.slack.event_claims import claim_event
from bot.slack.messages import find_message, message_ref, permalink, still_reacted
from bot.slack.mrkdwn import from_editable
from bot.slack.users import user_timezone
from bot.timeline import blocks
from bot.timeline.commands import (
    USAGE,
    Help,
    ListEvents,
    LogEvent,
    check_text,
    parse_timeline_command,
    resolve,
)
from bot.timeline.service import (
    add_message,
    delete_event,
    edit_event,
    get_event,
    latest_events,
    record_event,
    remove_reaction_event,
)
from handlers.errors import replies_on_error
from storage.models import EventKind, EventSource


def register(app: App, services: Services) -> None:
    db, clock, emoji = services.db, services.clock, services.settings.timeline_emoji

    def timeline_command(
        ack: Ack, command: dict[str, Any], client: WebClient, respond: Respond, context: BoltContext
    ) -> None:
        parsed = parse_timeline_command(command.get("text", ""))
        if isinstance(parsed, Help):
            ack(text=USAGE, response_type="ephemeral")
            return
        ack()
        team, channel, user = context.team_id or "", command["channel_id"], command["user_id"]
        now = clock()
        with db.session() as session:
            incident = incident_for_timeline(session, team, channel)
            if isinstance(parsed, ListEvents):
                events, total = latest_events(session, incident, blocks.LIST_LIMIT)
                text, message = blocks.timeline_list(incident, events, total, now=now)
                respond(text=text, blocks=message, response_type="ephemeral")
                return
        assert isinstance(parsed, LogEvent)
        tz = (
            user_timezone(db, client, team_id=team, user_id=user, now=now) if parsed.timed else None
        )
        event = resolve(parsed, now=now, tz_name=tz)
        with db.session() as session:
            incident = incident_for_timeline(session, team, channel)
            logged = record_event(
                session,
                incident,
                kind=event.kind,
                text=event.text,
                author_id=user,
                occurred_at=event.occurred_at,
                now=now,
                source=EventSource.COMMAND,
            )
            text, message = blocks.event_logged(incident, logged, now=now)
        client.chat_postMessage(channel=channel, text=text, blocks=message)

    def add_to_timeline_shortcut(
        ack: Ack,
        shortcut: dict[str, Any],
        client: WebClient,
        respond: Respond,
        context: BoltContext,
    ) -> None:
        ack()
        team, channel = context.team_id or "", shortcut["channel"]["id"]
        message = message_ref(channel, shortcut["message"])
        with db.session() as session:
            incident_for_timeline(session, team, channel)  # fail fast, before any API call
        link = permalink(client, channel, message.ts)
        now = clock()
        with db.session() as session:
            incident = incident_for_timeline(session, team, channel)
            event, created = add_message(
                session,
                incident,
                message,
                source=EventSource.SHORTCUT,
                added_by=shortcut["user"]["id"],
                permalink=link,
                now=now,
            )
            key, at = incident.key, blocks.when(event.occurred_at, now=now)
            adder = blocks.who(event.added_by)
        if not created:
            respond(
                text=f"That message is already on the {key} timeline (at {at}, added by {adder}).",
                response_type="ephemeral",
            )
            return
        _react(client, channel, message.ts, emoji)
        respond(text=f"Added to the {key} timeline at {at}.", response_type="ephemeral")

    def timeline_reaction_added(
        event: dict[str, Any], body: dict[str, Any], client: WebClient, context: BoltContext
    ) -> None:
        item = event.get("item") or {}
        if event.get("reaction") != emoji or item.get("type") != "message":
            return
        team, channel, ts = context.team_id or "", item["channel"], item["ts"]
        with db.session() as session:
            if latest_incident_in_channel(session, team, channel) is None:
                return
        message = find_message(db, client, team_id=team, channel_id=channel, ts=ts)
        if message is None:
            return
        link = permalink(client, channel, ts)
        now = clock()
        with db.session() as session:
            if not claim_event(session, team_id=team, event_id=body["event_id"], now=now):
                return
            incident = incident_for_timeline(session, team, channel)
            add_message(
                session,
                incident,
                message,
                source=EventSource.REACTION,
                added_by=event.get("user") or "",
                permalink=link,
                now=now,
            )

    def timeline_reaction_removed(
        event: dict[str, Any], body: dict[str, Any], client: WebClient, context: BoltContext
    ) -> None:
        item = event.get("item") or {}
        if event.get("reaction") != emoji or item.get("type") != "message":
            return
        team, channel, ts = context.team_id or "", item["channel"], item["ts"]
        if still_reacted(client, channel, ts, emoji):
            return  # someone else's pin still holds it on the timeline
        with db.session() as session:
            if not claim_event(session, team_id=team, event_id=body["event_id"], now=clock()):
                return
            incident = latest_incident_in_channel(session, team, channel)
            if incident is not None:
                remove_reaction_event(session, incident, channel, ts)

    def timeline_event_menu(
        ack: Ack,
        action: dict[str, Any],
        body: dict[str, Any],
        client: WebClient,
        respond: Respond,
        context: BoltContext,
    ) -> None:
        ack()
        verb, _, raw_id = action["selected_option"]["value"].partition(":")
        team, channel = context.team_id or "", (body.get("channel") or {}).get("id", "")
        now = clock()
        with db.session() as session:
            event = get_event(session, team_id=team, event_id=int(raw_id))
            if verb == "edit":
                view = blocks.event_edit_modal(event, channel_id=channel)
            else:
                incident = event.incident
                removed = blocks.event_line(event, now=now, limit=200)
                delete_event(session, event)
                session.flush()
                events, total = latest_events(session, incident, blocks.LIST_LIMIT)
                text, message = blocks.timeline_list(incident, events, total, now=now)
        if verb == "edit":
            client.views_open(trigger_id=body["trigger_id"], view=view)
            return
        message.append(blocks.context_block(f"Deleted: {removed}"))
        respond(text=text, blocks=message, replace_original=True, response_type="ephemeral")

    def timeline_event_edit_submission(
        ack: Ack,
        view: dict[str, Any],
        body: dict[str, Any],
        client: WebClient,
        context: BoltContext,
    ) -> None:
        values = view["state"]["values"]
        meta = json.loads(view.get("private_metadata") or "{}")
        team, user, now = context.team_id or "", body["user"]["id"], clock()
        errors: dict[str, str] = {}
        try:
            when = parse_time_prefix(values["time"]["value"]["value"] or "", now=now, tz_name="UTC")
            if when.rest:
                errors["time"] = "Only a time here, like 2026-11-22 14:32 (UTC)."
        except UserError as error:
            errors["time"] = error.message
        text = from_editable((values["text"]["value"]["value"] or "").strip())
        try:
            check_text(text)
        except UserError as error:
            errors["text"] = error.message
        kind = EventKind(values["kind"]["value"]["selected_option"]["value"])
        with db.session() as session:
            try:
                event = get_event(session, team_id=team, event_id=int(meta.get("event_id", 0)))
            except UserError as error:
                errors["text"] = error.message
            if errors:
                ack(response_action="errors", errors=errors)
                return
            edit_event(
                session, event, text=text, kind=kind, occurred_at=when.moment, by=user, now=now
            )
            line = blocks.event_line(event, now=now, limit=300)
        ack()  # after the commit: once the modal closes, the edit is stored
        if meta.get("channel_id"):
            client.chat_postEphemeral(
                channel=meta["channel_id"], user=user, text=f"Timeline event updated: {line}"
            )

    app.command("/timeline")(replies_on_error(timeline_command))
    app.shortcut("add_to_timeline")(replies_on_error(add_to_timeline_shortcut))
    app.event("reaction_added")(replies_on_error(timeline_reaction_added))
    app.event("reaction_removed")(replies_on_error(timeline_reaction_removed))
    app.action(blocks.EVENT_MENU_ACTION)(replies_on_error(timeline_event_menu))
    app.view(blocks.EDIT_VIEW_CALLBACK)(replies_on_error(timeline_event_edit_submission))


def _react(client: WebClient, channel: str, ts: str, emoji: str) -> None:
    try:
        client.reactions_add(channel=channel, timestamp=ts, name=emoji)
    except SlackApiError as error:
        if error.response.get("error") != "already_reacted":
            raise

"""Timeline: events are recorded before the ack, with their echo in the channel as an outbox
job; what needs Slack afterwards (a permalink, the reaction, finding a reacted message) is a
job too (no Bolt)."""

from __future__ import annotations

from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.core import outbox
from bot.core.errors import UserError
from bot.core.outbox_worker import JobRun, JobSpec
from bot.incidents.service import incident_for_timeline, latest_incident_in_channel
from bot.services import Services
from bot.slack.event_claims import claim_event
from bot.slack.messages import find_message, message_ref, permalink, still_reacted
from bot.slack.origin import Origin
from bot.slack.posting import channel_key, client_or_fail, enqueue_post
from bot.slack.users import user_timezone
from bot.timeline import blocks
from bot.timeline.commands import EventEdit, LogEvent, resolve
from bot.timeline.service import (
    add_message,
    check_can_change,
    delete_event,
    edit_event,
    get_event,
    insert_event,
    latest_events,
    new_event,
    remove_reaction_event,
)
from storage.models import EventSource, TimelineEvent

AFTER_SHORTCUT = "timeline.after_shortcut"
ADD_REACTED = "timeline.add_reacted"
REMOVE_REACTED = "timeline.remove_reacted"
Message = tuple[str, list[dict[str, Any]]]


def timeline_list(services: Services, origin: Origin) -> Message:
    """The channel's timeline, privately, with Edit and Delete on each event."""
    with services.db.session() as session:
        incident = incident_for_timeline(session, origin.team_id, origin.channel_id)
        events, total = latest_events(session, incident, blocks.LIST_LIMIT)
        return blocks.timeline_list(incident, events, total, now=services.clock())


def log_event(
    services: Services,
    client: WebClient,
    origin: Origin,
    parsed: LogEvent,
    *,
    trigger_id: str | None,
    reply_to: str | None = None,
) -> None:
    """`/timeline [at <time>] [kind] <text>`: store the event (once per request) with its echo."""
    db, now, team = services.db, services.clock(), origin.team_id
    tz = None
    if parsed.timed:  # a time of day needs the person's time zone: ask Slack only if it's of use
        with db.read_session() as session:
            incident_for_timeline(session, team, origin.channel_id)
        tz = user_timezone(db, client, team_id=team, user_id=origin.user_id, now=now)
    event = resolve(parsed, now=now, tz_name=tz)
    with db.session() as session:
        incident = incident_for_timeline(session, team, origin.channel_id)
        if trigger_id and not claim_event(
            session, team_id=team, event_id=f"cmd:{trigger_id}", now=now
        ):
            return  # the same request again: it was logged the first time
        logged = new_event(
            incident,
            kind=event.kind,
            text=event.text,
            author_id=origin.user_id,
            occurred_at=event.occurred_at,
            now=now,
            source=EventSource.COMMAND,
        )
        insert_event(session, logged)
        text, message = blocks.event_logged(incident, logged, now=now)
        enqueue_post(
            session,
            team_id=team,
            channel=origin.channel_id,
            text=text,
            blocks=message,
            reply_to=reply_to,
            what="the timeline event in the channel",
        )


def add_from_shortcut(
    services: Services, origin: Origin, message_payload: dict[str, Any], *, reply_to: str | None
) -> None:
    """The *Add to timeline* shortcut: log the message at its own time, now; its permalink, the
    timeline reaction and the private answer follow from the outbox."""
    message = message_ref(origin.channel_id, message_payload)
    now = services.clock()
    with services.db.session() as session:
        incident = incident_for_timeline(session, origin.team_id, origin.channel_id)
        event, created = add_message(
            session,
            incident,
            message,
            source=EventSource.SHORTCUT,
            added_by=origin.user_id,
            permalink=None,
            now=now,
        )
        at = blocks.when(event.occurred_at, now=now)
        if created:
            note = f"Added to the {incident.key} timeline at {at}."
        else:
            adder = blocks.who(event.added_by)
            note = (
                f"That message is already on the {incident.key} timeline "
                f"(at {at}, added by {adder})."
            )
        outbox.enqueue(
            session,
            AFTER_SHORTCUT,
            {
                "event_id": event.id,
                "channel": origin.channel_id,
                "ts": message.ts,
                "created": created,
                "note": note,
                "reply_to": reply_to,
            },
            team_id=origin.team_id,
            ordering_key=channel_key(origin.team_id, origin.channel_id),
        )


def run_after_shortcut(services: Services, run: JobRun) -> None:
    job, payload = run.job, run.job.payload
    client = client_or_fail(services.client_for, job.team_id)
    channel, ts = str(payload["channel"]), str(payload["ts"])
    if payload.get("created"):
        link = permalink(client, channel, ts)
        with services.db.session() as session:
            event = session.get(TimelineEvent, int(payload["event_id"]))
            if event is not None and event.permalink is None:
                event.permalink = link
        react(client, channel, ts, services.settings.timeline_emoji)
    services.replies.respond(
        payload.get("reply_to"), {"text": str(payload["note"]), "response_type": "ephemeral"}
    )


def reaction(
    services: Services, *, team_id: str, event_id: str, event: dict[str, Any], added: bool
) -> None:
    """A timeline-emoji reaction on a message of an incident channel (added: log the message;
    removed: take it off again). Claimed once per event id, then done by a job."""
    item = event.get("item") or {}
    if event.get("reaction") != services.settings.timeline_emoji or item.get("type") != "message":
        return
    channel, ts = str(item.get("channel") or ""), str(item.get("ts") or "")
    if not channel or not ts:
        return
    now = services.clock()
    with services.db.session() as session:
        if latest_incident_in_channel(session, team_id, channel) is None:
            return
        if not claim_event(session, team_id=team_id, event_id=event_id, now=now):
            return
        outbox.enqueue(
            session,
            ADD_REACTED if added else REMOVE_REACTED,
            {"channel": channel, "ts": ts, "user": event.get("user") or ""},
            team_id=team_id,
            ordering_key=f"reaction:{team_id}:{channel}:{ts}",
        )


def run_add_reacted(services: Services, run: JobRun) -> None:
    job, payload = run.job, run.job.payload
    client = client_or_fail(services.client_for, job.team_id)
    channel, ts = str(payload["channel"]), str(payload["ts"])
    message = find_message(services.db, client, team_id=job.team_id, channel_id=channel, ts=ts)
    if message is None:
        return
    link = permalink(client, channel, ts)
    with services.db.session() as session:
        incident = latest_incident_in_channel(session, job.team_id, channel)
        if incident is None:
            return
        add_message(
            session,
            incident,
            message,
            source=EventSource.REACTION,
            added_by=str(payload.get("user") or ""),
            permalink=link,
            now=services.clock(),
        )
        run.finish_in(session)


def run_remove_reacted(services: Services, run: JobRun) -> None:
    job, payload = run.job, run.job.payload
    client = client_or_fail(services.client_for, job.team_id)
    channel, ts = str(payload["channel"]), str(payload["ts"])
    if still_reacted(client, channel, ts, services.settings.timeline_emoji):
        return  # someone else's pin still holds it on the timeline
    with services.db.session() as session:
        incident = latest_incident_in_channel(session, job.team_id, channel)
        if incident is not None:
            remove_reaction_event(session, incident, channel, ts)
        run.finish_in(session)


def open_edit(
    services: Services, client: WebClient, origin: Origin, event_id: int, trigger_id: str
) -> None:
    """The list's *Edit*: open the edit modal for one event (now: the trigger expires in 3 s)."""
    with services.db.session() as session:
        event = get_event(session, team_id=origin.team_id, event_id=event_id)
        view = blocks.event_edit_modal(event, channel_id=origin.channel_id)
    client.views_open(trigger_id=trigger_id, view=view)


def delete(services: Services, origin: Origin, event_id: int) -> Message:
    """The list's *Delete*: remove the event (whoever logged or said it, the commander or a
    POSTMORTEM_ADMINS member; never the declaration); the refreshed list, noting what was
    deleted."""
    now = services.clock()
    with services.db.session() as session:
        event = get_event(session, team_id=origin.team_id, event_id=event_id)
        incident = event.incident
        removed = blocks.event_line(event, now=now, limit=200)
        delete_event(session, event, by=origin.user_id, admins=services.settings.admins)
        session.flush()
        events, total = latest_events(session, incident, blocks.LIST_LIMIT)
        text, message = blocks.timeline_list(incident, events, total, now=now)
    message.append(blocks.context_block(f"Deleted: {removed}"))
    return text, message


def save_edit(services: Services, origin: Origin, edit: EventEdit) -> str | dict[str, str]:
    """Store an edited event (committed on return); its new line, or the modal's inline
    errors when nothing was saved: a person who may not edit it (not whoever logged or said
    it, the commander or a POSTMORTEM_ADMINS member) is told next to the text, and what the
    event's key time forbids (its kind, moving the declaration, contradicting key times) next
    to the field that asked for it."""
    if edit.errors:
        return dict(edit.errors)
    assert edit.occurred_at is not None  # no "time" error
    now, by, admins = services.clock(), origin.user_id, services.settings.admins
    field = "text"
    try:
        with services.db.session() as session:
            event = get_event(session, team_id=origin.team_id, event_id=edit.event_id)
            check_can_change(event, by=by, admins=admins, action="edit")
            field = "kind" if edit.kind is not event.kind else "time"
            edit_event(
                session,
                event,
                text=edit.text,
                kind=edit.kind,
                occurred_at=edit.occurred_at,
                by=by,
                now=now,
                admins=admins,
            )
            return blocks.event_line(event, now=now, limit=300)
    except UserError as error:  # raised inside the transaction: nothing of it was kept
        return {field: error.message}


def react(client: WebClient, channel: str, ts: str, emoji: str) -> None:
    """Mark a message as on the timeline (already marked is fine)."""
    try:
        client.reactions_add(channel=channel, timestamp=ts, name=emoji)
    except SlackApiError as error:
        if error.response.get("error") != "already_reacted":
            raise


def jobs(services: Services) -> list[JobSpec]:
    fast = outbox.Lane.FAST
    return [
        JobSpec(AFTER_SHORTCUT, fast, lambda run: run_after_shortcut(services, run)),
        JobSpec(ADD_REACTED, fast, lambda run: run_add_reacted(services, run)),
        JobSpec(REMOVE_REACTED, fast, lambda run: run_remove_reacted(services, run)),
    ]

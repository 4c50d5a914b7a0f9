"""`/incident`: the change is recorded with the messages it implies (outbox jobs) in one
transaction, before the ack; the answer for the person who asked is returned (no Bolt)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from slack_sdk import WebClient
from sqlalchemy.orm import Session

from bot.capture.flows import enqueue_backfill
from bot.core.errors import UserError
from bot.core.visibility import may_show_in_channel
from bot.incidents import blocks
from bot.incidents.commands import (
    KeyTimesEdit,
    SetComponents,
    SetKeyTime,
    SetSeverity,
    SetStatus,
    Update,
    read_time,
)
from bot.incidents.keytime_service import key_times_of
from bot.incidents.keytimes import SETTABLE, metrics
from bot.incidents.service import (
    NO_INCIDENT_HINT,
    Workspace,
    change_severity,
    change_status,
    declare_incident,
    latest_incident_in_channel,
    reopen_incident,
    require_open_incident,
    save_key_times,
    set_key_time,
)
from bot.membership.flows import members_now, record_members
from bot.services import Services
from bot.slack.channels import prepare_incident_channel
from bot.slack.event_claims import claim_event
from bot.slack.origin import Origin
from bot.slack.posting import enqueue_post
from bot.slack.users import user_timezone
from bot.status import blocks as status_blocks
from bot.status.flows import enqueue_stakeholder_post
from bot.status.service import incident_components, post_update, set_components
from storage.models import Incident, IncidentStatus, KeyTime, Severity

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
    read_at = services.clock()
    members = members_now(client, origin.channel_id)  # who may see it, if it is private
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
        record_members(session, origin.team_id, origin.channel_id, members, read_at=read_at)


def status_summary(services: Services, origin: Origin) -> Message | None:
    """This channel's incident with its key times and metrics, for `/incident status` (None:
    the channel has none)."""
    with services.db.session() as session:
        latest = latest_incident_in_channel(session, origin.team_id, origin.channel_id)
        if latest is None:
            return None
        times = key_times_of(session, latest)
        return blocks.incident_summary(
            latest, now=services.clock(), key_times=(times, metrics(times))
        )


def _timezone(services: Services, client: WebClient, origin: Origin) -> str:
    """The person's Slack time zone (read before any transaction: it may ask Slack)."""
    return user_timezone(
        services.db,
        client,
        team_id=origin.team_id,
        user_id=origin.user_id,
        now=services.clock(),
    )


def change(
    services: Services,
    client: WebClient,
    origin: Origin,
    parsed: SetSeverity | SetStatus,
    *,
    reply_to: str | None,
) -> str | None:
    """A severity or status change, announced in the channel; a resolution is also told to
    STATUS_UPDATES_CHANNEL (never for a private incident: the returned note says so).

    `/incident mitigated at 14:32` reads the time in the person's zone. It may change the
    status (announced as usual) or, for an incident already there, only correct the key time
    (a resolved incident's times can be corrected too); either way the private answer says
    which moment was read and what the metrics are now."""
    now, user, team = services.clock(), origin.user_id, origin.team_id
    at: datetime | None = None
    tz: str | None = None
    if isinstance(parsed, SetStatus) and parsed.at_words is not None:
        tz = _timezone(services, client, origin)
        at = read_time(parsed.at_words, now=now, tz_name=tz, what=parsed.status.value)
    with services.db.session() as session:
        if isinstance(parsed, SetSeverity):
            incident = require_open_incident(session, team, origin.channel_id)
            previous = change_severity(session, incident, parsed.severity, by=user, now=now)
            _post(
                session,
                origin,
                blocks.severity_changed(incident, previous=previous, by=user),
                reply_to=reply_to,
                what=f"the change to {incident.key}",
            )
            return None
        if at is None:
            incident = require_open_incident(session, team, origin.channel_id)
        else:
            incident = _channel_incident(session, team, origin.channel_id)
        result = change_status(session, incident, parsed.status, by=user, now=now, at=at)
        answer: str | None = None
        if result.key_time_set:
            times = key_times_of(session, incident)
            moment = times.get(STATUS_KEY_TIMES[parsed.status])
            answer = blocks.key_time_answer(incident, moment, metrics(times), tz_name=tz)
            if not result.changed:
                _post(
                    session,
                    origin,
                    blocks.key_time_set(incident, moment, by=user),
                    reply_to=reply_to,
                    what=f"the change to {incident.key}",
                )
                return answer
        _post(
            session,
            origin,
            blocks.status_changed(incident, by=user, now=at or now),
            reply_to=reply_to,
            what=f"the change to {incident.key}",
        )
        note = _tell_stakeholders_resolved(services, session, origin, incident, reply_to=reply_to)
    return "\n\n".join(part for part in (answer, note) if part) or None


def _channel_incident(session: Session, team_id: str, channel_id: str) -> Incident:
    """The channel's incident, open or resolved (its times can be corrected after the end),
    or a UserError in /incident's words."""
    incident = latest_incident_in_channel(session, team_id, channel_id)
    if incident is None:
        raise UserError(NO_INCIDENT_HINT)
    return incident


STATUS_KEY_TIMES = {
    IncidentStatus.MITIGATED: KeyTime.MITIGATED,
    IncidentStatus.RESOLVED: KeyTime.RESOLVED,
}


def _post(
    session: Session,
    origin: Origin,
    message: Message,
    *,
    reply_to: str | None = None,
    what: str | None = None,
) -> None:
    """Say `message` in the request's channel, once the transaction commits."""
    text, message_blocks = message
    enqueue_post(
        session,
        team_id=origin.team_id,
        channel=origin.channel_id,
        text=text,
        blocks=message_blocks,
        reply_to=reply_to,
        what=what,
    )


def _tell_stakeholders_resolved(
    services: Services,
    session: Session,
    origin: Origin,
    incident: Incident,
    *,
    reply_to: str | None,
) -> str | None:
    """The resolution notice for STATUS_UPDATES_CHANNEL (after the channel's own message);
    a private incident's is not shared, and the returned note says so."""
    stakeholders = services.settings.status_updates_channel
    if incident.resolved_at is None or not stakeholders or stakeholders == origin.channel_id:
        return None
    if not may_show_in_channel(incident, stakeholders):
        return status_blocks.private_not_shared("the resolution notice")
    notice = status_blocks.resolution_notice(incident, incident_components(session, incident))
    enqueue_stakeholder_post(
        session,
        team_id=origin.team_id,
        channel=stakeholders,
        message=notice,
        what="the resolution notice",
        reply_to=reply_to,
        incident_id=incident.id,
    )
    return None


def set_key_time_by_command(
    services: Services, client: WebClient, origin: Origin, parsed: SetKeyTime
) -> str:
    """`/incident impact started 13:58`: set the key time (read in the person's zone), tell
    the channel; the private answer says what was read and what the metrics are now. Times
    that contradict each other are refused (KeyTimeConflict) and nothing is saved."""
    now, user = services.clock(), origin.user_id
    tz = _timezone(services, client, origin)
    at = read_time(parsed.at_words, now=now, tz_name=tz, what=parsed.kind.label.lower())
    with services.db.session() as session:
        incident = _channel_incident(session, origin.team_id, origin.channel_id)
        times = set_key_time(session, incident, parsed.kind, at, by=user, now=now)
        moment = times.get(parsed.kind)
        _post(session, origin, blocks.key_time_set(incident, moment, by=user))
        return blocks.key_time_answer(incident, moment, metrics(times), tz_name=tz)


def key_times_view(services: Services, origin: Origin) -> dict[str, Any]:
    """The *Edit key times* modal for this channel's incident (read from the database only:
    the listener opens it at once, since its trigger expires 3 s after the command)."""
    with services.db.session() as session:
        incident = _channel_incident(session, origin.team_id, origin.channel_id)
        times = key_times_of(session, incident)
        return blocks.key_times_modal(incident, times, channel_id=origin.channel_id)


GONE = (
    "This incident no longer exists in this workspace; close this and run `/incident times` again."
)


def save_key_times_from_modal(
    services: Services, origin: Origin, edit: KeyTimesEdit
) -> dict[str, str] | str:
    """Store the modal's key times all at once, and tell the channel about each one that
    changed; returns the errors to show next to the fields (nothing saved), or the private
    confirmation."""
    if edit.errors:
        return edit.errors
    now, user = services.clock(), origin.user_id
    with services.db.session() as session:
        incident = session.get(Incident, edit.incident_id)
        if incident is None or incident.team_id != origin.team_id:
            return {SETTABLE[0].value: GONE}
        before = key_times_of(session, incident)
        errors = save_key_times(session, incident, edit.values, by=user, now=now)
        if errors:
            return {kind.value: message[:MAX_FIELD_ERROR] for kind, message in errors.items()}
        after = key_times_of(session, incident)
        changed = [
            kind
            for kind in SETTABLE
            if (before.get(kind).at, before.get(kind).derived)
            != (after.get(kind).at, after.get(kind).derived)
        ]
        for kind in changed:
            text, message = blocks.key_time_set(incident, after.get(kind), by=user)
            enqueue_post(
                session,
                team_id=incident.team_id,
                channel=incident.channel_id,
                text=text,
                blocks=message,
            )
        return blocks.key_times_saved(incident, changed, after, metrics(after))


MAX_FIELD_ERROR = 300  # keep an inline error readable next to its field


def reopen(services: Services, origin: Origin, *, reply_to: str | None) -> None:
    """`/incident reopen`: active again, announced in the channel. Stakeholders who were told
    it was resolved (STATUS_UPDATES_CHANNEL, public incidents only) are told it is not; a
    mitigated incident was never announced to them, so they hear nothing."""
    now, user = services.clock(), origin.user_id
    stakeholders = services.settings.status_updates_channel
    with services.db.session() as session:
        incident = _channel_incident(session, origin.team_id, origin.channel_id)
        was = incident.status
        reopen_incident(session, incident, by=user, now=now)
        _post(
            session,
            origin,
            blocks.incident_reopened(incident, by=user, was=was),
            reply_to=reply_to,
            what=f"the reopening of {incident.key}",
        )
        told = was is IncidentStatus.RESOLVED and may_show_in_channel(incident, stakeholders or "")
        if told and stakeholders and stakeholders != origin.channel_id:
            enqueue_stakeholder_post(
                session,
                team_id=origin.team_id,
                channel=stakeholders,
                message=status_blocks.reopened_notice(
                    incident, incident_components(session, incident)
                ),
                what="the reopening",
                reply_to=reply_to,
                incident_id=incident.id,
            )


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
                incident_id=incident.id,
            )
    return None

"""Follow-up orchestration for listeners: create (command, shortcut, modal), change (buttons,
`/followup done`), list and export; each change refreshes the announcement, notes it in its
thread and moves the Jira issue (no Bolt). Slack is never called inside a transaction."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.orm import Session

from bot.core.dates import check_due_date, local_today
from bot.core.errors import UserError
from bot.followups import announcement, blocks, modal
from bot.followups.commands import (
    CreateFollowUp,
    Export,
    FollowUpRef,
    ListScope,
    NewFollowUp,
    resolve,
)
from bot.followups.service import (
    Change,
    SourceMessage,
    change_due_date,
    change_status,
    create_followup,
    find_followup,
    get_followup,
    incident_for_followup,
    list_followups,
    reassign,
)
from bot.incidents.service import latest_incident_in_channel
from bot.jira.export import ExportResult
from bot.jira.flows import JiraSync
from bot.services import Services
from bot.slack.messages import permalink
from bot.slack.mrkdwn import from_editable
from bot.slack.origin import Origin
from bot.slack.users import user_timezone
from storage.models import FollowUp, FollowUpField, FollowUpStatus

log = logging.getLogger("postmortem_bot.followups")

STALE = "That button is out of date: use the latest message of the follow-up, or App Home."
Message = tuple[str, list[dict[str, Any]]]
ChangeFn = Callable[[Session, FollowUp], Change | None]


def announce(services: Services, client: WebClient, followup: FollowUp) -> None:
    """Post a new follow-up in its channel; with JIRA_AUTO_EXPORT, export it too."""
    jira = services.jira
    announcement.announce(client, services.db, followup, jira_enabled=jira is not None)
    if jira is not None and services.settings.jira_auto_export:
        result = jira.export(client, followup.team_id, followup.id, by=followup.created_by)
        if not result.ok:
            log.info("auto-export of %s failed; retried by the sync job", followup.key)


def publish_change(
    services: Services, client: WebClient, followup: FollowUp, change: Change | None
) -> None:
    """Refresh the announcement, note the change in its thread, and move the Jira issue."""
    jira = services.jira
    announcement.publish_change(client, followup, change, jira_enabled=jira is not None)
    if jira is not None and change is not None and change.field is FollowUpField.STATUS:
        jira.status_changed(client, followup)


def followup_id(raw: object) -> int:
    """A follow-up id from a button value or block id; anything else is a stale control."""
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str) and re.fullmatch(r"[0-9]{1,9}", raw):
        return int(raw)
    raise UserError(STALE)


def change_followup(
    services: Services, client: WebClient, team_id: str, raw_id: object, change: ChangeFn
) -> FollowUp:
    """Load a follow-up of this workspace by the id a control carried and change it in one
    transaction (a stale or foreign id is a UserError), then publish the change."""
    with services.db.session() as session:
        followup = get_followup(session, team_id=team_id, followup_id=followup_id(raw_id))
        changed = change(session, followup)
    publish_change(services, client, followup, changed)
    return followup


def mark_done(services: Services, client: WebClient, origin: Origin, ref: FollowUpRef) -> str:
    """`/followup done <id>`; the private confirmation."""
    with services.db.session() as session:
        followup = find_followup(
            session, team_id=origin.team_id, channel_id=origin.channel_id, ref=ref
        )
        change = change_status(
            session, followup, FollowUpStatus.DONE, by=origin.user_id, now=services.clock()
        )
    publish_change(services, client, followup, change)
    return f"Marked {followup.key} done."


def set_status(services: Services, client: WebClient, origin: Origin, value: object) -> None:
    """A status button on the announcement: its value is `<id>:<status>`."""
    raw_id, _, raw_status = str(value or "").partition(":")
    status, by, now = _status(raw_status), origin.user_id, services.clock()
    change_followup(
        services,
        client,
        origin.team_id,
        raw_id,
        lambda session, item: change_status(session, item, status, by=by, now=now),
    )


def set_owner(
    services: Services, client: WebClient, origin: Origin, block_id: str, owner: str | None
) -> None:
    """The owner picker on the announcement (no owner: unassigned)."""
    by, now = origin.user_id, services.clock()
    change_followup(
        services,
        client,
        origin.team_id,
        blocks.followup_id_from_block(block_id),
        lambda session, item: reassign(session, item, owner, by=by, now=now),
    )


def set_due_date(
    services: Services, client: WebClient, origin: Origin, block_id: str, selected: object
) -> None:
    """The due-date picker on the announcement; a date in the past (for them) is refused."""
    now, due, team, by = services.clock(), _date(selected), origin.team_id, origin.user_id
    tz = user_timezone(services.db, client, team_id=team, user_id=by, now=now)
    check_due_date(due, today=local_today(now, tz))
    change_followup(
        services,
        client,
        team,
        blocks.followup_id_from_block(block_id),
        lambda session, item: change_due_date(session, item, due, by=by, now=now),
    )


def list_answer(
    services: Services, client: WebClient, origin: Origin, scope: ListScope | None
) -> Message:
    """`/followup list [scope]`: by default this incident's, or yours outside incident channels."""
    now, db = services.clock(), services.db
    tz = user_timezone(db, client, team_id=origin.team_id, user_id=origin.user_id, now=now)
    today = local_today(now, tz)
    with db.session() as session:
        incident = latest_incident_in_channel(session, origin.team_id, origin.channel_id)
        scope = scope or (ListScope.INCIDENT if incident else ListScope.MINE)
        page = list_followups(
            session,
            scope,
            team_id=origin.team_id,
            user_id=origin.user_id,
            incident=incident,
            today=today,
            limit=blocks.LIST_LIMIT,
        )
        heading = blocks.list_heading(scope, incident_key=incident.key if incident else None)
        return blocks.followup_list(heading, page, today=today)


def create_from_command(
    services: Services,
    client: WebClient,
    origin: Origin,
    parsed: CreateFollowUp,
    *,
    request_key: str | None,
) -> None:
    """`/followup <title> [@owner] [due <date>] [p1-p4]`: once per request, then announced."""
    db, team, channel = services.db, origin.team_id, origin.channel_id
    with db.session() as session:
        incident_for_followup(session, team, channel)  # fail fast, before any API call
    now = services.clock()
    tz = user_timezone(db, client, team_id=team, user_id=origin.user_id, now=now)
    days = services.settings.followup_default_due_days
    new = resolve(parsed, now=now, tz_name=tz, default_days=days)
    with db.session() as session:
        incident = incident_for_followup(session, team, channel)
        followup, created = create_followup(
            session, incident, new, created_by=origin.user_id, now=now, request_key=request_key
        )
    if created:
        announce(services, client, followup)


def open_create_modal(
    services: Services,
    client: WebClient,
    origin: Origin,
    message: dict[str, Any],
    trigger_id: str,
) -> None:
    """The *Create follow-up* shortcut: open the modal prefilled from the message at once (the
    trigger expires 3 s after the click), then fill in what needs Slack (link, time zone)."""
    db, team, channel = services.db, origin.team_id, origin.channel_id
    with db.session() as session:
        incident_for_followup(session, team, channel)  # fast: the database, not Slack
    now, days = services.clock(), services.settings.followup_default_due_days
    origin_ref = modal.ModalOrigin(channel, message.get("ts"), None)
    text = message.get("text") or ""
    view = modal.create_modal(
        message_text=text, origin=origin_ref, due=local_today(now, None) + timedelta(days=days)
    )
    opened = client.views_open(trigger_id=trigger_id, view=view)["view"]
    link = permalink(client, channel, message["ts"]) if message.get("ts") else None
    tz = user_timezone(db, client, team_id=team, user_id=origin.user_id, now=now)
    origin_ref = modal.ModalOrigin(channel, message.get("ts"), link)
    view = modal.create_modal(
        message_text=text, origin=origin_ref, due=local_today(now, tz) + timedelta(days=days)
    )
    try:
        client.views_update(view_id=opened["id"], hash=opened["hash"], view=view)
    except SlackApiError as error:  # already submitted, closed, or edited: keep theirs
        log.info("follow-up modal not refreshed: %s", error.response.get("error"))


def save_from_modal(
    services: Services, client: WebClient, origin: Origin, view: dict[str, Any]
) -> FollowUp | dict[str, str] | None:
    """Store the modal's follow-up (committed on return; once per view). Returns the new
    follow-up to announce, None if this view already made one, or the inline errors."""
    now, db, team_id, user_id = services.clock(), services.db, origin.team_id, origin.user_id
    source_ref = modal.read_origin(view)
    form, errors = modal.read_modal(view["state"]["values"])
    tz = user_timezone(db, client, team_id=team_id, user_id=user_id, now=now)
    if form.due is not None:
        try:
            check_due_date(form.due, today=local_today(now, tz))
        except UserError as error:
            errors["due"] = error.message
    if errors:
        return errors
    assert form.due is not None
    new = NewFollowUp(from_editable(form.title), form.owner_id, form.due, form.priority)
    source = None
    if source_ref.message_ts:
        source = SourceMessage(source_ref.channel_id, source_ref.message_ts, source_ref.permalink)
    with db.session() as session:
        try:
            incident = incident_for_followup(session, team_id, source_ref.channel_id)
        except UserError as error:
            return {"title": error.message}
        followup, created = create_followup(
            session,
            incident,
            new,
            created_by=user_id,
            now=now,
            description=from_editable(form.description),
            source=source,
            request_key=f"view:{view['id']}",
        )
    return followup if created else None


def export(services: Services, client: WebClient, origin: Origin, parsed: Export) -> str:
    """`/followup export <id>|all`; the private answer."""
    sync = jira_required(services.jira)
    team = origin.team_id
    with services.db.session() as session:
        if parsed.ref is None:
            incident = incident_for_followup(session, team, origin.channel_id)
            incident_id, incident_key = incident.id, incident.key
        else:
            ref = find_followup(session, team_id=team, channel_id=origin.channel_id, ref=parsed.ref)
            followup_id_ = ref.id
    if parsed.ref is None:
        results = sync.export_incident(client, team, incident_id, by=origin.user_id)
        return export_answer(results, all_of=incident_key)
    return export_answer([sync.export(client, team, followup_id_, by=origin.user_id)])


def export_button(services: Services, client: WebClient, origin: Origin, value: object) -> str:
    """The *Export to Jira* / *Retry Jira export* button; the private answer."""
    sync, team = jira_required(services.jira), origin.team_id
    with services.db.session() as session:
        followup = get_followup(session, team_id=team, followup_id=followup_id(value))
    return export_answer([sync.export(client, team, followup.id, by=origin.user_id)])


def export_answer(results: list[ExportResult], *, all_of: str | None = None) -> str:
    """The ephemeral answer to an export: what was created, what failed and what happens next."""
    if not results:
        return f"{all_of} has no open follow-ups to export." if all_of else "Nothing to export."
    lines = []
    for result in results:
        key = result.followup.key
        if result.already:
            lines.append(f"{key} is already in Jira: <{result.issue_url}|{result.issue_key}>.")
        elif result.busy:
            lines.append(f"{key} is being exported right now; its announcement will show the link.")
        elif result.ok:
            line = f"Exported {key} to Jira: <{result.issue_url}|{result.issue_key}>."
            if result.assignee_note:
                line += f" {result.assignee_note}"
            lines.append(line)
        else:
            when = f"{result.next_attempt_at:%H:%M} UTC" if result.next_attempt_at else "later"
            lines.append(
                f":warning: {key} was not exported: {result.error} The follow-up is safe; the "
                f"export is retried automatically (next try {when}), or run "
                f"`/followup export {key}` again."
            )
    return "\n".join(lines)


def jira_required(jira: JiraSync | None) -> JiraSync:
    if jira is None:
        raise UserError(
            "Jira isn't set up for this bot. An admin sets JIRA_URL, JIRA_PROJECT and "
            "JIRA_EMAIL + JIRA_API_TOKEN (or JIRA_PERSONAL_ACCESS_TOKEN); see the README."
        )
    return jira


def _status(raw: str) -> FollowUpStatus:
    try:
        return FollowUpStatus(raw)
    except ValueError:
        raise UserError(STALE) from None


def _date(raw: object) -> date:
    try:
        return date.fromisoformat(str(raw))
    except ValueError:
        raise UserError("Pick a date with the date picker.") from None

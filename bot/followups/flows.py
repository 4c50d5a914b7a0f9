"""Follow-ups: each creation or change is recorded before the ack together with what it implies
in Slack and Jira (outbox jobs: the announcement, its refresh and the note in its thread, the
Jira export or status push); the jobs run those afterwards, once each (no Bolt)."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.orm import Session

from bot.core import outbox
from bot.core.dates import check_due_date, local_today
from bot.core.errors import UserError
from bot.core.outbox_worker import JobRun, JobSpec
from bot.core.visibility import hidden_incident_ids
from bot.followups import announcement, blocks, modal
from bot.followups.commands import (
    Assign,
    CreateFollowUp,
    Export,
    FollowUpRef,
    ListScope,
    NewFollowUp,
    SetDue,
    resolve,
    resolve_due,
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
    open_followup_ids,
    reassign,
    set_announcement,
)
from bot.incidents.service import latest_incident_in_channel
from bot.jira import outbound
from bot.jira.export import ExportResult
from bot.jira.flows import JiraSync
from bot.services import Services
from bot.slack.messages import permalink
from bot.slack.mrkdwn import from_editable
from bot.slack.once import post_once
from bot.slack.origin import Origin
from bot.slack.posting import channel_key, client_or_fail
from bot.slack.users import require_user, user_timezone
from storage.models import FollowUp, FollowUpField, FollowUpStatus

log = logging.getLogger("postmortem_bot.followups")

ANNOUNCE = "followups.announce"
PUBLISH_CHANGE = "followups.publish_change"
REFRESH_MODAL = "followups.refresh_modal"
EXPORT = "jira.export"
PUSH_STATUS = "jira.push_status"

STALE = "That button is out of date: use the latest message of the follow-up, or App Home."
Message = tuple[str, list[dict[str, Any]]]
ChangeFn = Callable[[Session, FollowUp], Change | None]


# -- recording (before the ack) -----------------------------------------------------------------


def enqueue_announce(session: Session, services: Services, followup: FollowUp) -> None:
    """Announce a new follow-up in its channel (and export it, with JIRA_AUTO_EXPORT)."""
    channel = followup.incident.channel_id
    outbox.enqueue(
        session,
        ANNOUNCE,
        {"followup_id": followup.id},
        team_id=followup.team_id,
        ordering_key=channel_key(followup.team_id, channel),
    )
    if services.jira is not None and services.settings.jira_auto_export:
        enqueue_export(session, followup.team_id, [followup.id], by=followup.created_by)


def enqueue_change(
    session: Session, services: Services, followup: FollowUp, change: Change | None
) -> None:
    """Publish a change (refresh the announcement, note it in its thread) and, for a status
    change of an exported follow-up, move its Jira issue."""
    if change is None:
        return
    channel = followup.announcement_channel_id or followup.incident.channel_id
    outbox.enqueue(
        session,
        PUBLISH_CHANGE,
        {"followup_id": followup.id, "note": blocks.change_note(followup, change)},
        team_id=followup.team_id,
        ordering_key=channel_key(followup.team_id, channel),
    )
    if (
        services.jira is not None
        and change.field is FollowUpField.STATUS
        and outbound.request_push(session, followup.id)
    ):
        outbox.enqueue(
            session,
            PUSH_STATUS,
            {"followup_id": followup.id},
            team_id=followup.team_id,
            lane=outbox.Lane.SLOW,
            ordering_key=f"jira:{followup.team_id}:{followup.id}",
        )


def enqueue_export(
    session: Session, team_id: str, ids: list[int], *, by: str, reply_to: str | None = None
) -> None:
    outbox.enqueue(
        session,
        EXPORT,
        {"followup_ids": ids, "by": by, "reply_to": reply_to},
        team_id=team_id,
        lane=outbox.Lane.SLOW,
    )


def followup_id(raw: object) -> int:
    """A follow-up id from a button value or block id; anything else is a stale control."""
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str) and re.fullmatch(r"[0-9]{1,9}", raw):
        return int(raw)
    raise UserError(STALE)


def change_followup(
    services: Services, team_id: str, raw_id: object, change: ChangeFn
) -> tuple[FollowUp, Change | None]:
    """Load a follow-up of this workspace by the id a control carried and change it, with what
    the change implies, in one transaction (a stale or foreign id is a UserError)."""
    with services.db.session() as session:
        followup = get_followup(session, team_id=team_id, followup_id=followup_id(raw_id))
        done = change(session, followup)
        enqueue_change(session, services, followup, done)
        return followup, done


def _answer(followup: FollowUp, field: FollowUpField, done: Change | None) -> str:
    return blocks.confirmation(followup, field) if done else blocks.unchanged(followup, field)


def mark_done(services: Services, origin: Origin, ref: FollowUpRef) -> str:
    """`/followup done <id>`; the private confirmation."""
    return change_status_by_command(services, origin, ref, FollowUpStatus.DONE)


def change_status_by_command(
    services: Services, origin: Origin, ref: FollowUpRef, status: FollowUpStatus
) -> str:
    """`/followup start|done|wontdo|reopen <id>`: as the buttons do (the announcement is
    refreshed and the change noted in its thread; an exported one moves in Jira); the private
    confirmation."""
    with services.db.session() as session:
        followup = find_followup(
            session, team_id=origin.team_id, channel_id=origin.channel_id, ref=ref
        )
        change = change_status(session, followup, status, by=origin.user_id, now=services.clock())
        enqueue_change(session, services, followup, change)
        return blocks.confirmation(followup, FollowUpField.STATUS)


def assign_by_command(services: Services, client: WebClient, origin: Origin, parsed: Assign) -> str:
    """`/followup assign <id> @someone|nobody`: someone Slack does not know in this workspace
    is refused before anything is saved; the private confirmation."""
    now = services.clock()
    if parsed.owner_id is not None:
        require_user(services.db, client, team_id=origin.team_id, user_id=parsed.owner_id, now=now)
    with services.db.session() as session:
        followup = find_followup(
            session, team_id=origin.team_id, channel_id=origin.channel_id, ref=parsed.ref
        )
        change = reassign(session, followup, parsed.owner_id, by=origin.user_id, now=now)
        enqueue_change(session, services, followup, change)
        return _answer(followup, FollowUpField.OWNER, change)


def set_due_by_command(
    services: Services, client: WebClient, origin: Origin, parsed: SetDue
) -> str:
    """`/followup due <id> <date>`: the date read in the person's zone, refused in the past;
    the private confirmation."""
    now, team = services.clock(), origin.team_id
    with services.db.session() as session:  # fail fast on a wrong id, before Slack
        find_followup(session, team_id=team, channel_id=origin.channel_id, ref=parsed.ref)
    tz = user_timezone(services.db, client, team_id=team, user_id=origin.user_id, now=now)
    due = check_due_date(
        resolve_due(parsed, now=now, tz_name=tz),
        today=local_today(now, tz),
        shown=parsed.due_text,
    )
    with services.db.session() as session:
        followup = find_followup(
            session, team_id=team, channel_id=origin.channel_id, ref=parsed.ref
        )
        change = change_due_date(session, followup, due, by=origin.user_id, now=now)
        enqueue_change(session, services, followup, change)
        return _answer(followup, FollowUpField.DUE_DATE, change)


def set_status(services: Services, origin: Origin, value: object) -> str:
    """A status button on the announcement: its value is `<id>:<status>`; the private
    confirmation."""
    raw_id, _, raw_status = str(value or "").partition(":")
    status, by, now = _status(raw_status), origin.user_id, services.clock()
    followup, done = change_followup(
        services,
        origin.team_id,
        raw_id,
        lambda session, item: change_status(session, item, status, by=by, now=now),
    )
    return _answer(followup, FollowUpField.STATUS, done)


def set_owner(services: Services, origin: Origin, block_id: str, owner: str | None) -> str:
    """The owner picker on the announcement (no owner: unassigned); the private confirmation."""
    by, now = origin.user_id, services.clock()
    followup, done = change_followup(
        services,
        origin.team_id,
        blocks.followup_id_from_block(block_id),
        lambda session, item: reassign(session, item, owner, by=by, now=now),
    )
    return _answer(followup, FollowUpField.OWNER, done)


def set_due_date(
    services: Services, client: WebClient, origin: Origin, block_id: str, selected: object
) -> str:
    """The due-date picker on the announcement; a date in the past (for them) is refused. The
    private confirmation."""
    now, due, team, by = services.clock(), _date(selected), origin.team_id, origin.user_id
    tz = user_timezone(services.db, client, team_id=team, user_id=by, now=now)
    check_due_date(due, today=local_today(now, tz))
    followup, done = change_followup(
        services,
        team,
        blocks.followup_id_from_block(block_id),
        lambda session, item: change_due_date(session, item, due, by=by, now=now),
    )
    return _answer(followup, FollowUpField.DUE_DATE, done)


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
        hidden = hidden_incident_ids(session, (f.incident for f in page.items), origin.user_id)
        return blocks.followup_list(heading, page, today=today, hidden=hidden)


def create_from_command(
    services: Services,
    client: WebClient,
    origin: Origin,
    parsed: CreateFollowUp,
    *,
    request_key: str | None,
) -> None:
    """`/followup <title> [@owner] [due <date>] [p1-p4]`: once per request, announced after."""
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
            enqueue_announce(session, services, followup)


def open_create_modal(
    services: Services,
    client: WebClient,
    origin: Origin,
    message: dict[str, Any],
    trigger_id: str,
) -> None:
    """The *Create follow-up* shortcut: open the modal prefilled from the message at once (the
    trigger expires 3 s after the click); a job then fills in what needs Slack (the message's
    link, the person's time zone for the default due date)."""
    db, team, channel = services.db, origin.team_id, origin.channel_id
    with db.session() as session:
        incident_for_followup(session, team, channel)  # fast: the database, not Slack
    now, days = services.clock(), services.settings.followup_default_due_days
    text = message.get("text") or ""
    view = modal.create_modal(
        message_text=text,
        origin=modal.ModalOrigin(channel, message.get("ts"), None),
        due=local_today(now, None) + timedelta(days=days),
    )
    opened = client.views_open(trigger_id=trigger_id, view=view)["view"]
    with db.session() as session:
        outbox.enqueue(
            session,
            REFRESH_MODAL,
            {
                "view_id": opened["id"],
                "hash": opened["hash"],
                "channel": channel,
                "ts": message.get("ts"),
                "text": text,
                "user": origin.user_id,
            },
            team_id=team,
        )


def run_refresh_modal(services: Services, run: JobRun) -> None:
    job, payload = run.job, run.job.payload
    client = client_or_fail(services.client_for, job.team_id)
    channel, ts, user = str(payload["channel"]), payload.get("ts"), str(payload["user"])
    now, days = services.clock(), services.settings.followup_default_due_days
    link = permalink(client, channel, str(ts)) if ts else None
    tz = user_timezone(services.db, client, team_id=job.team_id, user_id=user, now=now)
    view = modal.create_modal(
        message_text=str(payload.get("text") or ""),
        origin=modal.ModalOrigin(channel, ts, link),
        due=local_today(now, tz) + timedelta(days=days),
    )
    try:
        client.views_update(view_id=payload["view_id"], hash=payload["hash"], view=view)
    except SlackApiError as error:  # already submitted, closed, or edited: keep theirs
        log.info("follow-up modal not refreshed: %s", error.response.get("error"))


def save_from_modal(
    services: Services, client: WebClient, origin: Origin, view: dict[str, Any]
) -> dict[str, str] | None:
    """Store the modal's follow-up with its announcement (committed on return; once per view).
    Returns the inline errors when nothing was saved."""
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
        if created:
            enqueue_announce(session, services, followup)
    return None


def export(services: Services, origin: Origin, parsed: Export, *, reply_to: str | None) -> str:
    """`/followup export <id>|all`: the export is a job (Jira may be slow or down); the answer
    now says it started, and the result comes privately when Jira has answered."""
    jira_required(services.jira)
    team = origin.team_id
    with services.db.session() as session:
        if parsed.ref is None:
            incident = incident_for_followup(session, team, origin.channel_id)
            ids = open_followup_ids(session, incident)
            if not ids:
                return export_answer([], all_of=incident.key)
            what = f"{len(ids)} open follow-up{'s' if len(ids) != 1 else ''} of {incident.key}"
        else:
            found = find_followup(
                session, team_id=team, channel_id=origin.channel_id, ref=parsed.ref
            )
            ids, what = [found.id], found.key
        enqueue_export(session, team, ids, by=origin.user_id, reply_to=reply_to)
    return f"Exporting {what} to Jira… I'll tell you here when Jira has answered."


def export_button(services: Services, origin: Origin, value: object, reply_to: str | None) -> None:
    """The *Export to Jira* / *Retry Jira export* button (the answer comes when Jira has)."""
    jira_required(services.jira)
    with services.db.session() as session:
        found = get_followup(session, team_id=origin.team_id, followup_id=followup_id(value))
        enqueue_export(session, origin.team_id, [found.id], by=origin.user_id, reply_to=reply_to)


def export_answer(results: list[ExportResult], *, all_of: str | None = None) -> str:
    """The private answer to an export: what was created, what failed and what happens next."""
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


# -- jobs (after the ack) -----------------------------------------------------------------------


def run_announce(services: Services, run: JobRun) -> None:
    """Post the announcement (once) and remember where, in the transaction that ends the job."""
    job = run.job
    client = client_or_fail(services.client_for, job.team_id)
    with services.db.session() as session:
        followup = session.get_one(FollowUp, int(job.payload["followup_id"]))
        if followup.announcement_ts:
            return  # announced already
        channel = followup.incident.channel_id
        text, message = blocks.announcement(followup, jira_enabled=services.jira is not None)
    ts = post_once(client, job, channel=channel, text=text, blocks=message)
    link = permalink(client, channel, ts)
    with services.db.session() as session:
        set_announcement(session, followup.id, channel_id=channel, ts=ts, permalink=link)
        run.finish_in(session)


def run_publish_change(services: Services, run: JobRun) -> None:
    """Refresh the announcement to the follow-up's current state; note the change in its
    thread (once)."""
    job = run.job
    client = client_or_fail(services.client_for, job.team_id)
    with services.db.session() as session:
        followup = session.get_one(FollowUp, int(job.payload["followup_id"]))
        _ = followup.incident, followup.jira_link
    if not followup.announcement_ts or not followup.announcement_channel_id:
        return  # never announced (its announcement failed for good): nothing to refresh
    announcement.refresh(client, followup, jira_enabled=services.jira is not None)
    post_once(
        client,
        job,
        channel=followup.announcement_channel_id,
        text=str(job.payload["note"]),
        thread_ts=followup.announcement_ts,
    )


def run_export(services: Services, run: JobRun) -> None:
    job, payload = run.job, run.job.payload
    sync = jira_required(services.jira)
    client = services.client_for(job.team_id)
    ids = [int(i) for i in payload.get("followup_ids") or []]
    results = [sync.export(client, job.team_id, i, by=str(payload.get("by") or "")) for i in ids]
    if payload.get("reply_to"):
        services.replies.respond(
            payload["reply_to"], {"text": export_answer(results), "response_type": "ephemeral"}
        )


def run_push_status(services: Services, run: JobRun) -> None:
    sync = jira_required(services.jira)
    sync.push_requested(services.client_for(run.job.team_id), int(run.job.payload["followup_id"]))


def jobs(services: Services) -> list[JobSpec]:
    fast, slow = outbox.Lane.FAST, outbox.Lane.SLOW
    return [
        JobSpec(ANNOUNCE, fast, lambda run: run_announce(services, run)),
        JobSpec(PUBLISH_CHANGE, fast, lambda run: run_publish_change(services, run)),
        JobSpec(REFRESH_MODAL, fast, lambda run: run_refresh_modal(services, run)),
        JobSpec(EXPORT, slow, lambda run: run_export(services, run)),
        JobSpec(PUSH_STATUS, slow, lambda run: run_push_status(services, run)),
    ]


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

"""`/followup`, the "Create follow-up" shortcut and modal, and the announcement's controls."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_bolt.context.respond import Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.orm import Session

from bot.core.dates import check_due_date, local_today, warm_up
from bot.core.errors import UserError
from bot.followups import blocks, modal
from bot.followups import flows as publish
from bot.followups.commands import (
    USAGE,
    CreateFollowUp,
    Export,
    Help,
    ListFollowUps,
    ListScope,
    MarkDone,
    NewFollowUp,
    parse_followup_command,
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
from bot.slack.users import user_timezone
from handlers.errors import replies_on_error
from storage.db import Database
from storage.models import FollowUp, FollowUpField, FollowUpStatus

log = logging.getLogger("postmortem_bot.followups")


def publish_change(
    client: WebClient, followup: FollowUp, change: Change | None, jira: JiraSync | None
) -> None:
    """Refresh the announcement, note the change in its thread, and move the Jira issue."""
    publish.publish_change(client, followup, change, jira_enabled=jira is not None)
    if jira is not None and change is not None and change.field is FollowUpField.STATUS:
        jira.status_changed(client, followup)


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


def register(app: App, services: Services) -> None:
    warm_up()  # dateparser's first call is slow; pay it before the first request
    db, clock, settings, jira = services.db, services.clock, services.settings, services.jira

    def announce(client: WebClient, followup: FollowUp) -> None:
        publish.announce(client, db, followup, jira_enabled=jira is not None)
        if jira is not None and settings.jira_auto_export:
            result = jira.export(client, followup.team_id, followup.id, by=followup.created_by)
            if not result.ok:
                log.info("auto-export of %s failed; retried by the sync job", followup.key)

    def followup_command(
        ack: Ack, command: dict[str, Any], client: WebClient, respond: Respond, context: BoltContext
    ) -> None:
        # Parsing is pure and instant: usage and grammar errors go back in the ack itself.
        parsed = parse_followup_command(command.get("text", ""))
        if isinstance(parsed, Help):
            ack(text=USAGE, response_type="ephemeral")
            return
        ack()
        team, channel, user = context.team_id or "", command["channel_id"], command["user_id"]
        if isinstance(parsed, MarkDone):
            with db.session() as session:
                followup = find_followup(session, team_id=team, channel_id=channel, ref=parsed.ref)
                change = change_status(session, followup, FollowUpStatus.DONE, by=user, now=clock())
            publish_change(client, followup, change, jira)
            respond(text=f"Marked {followup.key} done.", response_type="ephemeral")
        elif isinstance(parsed, Export):
            respond(
                text=export_command(client, team, channel, user, parsed), response_type="ephemeral"
            )
        elif isinstance(parsed, ListFollowUps):
            text, message = list_answer(client, team, channel, user, parsed.scope)
            respond(text=text, blocks=message, response_type="ephemeral")
        else:
            key = f"command:{command['trigger_id']}" if command.get("trigger_id") else None
            create_from_command(client, team, channel, user, parsed, request_key=key)

    def export_command(
        client: WebClient, team: str, channel: str, user: str, parsed: Export
    ) -> str:
        sync = jira_required(jira)
        with db.session() as session:
            if parsed.ref is None:
                incident = incident_for_followup(session, team, channel)
                incident_id, incident_key = incident.id, incident.key
            else:
                ref = find_followup(session, team_id=team, channel_id=channel, ref=parsed.ref)
                followup_id = ref.id
        if parsed.ref is None:
            results = sync.export_incident(client, team, incident_id, by=user)
            return export_answer(results, all_of=incident_key)
        return export_answer([sync.export(client, team, followup_id, by=user)])

    def followup_export_button(
        ack: Ack,
        action: dict[str, Any],
        body: dict[str, Any],
        client: WebClient,
        respond: Respond,
        context: BoltContext,
    ) -> None:
        ack()
        sync = jira_required(jira)
        team, user = context.team_id or "", body["user"]["id"]
        with db.session() as session:
            followup = get_followup(
                session, team_id=team, followup_id=followup_id(action.get("value"))
            )
        result = sync.export(client, team, followup.id, by=user)
        respond(text=export_answer([result]), response_type="ephemeral", replace_original=False)

    def list_answer(
        client: WebClient, team: str, channel: str, user: str, scope: ListScope | None
    ) -> tuple[str, blocks.Blocks]:
        now = clock()
        today = local_today(now, user_timezone(db, client, team_id=team, user_id=user, now=now))
        with db.session() as session:
            incident = latest_incident_in_channel(session, team, channel)
            scope = scope or (ListScope.INCIDENT if incident else ListScope.MINE)
            page = list_followups(
                session,
                scope,
                team_id=team,
                user_id=user,
                incident=incident,
                today=today,
                limit=blocks.LIST_LIMIT,
            )
            heading = blocks.list_heading(scope, incident_key=incident.key if incident else None)
            return blocks.followup_list(heading, page, today=today)

    def create_from_command(
        client: WebClient,
        team: str,
        channel: str,
        user: str,
        parsed: CreateFollowUp,
        *,
        request_key: str | None,
    ) -> None:
        with db.session() as session:
            incident_for_followup(session, team, channel)  # fail fast, before any API call
        now = clock()
        tz = user_timezone(db, client, team_id=team, user_id=user, now=now)
        new = resolve(parsed, now=now, tz_name=tz, default_days=settings.followup_default_due_days)
        with db.session() as session:
            incident = incident_for_followup(session, team, channel)
            followup, created = create_followup(
                session, incident, new, created_by=user, now=now, request_key=request_key
            )
        if created:
            announce(client, followup)

    def create_followup_shortcut(
        ack: Ack, shortcut: dict[str, Any], client: WebClient, context: BoltContext
    ) -> None:
        ack()
        team, channel = context.team_id or "", shortcut["channel"]["id"]
        user, message = shortcut["user"]["id"], shortcut.get("message") or {}
        with db.session() as session:
            incident_for_followup(session, team, channel)  # fast: the database, not Slack
        now, days = clock(), settings.followup_default_due_days
        origin = modal.ModalOrigin(channel, message.get("ts"), None)
        text = message.get("text") or ""
        view = modal.create_modal(
            message_text=text, origin=origin, due=local_today(now, None) + timedelta(days=days)
        )
        # The trigger expires 3 s after the click: open first, then fill in what needs Slack.
        opened = client.views_open(trigger_id=shortcut["trigger_id"], view=view)["view"]
        link = permalink(client, channel, message["ts"]) if message.get("ts") else None
        tz = user_timezone(db, client, team_id=team, user_id=user, now=now)
        origin = modal.ModalOrigin(channel, message.get("ts"), link)
        view = modal.create_modal(
            message_text=text, origin=origin, due=local_today(now, tz) + timedelta(days=days)
        )
        try:
            client.views_update(view_id=opened["id"], hash=opened["hash"], view=view)
        except SlackApiError as error:  # already submitted, closed, or edited: keep theirs
            log.info("follow-up modal not refreshed: %s", error.response.get("error"))

    def create_followup_submission(
        ack: Ack,
        view: dict[str, Any],
        body: dict[str, Any],
        client: WebClient,
        context: BoltContext,
    ) -> None:
        team, user, now = context.team_id or "", body["user"]["id"], clock()
        origin = modal.read_origin(view)
        form, errors = modal.read_modal(view["state"]["values"])
        tz = user_timezone(db, client, team_id=team, user_id=user, now=now)
        if form.due is not None:
            try:
                check_due_date(form.due, today=local_today(now, tz))
            except UserError as error:
                errors["due"] = error.message
        if errors:
            ack(response_action="errors", errors=errors)
            return
        assert form.due is not None
        new = NewFollowUp(from_editable(form.title), form.owner_id, form.due, form.priority)
        source = None
        if origin.message_ts:
            source = SourceMessage(origin.channel_id, origin.message_ts, origin.permalink)
        with db.session() as session:
            try:
                incident = incident_for_followup(session, team, origin.channel_id)
            except UserError as error:
                ack(response_action="errors", errors={"title": error.message})
                return
            followup, created = create_followup(
                session,
                incident,
                new,
                created_by=user,
                now=now,
                description=from_editable(form.description),
                source=source,
                request_key=f"view:{view['id']}",
            )
        ack()
        if created:
            announce(client, followup)

    def followup_status_button(
        ack: Ack,
        action: dict[str, Any],
        body: dict[str, Any],
        client: WebClient,
        context: BoltContext,
    ) -> None:
        ack()
        raw_id, _, raw_status = str(action.get("value", "")).partition(":")
        status = _status(raw_status)
        user = body["user"]["id"]
        followup, change = change_followup(
            db,
            context.team_id or "",
            raw_id,
            lambda session, item: change_status(session, item, status, by=user, now=clock()),
        )
        publish_change(client, followup, change, jira)

    def followup_owner_select(
        ack: Ack,
        action: dict[str, Any],
        body: dict[str, Any],
        client: WebClient,
        context: BoltContext,
    ) -> None:
        ack()
        raw_block = blocks.followup_id_from_block(action.get("block_id", ""))
        owner = action.get("selected_user") or None
        user = body["user"]["id"]
        followup, change = change_followup(
            db,
            context.team_id or "",
            raw_block,
            lambda session, item: reassign(session, item, owner, by=user, now=clock()),
        )
        publish_change(client, followup, change, jira)

    def followup_due_picker(
        ack: Ack,
        action: dict[str, Any],
        body: dict[str, Any],
        client: WebClient,
        context: BoltContext,
    ) -> None:
        ack()
        team, user, now = context.team_id or "", body["user"]["id"], clock()
        raw_block = blocks.followup_id_from_block(action.get("block_id", ""))
        due = _date(action.get("selected_date"))
        check_due_date(
            due,
            today=local_today(now, user_timezone(db, client, team_id=team, user_id=user, now=now)),
        )
        followup, change = change_followup(
            db,
            team,
            raw_block,
            lambda session, item: change_due_date(session, item, due, by=user, now=now),
        )
        publish_change(client, followup, change, jira)

    app.command("/followup")(replies_on_error(followup_command))
    app.shortcut("create_followup")(replies_on_error(create_followup_shortcut))
    app.view(modal.MODAL_CALLBACK)(replies_on_error(create_followup_submission))
    app.action(re.compile(f"^{blocks.STATUS_ACTION}:"))(replies_on_error(followup_status_button))
    app.action(blocks.OWNER_ACTION)(replies_on_error(followup_owner_select))
    app.action(blocks.DUE_ACTION)(replies_on_error(followup_due_picker))
    app.action(blocks.EXPORT_ACTION)(replies_on_error(followup_export_button))


STALE = "That button is out of date: use the latest message of the follow-up, or App Home."


def followup_id(raw: object) -> int:
    """A follow-up id from a button value or block id; anything else is a stale control."""
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str) and re.fullmatch(r"[0-9]{1,9}", raw):
        return int(raw)
    raise UserError(STALE)


def change_followup(
    db: Database,
    team_id: str,
    raw_id: object,
    change: Callable[[Session, FollowUp], Change | None],
) -> tuple[FollowUp, Change | None]:
    """Load a follow-up of this workspace by the id a control carried, and change it, in one
    transaction (a stale or foreign id is a UserError)."""
    with db.session() as session:
        followup = get_followup(session, team_id=team_id, followup_id=followup_id(raw_id))
        return followup, change(session, followup)


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

"""Exporting a follow-up to Jira, idempotently.

1. The follow-up gets a link row (pending) and one worker takes its lease.
2. Jira is searched for the link's marker label: an issue made by an earlier attempt whose
   answer was lost (a timeout, a crash, the `jira` package re-sending a POST) is adopted.
3. Only then is an issue created, with the marker among its labels.
4. Success stores the key and link; any failure stores the reason and a retry time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.core.settings import Settings
from bot.followups.service import get_followup
from bot.jira import links
from bot.jira.fields import issue_fields
from bot.jira.gateway import JiraFailure, JiraGateway, JiraIssue, JiraUser
from storage.db import Database
from storage.models import FollowUp, JiraExportState

log = logging.getLogger("postmortem_bot.jira.export")


@dataclass(frozen=True)
class ExportResult:
    followup: FollowUp
    issue_key: str | None = None
    issue_url: str | None = None
    created: bool = False  # a new Jira issue now
    adopted: bool = False  # found in Jira by its marker: an earlier attempt had made it
    already: bool = False  # exported before this request
    busy: bool = False  # another export of it is under way
    error: str | None = None
    next_attempt_at: datetime | None = None
    assignee_note: str | None = None

    @property
    def ok(self) -> bool:
        return self.issue_key is not None


@dataclass(frozen=True)
class Assignee:
    field: dict[str, str] | None
    note: str | None  # why nobody was assigned (shown in Slack and in the description)


def export_followup(
    db: Database,
    gateway: JiraGateway,
    settings: Settings,
    client: WebClient | None,
    *,
    team_id: str,
    followup_id: int,
    by: str,
    now: datetime,
) -> ExportResult:
    with db.session() as session:
        followup = get_followup(session, team_id=team_id, followup_id=followup_id)
        link = links.ensure_link(session, followup, by=by, now=now)
        if link.state is JiraExportState.EXPORTED:
            return ExportResult(
                followup,
                link.issue_key,
                link.issue_url,
                already=True,
                assignee_note=link.assignee_note,
            )
        link_id, marker = link.id, link.marker
    with db.session() as session:
        claimed = links.claim(session, link_id, now)
    if not claimed:
        return ExportResult(followup, busy=True)
    try:
        issue = gateway.find_by_label(marker)
        adopted = issue is not None
        note: str | None = None
        if issue is None:
            assignee = find_assignee(gateway, client, followup)
            note = assignee.note
            fields = issue_fields(
                followup,
                project=gateway.project,
                issue_type=gateway.issue_type,
                priorities=settings.jira_priority_map,
                marker=marker,
                assignee=assignee.field,
                owner_line=note,
            )
            issue = gateway.create(fields)
    except JiraFailure as failure:
        with db.session() as session:
            retry_at = links.record_failed(session, link_id, failure.reason, now=now)
        log.warning("export of %s to Jira failed: %s", followup.key, failure.reason)
        return ExportResult(followup, error=failure.reason, next_attempt_at=retry_at)
    except Exception:
        with db.session() as session:
            links.record_failed(
                session, link_id, "an unexpected error (see the bot's log)", now=now
            )
        raise
    with db.session() as session:
        links.record_exported(session, link_id, issue, assignee_note=note, now=now)
    log.info("exported %s to Jira as %s (adopted=%s)", followup.key, issue.key, adopted)
    return _done(followup, issue, created=not adopted, adopted=adopted, note=note)


def _done(
    followup: FollowUp, issue: JiraIssue, *, created: bool, adopted: bool, note: str | None
) -> ExportResult:
    return ExportResult(
        followup, issue.key, issue.url, created=created, adopted=adopted, assignee_note=note
    )


def find_assignee(gateway: JiraGateway, client: WebClient | None, followup: FollowUp) -> Assignee:
    """The owner's Jira user, found by the e-mail address of their Slack profile."""
    if not followup.owner_id:
        return Assignee(None, "No owner in Slack yet, so the issue is unassigned.")
    if client is None:
        return Assignee(None, "The owner's Slack profile could not be read; unassigned.")
    try:
        profile = client.users_info(user=followup.owner_id)["user"].get("profile") or {}
    except SlackApiError as error:
        code = error.response.get("error")
        return Assignee(None, f"The owner's Slack profile could not be read ({code}); unassigned.")
    email = str(profile.get("email") or "")
    name = str(profile.get("real_name") or profile.get("display_name") or followup.owner_id)
    if not email:
        return Assignee(
            None, f"Owner in Slack: {name}, whose profile shows no e-mail address; unassigned."
        )
    user: JiraUser | None = gateway.find_user(email)
    if user is None:
        return Assignee(
            None, f"Owner in Slack: {name} ({email}), who has no Jira account; unassigned."
        )
    return Assignee(user.as_field(), None)

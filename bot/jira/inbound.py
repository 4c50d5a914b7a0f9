"""Jira → Slack: apply what changed in Jira (a webhook delivery or a poll) to the follow-up.

Only what Jira changed since sync last looked is applied (a due date changed in Slack is not
reverted by the next poll), and a delivery older than what was already applied is ignored
(Jira retries deliveries for up to half an hour).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy.orm import Session

from bot.followups.service import Change, change_due_date, change_status, reassign
from bot.jira import links
from bot.jira.gateway import JiraIssue
from storage.db import Database
from storage.models import FollowUp, FollowUpStatus, JiraLink

JIRA_ACTOR = "Jira"  # `changed_by` of changes that came from Jira
CATEGORY_STATUS = {
    "new": FollowUpStatus.OPEN,
    "indeterminate": FollowUpStatus.IN_PROGRESS,
    "done": FollowUpStatus.DONE,
}
STATUS_CATEGORY = {
    FollowUpStatus.OPEN: "new",
    FollowUpStatus.IN_PROGRESS: "indeterminate",
    FollowUpStatus.DONE: "done",
    FollowUpStatus.WONT_DO: "done",
}

SlackLookup = Callable[[str], str | None]  # e-mail → Slack user id


@dataclass
class Applied:
    followup: FollowUp
    changes: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # said in the thread, nothing changed


def apply_issue(
    db: Database, issue: JiraIssue, *, lookup: SlackLookup, now: datetime
) -> Applied | None:
    """Apply one issue's state; None when no follow-up has this key or the state is stale."""
    with db.session() as session:
        link = links.link_by_key(session, issue.key)
        if link is None:
            return None
        assignee_changed = _assignee_id(issue) != link.seen_assignee
    # The Slack lookup is a network call: outside the transaction.
    slack_owner: str | None = None
    if assignee_changed and issue.assignee is not None and issue.assignee.email:
        slack_owner = lookup(issue.assignee.email)
    with db.session() as session:
        link = links.link_by_key(session, issue.key)
        if link is None or _stale(issue.updated, link.jira_updated):
            return None
        followup = link.follow_up
        applied = Applied(followup)
        _status(session, link, followup, issue, applied, now)
        _due(session, link, followup, issue, applied, now)
        if _assignee_id(issue) != link.seen_assignee:
            _owner(session, followup, issue, slack_owner, applied, now)
        links.remember(link, issue, now=now)
        return applied


def _status(
    session: Session,
    link: JiraLink,
    followup: FollowUp,
    issue: JiraIssue,
    applied: Applied,
    now: datetime,
) -> None:
    if issue.category == link.status_category or link.push_status is not None:
        return  # unchanged in Jira, or Slack's newer change is still on its way there
    target = CATEGORY_STATUS.get(issue.category)
    if target is None or STATUS_CATEGORY[followup.status] == issue.category:
        return  # e.g. won't do in Slack and Done in Jira: both closed
    applied.changes.append(change_status(session, followup, target, by=JIRA_ACTOR, now=now))


def _due(
    session: Session,
    link: JiraLink,
    followup: FollowUp,
    issue: JiraIssue,
    applied: Applied,
    now: datetime,
) -> None:
    if issue.due == link.seen_due or not issue.due:
        return  # unchanged, or cleared in Jira: a follow-up always keeps a due date
    try:
        due = date.fromisoformat(issue.due)
    except ValueError:
        return
    change = change_due_date(session, followup, due, by=JIRA_ACTOR, now=now)
    if change is not None:
        applied.changes.append(change)


def _owner(
    session: Session,
    followup: FollowUp,
    issue: JiraIssue,
    slack_owner: str | None,
    applied: Applied,
    now: datetime,
) -> None:
    if issue.assignee is None:
        change = reassign(session, followup, None, by=JIRA_ACTOR, now=now)
    elif slack_owner is None:
        applied.notes.append(
            f"{issue.key} was assigned in Jira to {issue.assignee.display_name}, who has no "
            "Slack account the bot can find by e-mail; the owner here is unchanged."
        )
        return
    else:
        change = reassign(session, followup, slack_owner, by=JIRA_ACTOR, now=now)
    if change is not None:
        applied.changes.append(change)


def _assignee_id(issue: JiraIssue) -> str | None:
    if issue.assignee is None:
        return None
    return issue.assignee.account_id or issue.assignee.name


def parse_jira_time(value: str | None) -> datetime | None:
    if not value:
        return None
    for pattern in ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z"):
        try:
            return datetime.strptime(value, pattern)
        except ValueError:
            continue
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _stale(incoming: str | None, seen: str | None) -> bool:
    new, old = parse_jira_time(incoming), parse_jira_time(seen)
    return new is not None and old is not None and new < old

"""Slack → Jira: a follow-up's status change moves its Jira issue through a transition into the
matching status category (found among the issue's transitions, never a hard-coded name).

The wish is written down first (`push_status`), so a change Jira could not take now is retried
by the sync job, and polling does not undo it meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from bot.jira import links
from bot.jira.gateway import JiraFailure, JiraGateway, Transition
from bot.jira.inbound import STATUS_CATEGORY
from storage.db import Database
from storage.models import FollowUp, FollowUpStatus, JiraExportState

CATEGORY_LABEL = {"new": "to-do", "indeterminate": "in-progress", "done": "done"}


@dataclass(frozen=True)
class PushResult:
    key: str
    moved_to: str | None = None  # the Jira status it is in now, when we moved it
    note: str | None = None  # nothing to do, or no transition allows it
    error: str | None = None  # Jira failed: retried by the sync job

    def message(self, followup_key: str) -> str | None:
        if self.moved_to:
            return f"Moved {self.key} to *{self.moved_to}* in Jira."
        if self.error:
            return (
                f":warning: {followup_key} could not be updated in Jira ({self.key}): "
                f"{self.error} It will be retried."
            )
        return self.note


def request_push(session: Session, followup_id: int) -> bool:
    """Write down that Jira should follow this follow-up's status; False if not exported."""
    followup = session.get_one(FollowUp, followup_id)
    link = followup.jira_link
    if link is None or link.state is not JiraExportState.EXPORTED:
        return False
    link.push_status = followup.status.value
    return True


def push_status(
    db: Database, gateway: JiraGateway, followup_id: int, *, now: datetime
) -> PushResult | None:
    """Move the Jira issue to the follow-up's status (as written down by `request_push`)."""
    with db.session() as session:
        followup = session.get_one(FollowUp, followup_id)
        link = followup.jira_link
        if link is None or link.issue_key is None or link.push_status is None:
            return None
        key, wanted = link.issue_key, FollowUpStatus(link.push_status)
    target = STATUS_CATEGORY[wanted]
    try:
        issue = gateway.issue(key)
        result = PushResult(key)
        if issue.category != target:
            choice = pick_transition(gateway.transitions(key), target, wanted)
            if choice is None:
                result = PushResult(
                    key,
                    note=(
                        f"{key} is *{issue.status_name}* in Jira, and its workflow has no "
                        f"transition from there to a {CATEGORY_LABEL[target]} status: "
                        "change it in Jira."
                    ),
                )
            else:
                gateway.transition(key, choice.id)
                issue = gateway.issue(key)
                result = PushResult(key, moved_to=issue.status_name)
    except JiraFailure as failure:
        with db.session() as session:
            link = session.get_one(FollowUp, followup_id).jira_link
            if link is not None:
                link.push_error = failure.reason
        return PushResult(key, error=failure.reason)
    with db.session() as session:
        link = session.get_one(FollowUp, followup_id).jira_link
        if link is not None:
            if link.push_status == wanted.value:  # not changed again meanwhile
                link.push_status, link.push_error = None, None
            links.remember(link, issue, now=now)
    return result


def pick_transition(
    transitions: list[Transition], category: str, wanted: FollowUpStatus
) -> Transition | None:
    candidates = [t for t in transitions if t.to_category == category]
    if not candidates:
        return None

    def declined(t: Transition) -> bool:
        words = f"{t.name} {t.to_name}".lower().replace("’", "'")
        return any(w in words for w in ("won't", "wont", "not do", "declin", "reject"))

    if category == "done":
        preferred = [t for t in candidates if declined(t) == (wanted is FollowUpStatus.WONT_DO)]
        return (preferred or candidates)[0]
    return candidates[0]

"""A follow-up as the fields of a new Jira issue (pure)."""

from __future__ import annotations

from typing import Any

from bot.slack.mrkdwn import plain_text
from storage.models import FollowUp

SUMMARY_LIMIT = 250  # Jira's summary holds 255 characters


def summary(followup: FollowUp) -> str:
    text = " ".join(plain_text(followup.title).split())
    if len(text) > SUMMARY_LIMIT:
        text = text[: SUMMARY_LIMIT - 1].rstrip() + "…"
    return text or followup.key


def slack_channel_url(team_id: str, channel_id: str) -> str:
    return f"https://slack.com/app_redirect?team={team_id}&channel={channel_id}"


def description(followup: FollowUp, *, owner_line: str | None) -> str:
    """Jira wiki markup: what the follow-up is, and links back to Slack."""
    incident = followup.incident
    lines = [
        f"Follow-up *{followup.key}* from incident *{incident.key}*: "
        f"{plain_text(incident.title)} ({incident.severity.label}).",
        "",
    ]
    if followup.description:
        lines += [plain_text(followup.description), ""]
    if followup.announcement_permalink:
        lines.append(f"* [The follow-up in Slack|{followup.announcement_permalink}]")
    if followup.permalink:
        lines.append(f"* [The Slack message it came from|{followup.permalink}]")
    lines.append(f"* [Incident channel|{slack_channel_url(incident.team_id, incident.channel_id)}]")
    if owner_line:
        lines += ["", owner_line]
    lines += ["", "_Created by postmortem-bot: status changes here are kept in sync with Slack._"]
    return "\n".join(lines)


def issue_fields(
    followup: FollowUp,
    *,
    project: str,
    issue_type: str,
    priorities: dict[str, str],
    marker: str,
    assignee: dict[str, str] | None,
    owner_line: str | None,
) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "project": {"key": project},
        "issuetype": {"name": issue_type},
        "summary": summary(followup),
        "description": description(followup, owner_line=owner_line),
        "labels": ["incident", followup.incident.key, marker],
        "duedate": followup.due_date.isoformat(),
        "priority": {"name": priorities[followup.priority.value]},
    }
    if assignee is not None:
        fields["assignee"] = assignee
    return fields

"""Messages about incidents: the declaration, status and severity changes, the status summary."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.core.formatting import format_duration, slack_date
from bot.slack.mrkdwn import plain_text, safe_mrkdwn
from storage.models import Incident, IncidentStatus, Severity

Blocks = list[dict[str, Any]]

STATUS_EMOJI = {
    IncidentStatus.ACTIVE: ":red_circle:",
    IncidentStatus.MITIGATED: ":large_yellow_circle:",
    IncidentStatus.RESOLVED: ":large_green_circle:",
}


def _header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": text[:150], "emoji": True}}


def _fields(*pairs: tuple[str, str]) -> dict[str, Any]:
    return {
        "type": "section",
        "fields": [{"type": "mrkdwn", "text": f"*{name}*\n{value}"} for name, value in pairs],
    }


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def incident_declared(incident: Incident, *, default_severity: bool) -> tuple[str, Blocks]:
    """The announcement posted in the channel when an incident is declared."""
    severity = incident.severity.label + (" (default)" if default_severity else "")
    fallback = f"{incident.key} declared: {safe_mrkdwn(incident.title)} ({incident.severity.label})"
    blocks: Blocks = [
        _header(f"🚨 {incident.key}: {plain_text(incident.title)}"),
        _fields(
            ("Severity", severity),
            ("Status", f"{STATUS_EMOJI[incident.status]} {incident.status.value}"),
            ("Commander", f"<@{incident.commander_id}>"),
            ("Declared", slack_date(incident.declared_at)),
        ),
        _context(
            "Log what happens with `/timeline <text>` · capture work with `/followup <text>` · "
            "`/incident severity sev1` · `/incident mitigated` · `/incident resolved`"
        ),
    ]
    return fallback, blocks


def status_changed(incident: Incident, *, by: str, now: datetime) -> tuple[str, Blocks]:
    since = format_duration(now - incident.declared_at)
    text = (
        f"{STATUS_EMOJI[incident.status]} *{incident.key}* is now *{incident.status.value}* "
        f"(by <@{by}>), {since} after it was declared."
    )
    blocks: Blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    if incident.status is IncidentStatus.RESOLVED:
        blocks.append(
            _context("Next: write the postmortem with `/postmortem generate` while it is fresh.")
        )
    return text, blocks


def severity_changed(incident: Incident, *, previous: Severity, by: str) -> tuple[str, Blocks]:
    worse = incident.severity < previous  # "sev1" < "sev3": a lower number is worse
    arrow = ":arrow_up:" if worse else ":arrow_down:"
    text = (
        f"{arrow} *{incident.key}* severity changed from {previous.label} to "
        f"*{incident.severity.label}* (by <@{by}>)."
    )
    return text, [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]


def incident_summary(incident: Incident, *, now: datetime) -> tuple[str, Blocks]:
    """The ephemeral answer to `/incident status`."""
    pairs = [
        ("Status", f"{STATUS_EMOJI[incident.status]} {incident.status.value}"),
        ("Severity", incident.severity.label),
        ("Commander", f"<@{incident.commander_id}>"),
        ("Declared", slack_date(incident.declared_at)),
    ]
    if incident.mitigated_at is not None:
        pairs.append(
            (
                "Mitigated",
                f"{slack_date(incident.mitigated_at)} "
                f"(after {format_duration(incident.mitigated_at - incident.declared_at)})",
            )
        )
    if incident.resolved_at is not None:
        pairs.append(
            (
                "Resolved",
                f"{slack_date(incident.resolved_at)} "
                f"(after {format_duration(incident.resolved_at - incident.declared_at)})",
            )
        )
    else:
        pairs.append(("Open for", format_duration(now - incident.declared_at)))
    text = f"{incident.key}: {safe_mrkdwn(incident.title)} ({incident.status.value})"
    blocks: Blocks = [
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": f"*{incident.key}*: {safe_mrkdwn(incident.title)}"},
        },
        _fields(*pairs[:10]),
    ]
    return text, blocks

"""Messages about incidents: the declaration, status and severity changes, the status summary."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.core.formatting import format_duration, slack_date
from bot.incidents.keytimes import SETTABLE, KeyTimes, Metrics, Moment
from bot.slack.mrkdwn import plain_text, safe_mrkdwn
from storage.models import Incident, IncidentStatus, KeyTime, Severity

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


def incident_summary(
    incident: Incident, *, now: datetime, key_times: tuple[KeyTimes, Metrics] | None = None
) -> tuple[str, Blocks]:
    """The ephemeral answer to `/incident status` (with `key_times`: its key times, where
    each came from, and the metrics)."""
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
    if key_times is not None:
        summary = key_times_summary(*key_times)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": summary}})
        blocks.append(_context("Correct them with `/incident times`."))
    return text, blocks


KEY_TIMES_VIEW_CALLBACK = "incident_key_times"


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def _source(moment: Moment) -> str:
    if moment.at is None:
        return "not yet"
    if moment.derived:
        return f"{_utc(moment.at)} UTC, from {moment.source}"
    return f"{_utc(moment.at)} UTC, set by <@{moment.set_by}> ({moment.source})"


def key_times_modal(incident: Incident, times: KeyTimes, *, channel_id: str) -> dict[str, Any]:
    """The "Edit key times" modal: a field per key time a person can set, filled with what
    people set; an empty field is worked out from the timeline (shown as its placeholder)."""
    blocks: Blocks = [
        _context(
            "Times are UTC, like `2026-11-22 14:32`, `14:32` or `yesterday 23:50`. Leave a field "
            "empty to have it worked out from the timeline. The metrics are measured from "
            "*impact started*."
        ),
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": f"*Declared*: {_source(times.declared)}"},
        },
    ]
    for kind in SETTABLE:
        moment = times.get(kind)
        element: dict[str, Any] = {"type": "plain_text_input", "action_id": "value"}
        if not moment.derived and moment.at is not None:
            element["initial_value"] = _utc(moment.at)
        if moment.derived and moment.at is not None:
            shown = f"{_utc(moment.at)}, from {moment.source}"
            element["placeholder"] = {"type": "plain_text", "text": shown[:150]}
        blocks.append(
            {
                "type": "input",
                "block_id": kind.value,
                "optional": True,
                "label": {"type": "plain_text", "text": f"{kind.label} (UTC)"},
                "element": element,
                "hint": {"type": "plain_text", "text": KEY_TIME_HINTS[kind]},
            }
        )
    return {
        "type": "modal",
        "callback_id": KEY_TIMES_VIEW_CALLBACK,
        "private_metadata": json.dumps({"incident_id": incident.id, "channel_id": channel_id}),
        "title": {"type": "plain_text", "text": f"{incident.key} key times"[:24]},
        "submit": {"type": "plain_text", "text": "Save"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": blocks,
    }


KEY_TIME_HINTS = {
    KeyTime.IMPACT_STARTED: "When customers were first affected. Empty: assumed at detection.",
    KeyTime.DETECTED: "When we found out. Empty: the first detection event, or the declaration.",
    KeyTime.MITIGATED: "When the impact stopped. Empty: the first mitigation event or the status.",
    KeyTime.RESOLVED: "When it was over. Empty: when it was marked resolved.",
    KeyTime.IMPACT_ENDED: "When customers were last affected, if not at resolution.",
}


def key_times_summary(times: KeyTimes, metrics: Metrics) -> str:
    """The key times and metrics in one mrkdwn text (for `/incident status` and the answer to
    a change of key time)."""
    lines = [f"*{m.label}*: {_source(m)}" for m in times.all()]
    return "\n".join([*lines, *_metric_lines(metrics)])


def incident_reopened(incident: Incident, *, by: str, was: IncidentStatus) -> tuple[str, Blocks]:
    """Posted in the channel when `/incident reopen` made the incident active again."""
    text = (
        f"{STATUS_EMOJI[incident.status]} *{incident.key}* is *active* again: reopened by "
        f"<@{by}> (it was {was.value}). Mark it `/incident mitigated` and `/incident resolved` "
        "again when it is."
    )
    return text, [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]


def key_time_set(incident: Incident, moment: Moment, *, by: str) -> tuple[str, Blocks]:
    """Posted in the channel when someone sets a key time by command or in the modal (or
    clears it in the modal: then it is worked out from the timeline again)."""
    label = moment.label.lower()
    if not moment.derived and moment.at is not None:
        text = f"{incident.key}: *{label}* is now {_utc(moment.at)} UTC (set by <@{by}>)."
    elif moment.at is not None:
        text = (
            f"{incident.key}: *{label}* is worked out from the timeline again: "
            f"{_utc(moment.at)} UTC, from {moment.source} (cleared by <@{by}>)."
        )
    else:
        text = (
            f"{incident.key}: *{label}* is worked out from the timeline again (cleared by <@{by}>)."
        )
    return text, [_context(text)]


def _local(moment: datetime, tz_name: str | None) -> str:
    """`08:30 in Europe/Paris, your time zone` next to a UTC time, for a person not on UTC."""
    if not tz_name or tz_name == "UTC":
        return ""
    try:
        zone = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        return ""
    local = moment.astimezone(zone)
    day = "" if local.date() == moment.astimezone(UTC).date() else f"{local:%b} {local.day}, "
    return f" ({day}{local:%H:%M} in {tz_name}, your time zone)"


def key_time_answer(
    incident: Incident, moment: Moment, figures: Metrics, *, tz_name: str | None
) -> str:
    """The private answer to a key time set by command: the time as it was read (UTC, and the
    person's own zone, so a misread zone shows at once) and the metrics it moves."""
    assert moment.at is not None
    lines = [
        f"{incident.key}: *{moment.label.lower()}* is now {_utc(moment.at)} UTC"
        f"{_local(moment.at, tz_name)}. Everyone in the channel sees the change.",
        *_metric_lines(figures),
        "See every key time with `/incident status`; correct them with `/incident times`.",
    ]
    return "\n".join(lines)


def key_times_saved(
    incident: Incident, changed: list[KeyTime], times: KeyTimes, figures: Metrics
) -> str:
    """The private answer to the *Edit key times* modal: what changed, and the metrics now."""
    if not changed:
        return f"{incident.key}: the key times were already like that; nothing changed."
    names = ", ".join(f"*{kind.label.lower()}*" for kind in changed)
    return "\n".join(
        [
            f"Saved {incident.key}'s key times ({names} changed; the channel was told).",
            key_times_summary(times, figures),
        ]
    )


def _metric_lines(figures: Metrics) -> list[str]:
    lines = []
    for metric in figures.all():
        value = format_duration(metric.value) if metric.value is not None else "unknown"
        lines.append(f"*{metric.label}*: {value} ({metric.definition})")
    return lines

"""Messages for stakeholder updates, affected components and resolution notices."""

from __future__ import annotations

from typing import Any

from bot.core.formatting import format_duration
from bot.slack.mrkdwn import safe_mrkdwn
from storage.models import Incident, IncidentUpdate

Blocks = list[dict[str, Any]]


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def _components(names: list[str]) -> str:
    return ", ".join(f"`{name}`" for name in names) or "none named"


def update_posted(
    incident: Incident, update: IncidentUpdate, *, stakeholders: bool
) -> tuple[str, Blocks]:
    """An update, as posted in the incident channel or (stakeholders=True) the updates channel."""
    title = f"*{incident.key}*: {safe_mrkdwn(incident.title)}"
    body = safe_mrkdwn(update.text)
    text = f":mega: Update on {incident.key}: {body}"
    where = f" · in <#{incident.channel_id}>" if stakeholders else ""
    visibility = "on the status page" if update.public else "not on the status page"
    blocks: Blocks = [
        _section(f":mega: Update on {title}\n{body}"),
        _context(
            f"{incident.status.value} · {incident.severity.label} · "
            f"components: {_components(update.components)} · {visibility} · "
            f"by <@{update.posted_by}>{where}"
        ),
    ]
    return text, blocks


def components_set(incident: Incident, names: list[str], *, by: str) -> tuple[str, Blocks]:
    text = f":jigsaw: *{incident.key}* affected components: {_components(names)} (by <@{by}>)."
    return text, [_section(text)]


def resolution_notice(incident: Incident, components: list[str]) -> tuple[str, Blocks]:
    """Posted in the stakeholder channel when an incident is resolved."""
    assert incident.resolved_at is not None
    lasted = format_duration(incident.resolved_at - incident.declared_at)
    text = (
        f":large_green_circle: *{incident.key} resolved*: {safe_mrkdwn(incident.title)} "
        f"(lasted {lasted})."
    )
    blocks: Blocks = [
        _section(text),
        _context(
            f"{incident.severity.label} · components: {_components(components)} · "
            f"in <#{incident.channel_id}>"
        ),
    ]
    return text, blocks


def reopened_notice(incident: Incident, components: list[str]) -> tuple[str, Blocks]:
    """Posted in the stakeholder channel when a resolved incident is reopened: they were told
    it was resolved, so they are told it is not."""
    text = (
        f":red_circle: *{incident.key} reopened*: {safe_mrkdwn(incident.title)} is not resolved "
        "after all; it is being worked on again."
    )
    blocks: Blocks = [
        _section(text),
        _context(
            f"{incident.severity.label} · components: {_components(components)} · "
            f"in <#{incident.channel_id}>"
        ),
    ]
    return text, blocks


def stakeholder_channel_unreachable(channel_id: str, error: str, *, what: str) -> str:
    return (
        f"I couldn't post {what} to the stakeholder channel <#{channel_id}> (`{error}`): I'm "
        "not a member of it, or it doesn't exist. Invite me there with "
        "`/invite @postmortem-bot`, or set `STATUS_UPDATES_CHANNEL` to a channel id I can post "
        f"in. {what.capitalize()} was saved and posted in this channel."
    )


def private_not_shared(what: str) -> str:
    return (
        f"This incident's channel is private, so {what} was posted here only: nothing goes to "
        "the stakeholder channel or the status page from a private incident."
    )

"""Follow-up messages: the channel announcement and its controls, change notes, lists."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.orm.base import NO_VALUE

from bot.core.dates import format_date
from bot.followups.commands import ListScope
from bot.followups.service import Change, Page
from bot.slack.mrkdwn import safe_mrkdwn
from storage.models import FollowUp, FollowUpField, FollowUpStatus, JiraExportState, JiraLink

Blocks = list[dict[str, Any]]

STATUS_ACTION = "followup_status"
OWNER_ACTION = "followup_owner"
DUE_ACTION = "followup_due"
EXPORT_ACTION = "followup_export"
LIST_LIMIT = 45  # a message holds 50 blocks: room for the heading and "and N more"
STATUS_EMOJI = {
    FollowUpStatus.OPEN: ":large_blue_circle:",
    FollowUpStatus.IN_PROGRESS: ":hourglass_flowing_sand:",
    FollowUpStatus.DONE: ":white_check_mark:",
    FollowUpStatus.WONT_DO: ":no_entry_sign:",
}
_BUTTONS = {  # status → the buttons that make sense from it: (label, new status, style)
    FollowUpStatus.OPEN: (
        ("Start", FollowUpStatus.IN_PROGRESS, None),
        ("Done", FollowUpStatus.DONE, "primary"),
        ("Won't do", FollowUpStatus.WONT_DO, None),
    ),
    FollowUpStatus.IN_PROGRESS: (
        ("Done", FollowUpStatus.DONE, "primary"),
        ("Won't do", FollowUpStatus.WONT_DO, None),
    ),
    FollowUpStatus.DONE: (("Reopen", FollowUpStatus.OPEN, None),),
    FollowUpStatus.WONT_DO: (("Reopen", FollowUpStatus.OPEN, None),),
}


def text_block(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def context_block(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def owner_label(followup: FollowUp) -> str:
    if followup.owner_id:
        return f"<@{followup.owner_id}>"
    return f"unassigned — <@{followup.incident.commander_id}> to assign"


def due_label(due: date, *, today: date | None = None) -> str:
    """`Tue Dec 1, 2026`, with how far away it is when `today` is known (private lists)."""
    label = format_date(due)
    if today is None:
        return label
    days = (due - today).days
    if days < 0:
        return f":warning: {label} ({-days} day{'s' if days != -1 else ''} overdue)"
    if days == 0:
        return f"{label} (today)"
    return f"{label} ({'tomorrow' if days == 1 else f'in {days} days'})"


def status_label(followup: FollowUp) -> str:
    return f"{STATUS_EMOJI[followup.status]} {followup.status.label}"


HIDDEN_FOLLOWUP = "(a follow-up of a private incident whose channel you are not in)"


def followup_line(followup: FollowUp, *, today: date | None, hidden: bool = False) -> str:
    """One line per follow-up: id, title, owner, due date, priority, status. `hidden`: the
    incident is private and the reader not in its channel, so its title is left out
    (bot.core.visibility)."""
    title = HIDDEN_FOLLOWUP if hidden else shorten(followup.title, 300)
    return (
        f"*{followup.key}* {safe_mrkdwn(title)} · {owner_label(followup)} · due "
        f"{due_label(followup.due_date, today=today)} · {followup.priority.label} · "
        f"{status_label(followup)}{jira_suffix(followup)}"
    )


def jira_suffix(followup: FollowUp) -> str:
    link = jira_link(followup)
    if link is None or link.state is not JiraExportState.EXPORTED or not link.issue_key:
        return ""
    return f" · <{link.issue_url}|{link.issue_key}>"


def jira_link(followup: FollowUp) -> JiraLink | None:
    """The follow-up's Jira link if it was loaded with it (never a lazy load: the follow-up is
    often used after its session ended)."""
    loaded = inspect(followup).attrs.jira_link.loaded_value
    return None if loaded is NO_VALUE else loaded


def jira_label(followup: FollowUp) -> str | None:
    """`<url|OPS-12>` once exported; what is happening to the export otherwise."""
    link = jira_link(followup)
    if link is None:
        return None
    if link.state is JiraExportState.EXPORTED and link.issue_key:
        status = f" · {link.status_name}" if link.status_name else ""
        return f"<{link.issue_url}|{link.issue_key}>{status}"
    if link.state is JiraExportState.FAILED:
        when = f" Next try {link.next_attempt_at:%H:%M} UTC." if link.next_attempt_at else ""
        return (
            f":warning: export failed: {safe_mrkdwn(link.last_error or 'unknown error')}{when} "
            f"`/followup export {followup.key}` tries now."
        )
    return "exporting…"


def announcement(followup: FollowUp, *, jira_enabled: bool = False) -> tuple[str, Blocks]:
    """The channel message for a follow-up, with buttons to change it (re-rendered on change)."""
    fallback = (
        f"Follow-up {followup.key}: {safe_mrkdwn(shorten(followup.title, 300))} "
        f"(owner: {owner_label(followup)}, due {format_date(followup.due_date)})"
    )
    origin = f"Created by <@{followup.created_by}> for {followup.incident.key}"
    if followup.permalink:
        origin += f" from <{followup.permalink}|a message>"
    tracked = jira_label(followup)
    if tracked:
        origin += f" · Jira: {tracked}"
    blocks: Blocks = [
        text_block(f":clipboard: *Follow-up {followup.key}*\n{safe_mrkdwn(followup.title)}"),
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": f"*Owner*\n{owner_label(followup)}"},
                {"type": "mrkdwn", "text": f"*Due*\n{format_date(followup.due_date)}"},
                {"type": "mrkdwn", "text": f"*Priority*\n{followup.priority.label}"},
                {"type": "mrkdwn", "text": f"*Status*\n{status_label(followup)}"},
            ],
        },
        context_block(origin),
        {
            "type": "actions",
            "block_id": action_block_id(followup),
            "elements": _controls(followup, jira_enabled=jira_enabled),
        },
    ]
    return fallback, blocks


def action_block_id(followup: FollowUp) -> str:
    # A new block_id on each change, so Slack clients show the new owner and date.
    return f"followup:{followup.id}:{followup.updated_at:%Y%m%d%H%M%S%f}"


def followup_id_from_block(block_id: str) -> str:
    """The follow-up id part of an announcement's action block id (validated by the caller)."""
    kind, _, rest = block_id.partition(":")
    return rest.partition(":")[0] if kind == "followup" else ""


def _controls(followup: FollowUp, *, jira_enabled: bool) -> list[dict[str, Any]]:
    elements: list[dict[str, Any]] = []
    for label, status, style in _BUTTONS[followup.status]:
        button: dict[str, Any] = {
            "type": "button",
            "action_id": f"{STATUS_ACTION}:{status.value}",
            "text": plain(label),
            "value": f"{followup.id}:{status.value}",
        }
        if style:
            button["style"] = style
        elements.append(button)
    owner: dict[str, Any] = {
        "type": "users_select",
        "action_id": OWNER_ACTION,
        "placeholder": plain("Reassign"),
    }
    if followup.owner_id:
        owner["initial_user"] = followup.owner_id
    elements.append(owner)
    elements.append(
        {
            "type": "datepicker",
            "action_id": DUE_ACTION,
            "initial_date": followup.due_date.isoformat(),
            "placeholder": plain("Due date"),
        }
    )
    link = jira_link(followup)
    if jira_enabled and (link is None or link.state is not JiraExportState.EXPORTED):
        elements.append(
            {
                "type": "button",
                "action_id": EXPORT_ACTION,
                "text": plain("Export to Jira" if link is None else "Retry Jira export"),
                "value": str(followup.id),
            }
        )
    return elements


def change_note(followup: FollowUp, change: Change) -> str:
    """What changed, by whom, before → after (posted in the announcement's thread)."""
    who = f"<@{change.by}>" if re.fullmatch(r"[UW][A-Z0-9]+", change.by) else change.by
    if change.field is FollowUpField.STATUS:
        before, after = (
            FollowUpStatus(v).label if v else "?" for v in (change.before, change.after)
        )
        return f"{who} changed the status of *{followup.key}*: {before} → *{after}*"
    if change.field is FollowUpField.OWNER:
        before, after = (f"<@{v}>" if v else "unassigned" for v in (change.before, change.after))
        return f"{who} reassigned *{followup.key}*: {before} → {after}"
    if change.field is FollowUpField.DUE_DATE:
        before, after = (
            format_date(date.fromisoformat(v)) if v else "?" for v in (change.before, change.after)
        )
        return f"{who} moved the due date of *{followup.key}*: {before} → *{after}*"
    return f"{who} changed {change.field.value} of *{followup.key}*"


def confirmation(followup: FollowUp, field: FollowUpField) -> str:
    """The private answer to whoever changed a follow-up (command or button): its state now;
    the channel sees the change in the announcement and its thread."""
    if field is FollowUpField.STATUS:
        return f"Marked {followup.key} {followup.status.label}."
    if field is FollowUpField.OWNER:
        if followup.owner_id is None:
            return f"{followup.key} is now unassigned; the commander can assign it."
        return f"{followup.key} is now owned by <@{followup.owner_id}>."
    return f"{followup.key} is now due {format_date(followup.due_date)}."


def unchanged(followup: FollowUp, field: FollowUpField) -> str:
    """The private answer when a change asked for is already so (nothing was saved)."""
    if field is FollowUpField.OWNER:
        owner = f"owned by <@{followup.owner_id}>" if followup.owner_id else "unassigned"
        return f"{followup.key} is already {owner}; nothing changed."
    return f"{followup.key} is already due {format_date(followup.due_date)}; nothing changed."


def list_heading(scope: ListScope, *, incident_key: str | None) -> str:
    where = f" of {incident_key}" if incident_key else ""
    return {
        ListScope.INCIDENT: f"Open follow-ups{where}",
        ListScope.MINE: "Your open follow-ups",
        ListScope.OVERDUE: f"Overdue follow-ups{where}",
        ListScope.ALL: f"All follow-ups{where}" if incident_key else "All your follow-ups",
    }[scope]


def followup_list(
    heading: str, page: Page, *, today: date, hidden: frozenset[int] = frozenset()
) -> tuple[str, Blocks]:
    """The private answer to `/followup list`: by due date, overdue ones marked."""
    count = f"{page.total} follow-up{'s' if page.total != 1 else ''}"
    blocks: Blocks = [text_block(f"*{heading}*: {count}, by due date")]
    if not page.items:
        blocks.append(context_block("None. Capture one with `/followup <what needs doing>`."))
    for followup in page.items[:LIST_LIMIT]:
        line = followup_line(followup, today=today, hidden=followup.incident_id in hidden)
        blocks.append(text_block(line))
    shown = min(len(page.items), LIST_LIMIT)
    if page.total > shown:
        blocks.append(context_block(f"…and {page.total - shown} more."))
    return f"{heading}: {count}", blocks


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"

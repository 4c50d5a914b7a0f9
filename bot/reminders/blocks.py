"""Reminder DMs: everything for one person in one message, with buttons per follow-up."""

from __future__ import annotations

from datetime import date
from typing import Any

from bot.core.dates import format_date
from bot.core.visibility import HIDDEN_TITLE
from bot.followups.blocks import (
    HIDDEN_FOLLOWUP,
    Blocks,
    context_block,
    due_label,
    plain,
    shorten,
    text_block,
)
from bot.reminders.selection import Reminder
from bot.slack.mrkdwn import safe_mrkdwn
from storage.models import FollowUp, Postmortem, ReminderKind

DONE_ACTION = "reminder_done"
SNOOZE_DAY_ACTION = "reminder_snooze_day"
SNOOZE_WEEK_ACTION = "reminder_snooze_week"
OPEN_ACTION = "reminder_open"
MAX_ITEMS = 20  # two blocks each, plus the heading: within a message's 50 blocks
_ACTIONS_PREFIX = "reminder_actions:followup:"
_HEADINGS = {
    ReminderKind.OVERDUE: ":warning: *Overdue*",
    ReminderKind.DUE_SOON: ":alarm_clock: *Due soon*",
    ReminderKind.DRAFT_STALE: ":memo: *Postmortem still in Draft*",
    ReminderKind.REVIEW_STALE: ":mag: *Postmortem waiting in review*",
}


def reminder_dm(
    reminders: list[Reminder], *, today: date, hidden: frozenset[int] = frozenset()
) -> tuple[str, Blocks]:
    """The DM for one person: a heading, then each item with what can be done about it.
    `hidden`: incidents the person may not see (private, and they are not in the channel):
    their items name only the key (bot.core.visibility)."""
    counts: dict[ReminderKind, int] = {}
    for reminder in reminders:
        counts[reminder.key.reminder_kind] = counts.get(reminder.key.reminder_kind, 0) + 1
    summary = ", ".join(f"{n} {_noun(kind, n)}" for kind, n in counts.items())
    blocks: Blocks = [text_block(f":bell: *Reminder*: {summary}.")]
    for reminder in reminders[:MAX_ITEMS]:
        if reminder.followup is not None:
            followup = reminder.followup
            secret = followup.incident_id in hidden
            blocks.extend(_followup_blocks(followup, reminder.key.reminder_kind, today, secret))
        elif reminder.postmortem is not None:
            secret = reminder.postmortem.incident_id in hidden
            blocks.extend(
                _postmortem_blocks(reminder.postmortem, reminder.key.reminder_kind, secret)
            )
    return f"Reminder: {summary}", blocks


def _noun(kind: ReminderKind, count: int) -> str:
    s = "s" if count != 1 else ""
    return {
        ReminderKind.OVERDUE: f"overdue follow-up{s}",
        ReminderKind.DUE_SOON: f"follow-up{s} due soon",
        ReminderKind.DRAFT_STALE: f"postmortem{s} still in Draft",
        ReminderKind.REVIEW_STALE: f"postmortem{s} waiting in review",
    }[kind]


def _followup_blocks(followup: FollowUp, kind: ReminderKind, today: date, hidden: bool) -> Blocks:
    title = HIDDEN_FOLLOWUP if hidden else safe_mrkdwn(shorten(followup.title, 300))
    line = (
        f"{_HEADINGS[kind]} · *{followup.key}* {title}\n"
        f"Due {due_label(followup.due_date, today=today)} · {followup.priority.label} · "
        f"{followup.status.label}"
    )
    value = str(followup.id)
    elements: list[dict[str, Any]] = [
        _button("Mark done", DONE_ACTION, value, style="primary"),
        _button("Snooze 1 day", SNOOZE_DAY_ACTION, value),
        _button("Snooze 1 week", SNOOZE_WEEK_ACTION, value),
    ]
    link = followup.announcement_permalink or followup.permalink
    if link:
        elements.append(_url_button(link))
    return [
        {**text_block(line), "block_id": f"reminder:followup:{followup.id}"},
        {"type": "actions", "block_id": f"{_ACTIONS_PREFIX}{followup.id}", "elements": elements},
    ]


def _postmortem_blocks(postmortem: Postmortem, kind: ReminderKind, hidden: bool) -> Blocks:
    incident = postmortem.incident
    since = postmortem.status_changed_at
    if kind is ReminderKind.DRAFT_STALE and incident.resolved_at is not None:
        since = incident.resolved_at
    title = HIDDEN_TITLE if hidden else safe_mrkdwn(shorten(incident.title, 300))
    what = "resolved" if kind is ReminderKind.DRAFT_STALE else "in review"
    line = (
        f"{_HEADINGS[kind]} · *{incident.key}* {title}\n"
        f"{postmortem.status.label} · {what} since {format_date(since.date())} · "
        "`/postmortem status` in the incident's channel moves it on"
    )
    section = {**text_block(line), "block_id": f"reminder:postmortem:{postmortem.id}"}
    if not postmortem.document_url:
        return [section]
    actions = {
        "type": "actions",
        "block_id": f"reminder_actions:postmortem:{postmortem.id}",
        "elements": [_url_button(postmortem.document_url)],
    }
    return [section, actions]


def _button(label: str, action_id: str, value: str, *, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "action_id": action_id,
        "text": plain(label),
        "value": value,
    }
    if style:
        button["style"] = style
    return button


def _url_button(url: str) -> dict[str, Any]:
    return {"type": "button", "action_id": OPEN_ACTION, "text": plain("Open"), "url": url}


def after_action(blocks: Blocks, followup_id: int, note: str) -> Blocks:
    """The DM once a follow-up's button was used: its buttons give way to what was done."""
    target = f"{_ACTIONS_PREFIX}{followup_id}"
    return [
        {**context_block(note), "block_id": target} if block.get("block_id") == target else block
        for block in blocks
    ]


def done_note(followup: FollowUp, by: str) -> str:
    return f":white_check_mark: <@{by}> marked *{followup.key}* done. No more reminders about it."


def snoozed_note(followup: FollowUp, by: str, period_label: str) -> str:
    return f":zzz: <@{by}> snoozed *{followup.key}* for {period_label}: no reminders until then."

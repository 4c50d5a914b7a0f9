"""Timeline messages and views: the channel echo, the private list, the edit modal."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from bot.slack.mrkdwn import safe_mrkdwn, to_editable
from bot.timeline.commands import MAX_TEXT, USER_KINDS
from storage.models import EventKind, Incident, KeyTime, TimelineEvent

Blocks = list[dict[str, Any]]

EVENT_MENU_ACTION = "timeline_event_menu"
EDIT_VIEW_CALLBACK = "timeline_event_edit"
LIST_LIMIT = 45  # a message holds 50 blocks; keep room for the header and footer
KIND_EMOJI = {
    EventKind.NOTE: ":memo:",
    EventKind.DETECTION: ":rotating_light:",
    EventKind.ESCALATION: ":telephone_receiver:",
    EventKind.MITIGATION: ":adhesive_bandage:",
    EventKind.DECISION: ":scales:",
    EventKind.STATUS: ":traffic_light:",
    EventKind.MESSAGE: ":speech_balloon:",
    EventKind.FOLLOWUP: ":ballot_box_with_check:",
}


def who(author_id: str | None) -> str:
    if author_id and author_id[:1] in ("U", "W"):
        return f"<@{author_id}>"
    return "a bot" if author_id else "someone"


def when(moment: datetime, *, now: datetime) -> str:
    moment = moment.astimezone(UTC)
    if moment.date() == now.astimezone(UTC).date():
        return moment.strftime("%H:%M UTC")
    return moment.strftime("%b %d %H:%M UTC").replace(" 0", " ")


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def event_line(event: TimelineEvent, *, now: datetime, limit: int = 500) -> str:
    line = (
        f"{KIND_EMOJI[event.kind]} *{when(event.occurred_at, now=now)}* · {event.kind.value} · "
        f"{who(event.author_id)}: {safe_mrkdwn(_shorten(event.text, limit))}"
    )
    if event.permalink:
        line += f" <{event.permalink}|(message)>"
    if event.edited_by:
        line += f" _(edited by {who(event.edited_by)})_"
    return line


def event_logged(incident: Incident, event: TimelineEvent, *, now: datetime) -> tuple[str, Blocks]:
    """The short line echoed in the channel when someone logs an event."""
    text = f"{incident.key} timeline: " + event_line(event, now=now)
    return text, [{"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}]


def timeline_list(
    incident: Incident, events: list[TimelineEvent], total: int, *, now: datetime
) -> tuple[str, Blocks]:
    title = f"*{incident.key} timeline*: {total} event{'s' if total != 1 else ''} (times in UTC)"
    blocks: Blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": title}}]
    if not events:
        blocks.append(context_block("Nothing yet. Log one with `/timeline <what happened>`."))
    for event in events:
        blocks.append(
            {
                "type": "section",
                "block_id": f"event-{event.id}",
                "text": {"type": "mrkdwn", "text": event_line(event, now=now, limit=400)},
                "accessory": {
                    "type": "overflow",
                    "action_id": EVENT_MENU_ACTION,
                    "options": [
                        _option("Edit", f"edit:{event.id}"),
                        # the declaration can't be deleted (bot.timeline.service.delete_event)
                        *(
                            []
                            if event.key_time is KeyTime.DECLARED
                            else [_option("Delete", f"delete:{event.id}")]
                        ),
                    ],
                },
            }
        )
    if total > len(events):
        blocks.append(
            context_block(
                f"Showing the latest {len(events)} of {total}; the postmortem has them all."
            )
        )
    return f"{incident.key} timeline: {total} events", blocks


def _option(label: str, value: str) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": label}, "value": value}


def context_block(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


KEY_TIME_NOTES = {
    KeyTime.DECLARED: "This event is the declaration: its time and kind stay as they are.",
    KeyTime.MITIGATED: "This event records when it was mitigated: moving it moves that key time.",
    KeyTime.RESOLVED: "This event records when it was resolved: moving it moves that key time.",
}


def event_edit_modal(event: TimelineEvent, *, channel_id: str) -> dict[str, Any]:
    kinds = list(USER_KINDS.values())
    if event.kind not in kinds:
        kinds.append(event.kind)
    if event.key_time is not None:
        kinds = [event.kind]  # it stays what it records (bot.timeline.service.edit_event)
    return {
        "type": "modal",
        "callback_id": EDIT_VIEW_CALLBACK,
        "private_metadata": json.dumps({"event_id": event.id, "channel_id": channel_id}),
        "title": {"type": "plain_text", "text": "Edit timeline event"},
        "submit": {"type": "plain_text", "text": "Save"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            *(
                [context_block(KEY_TIME_NOTES[event.key_time])]
                if event.key_time in KEY_TIME_NOTES
                else []
            ),
            {
                "type": "input",
                "block_id": "time",
                "label": {"type": "plain_text", "text": "When (UTC)"},
                "hint": {
                    "type": "plain_text",
                    "text": "2026-11-22 14:32, 14:32, yesterday 23:50, or ISO-8601 with offset",
                },
                "element": {
                    "type": "plain_text_input",
                    "action_id": "value",
                    "initial_value": event.occurred_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M"),
                },
            },
            {
                "type": "input",
                "block_id": "kind",
                "label": {"type": "plain_text", "text": "Kind"},
                "element": {
                    "type": "static_select",
                    "action_id": "value",
                    "initial_option": _option(event.kind.value, event.kind.value),
                    "options": [_option(k.value, k.value) for k in kinds],
                },
            },
            {
                "type": "input",
                "block_id": "text",
                "label": {"type": "plain_text", "text": "What happened"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": "value",
                    "multiline": True,
                    "max_length": MAX_TEXT,
                    "initial_value": to_editable(event.text),
                },
            },
        ],
    }

"""Parsing `/timeline` command text (pure; raises UserError). Times are read later, with the
user's time zone, by `bot.timeparse`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.core.errors import UserError
from bot.core.timeparse import parse_time_prefix
from bot.slack.mrkdwn import from_editable
from storage.models import EventKind

MAX_TEXT = 2900  # a section block holds 3000 characters; leave room for the prefix

USAGE = (
    "*/timeline* commands (in the incident's channel):\n"
    "• `/timeline <what happened>` — log it now\n"
    "• `/timeline at 14:32 <what happened>` — at a time today in your time zone "
    "(also `yesterday 23:50`, `14:32 UTC`, `2026-11-22T14:32+01:00`)\n"
    "• `/timeline detection Pager fired for checkout 5xx` — start with a kind: "
    "note, detection, escalation, mitigation, decision\n"
    "• `/timeline list` — see, edit and delete the events\n"
    "• Or use the *Add to timeline* message shortcut, or react with the timeline emoji."
)

USER_KINDS = {
    kind.value: kind
    for kind in (
        EventKind.NOTE,
        EventKind.DETECTION,
        EventKind.ESCALATION,
        EventKind.MITIGATION,
        EventKind.DECISION,
    )
}


@dataclass(frozen=True)
class Help:
    pass


@dataclass(frozen=True)
class ListEvents:
    pass


@dataclass(frozen=True)
class LogEvent:
    words: str  # as Slack delivered them: the text, or (timed) "<time> [kind] <text>"
    kind: EventKind | None
    timed: bool  # `/timeline at ...`: the time is read once the user's time zone is known


@dataclass(frozen=True)
class ResolvedEvent:
    occurred_at: datetime
    kind: EventKind
    text: str


TimelineCommand = Help | ListEvents | LogEvent


def take_kind(text: str) -> tuple[EventKind | None, str]:
    """A leading kind word (`detection`, `Decision:`) and the rest of the text."""
    first, _, rest = text.strip().partition(" ")
    kind = USER_KINDS.get(first.lower().rstrip(":"))
    return (kind, rest.strip()) if kind is not None else (None, text.strip())


def check_text(text: str) -> str:
    if not text:
        raise UserError("Say what happened: `/timeline Rolled back deploy 4812`.")
    if len(text) > MAX_TEXT:
        raise UserError(
            f"That is {len(text)} characters; keep an event under {MAX_TEXT}. "
            "Long context belongs in the channel, where it is captured for the postmortem."
        )
    return text


def parse_timeline_command(text: str) -> TimelineCommand:
    text = text.strip()
    lowered = text.lower()
    if lowered in ("", "help", "?", "-h", "--help"):
        return Help()
    if lowered in ("list", "ls", "show"):
        return ListEvents()
    kind, rest = take_kind(text)
    if rest.lower().startswith("at ") or rest.lower() == "at":
        return LogEvent(words=rest[2:].strip(), kind=kind, timed=True)
    return LogEvent(words=check_text(rest), kind=kind, timed=False)


def resolve(command: LogEvent, *, now: datetime, tz_name: str | None) -> ResolvedEvent:
    """Fix the moment (in the user's zone for `at`), the kind and the text of an event."""
    if not command.timed:
        return ResolvedEvent(now, command.kind or EventKind.NOTE, command.words)
    parsed = parse_time_prefix(command.words, now=now, tz_name=tz_name)
    kind, text = take_kind(parsed.rest)  # `/timeline at 14:32 detection ...`
    return ResolvedEvent(parsed.moment, command.kind or kind or EventKind.NOTE, check_text(text))


@dataclass(frozen=True)
class EventEdit:
    """The "Edit timeline event" modal, read back: what to save, or the errors to show inline."""

    event_id: int
    channel_id: str | None
    occurred_at: datetime | None
    kind: EventKind
    text: str
    errors: dict[str, str]


def read_event_edit(
    values: dict[str, Any], private_metadata: str | None, *, now: datetime
) -> EventEdit:
    """Read the modal's fields (times are UTC there, as the list shows them)."""
    meta = json.loads(private_metadata or "{}")
    errors: dict[str, str] = {}
    moment: datetime | None = None
    try:
        when = parse_time_prefix(values["time"]["value"]["value"] or "", now=now, tz_name="UTC")
        moment = when.moment
        if when.rest:
            errors["time"] = "Only a time here, like 2026-11-22 14:32 (UTC)."
    except UserError as error:
        errors["time"] = error.message
    text = from_editable((values["text"]["value"]["value"] or "").strip())
    try:
        check_text(text)
    except UserError as error:
        errors["text"] = error.message
    return EventEdit(
        event_id=int(meta.get("event_id", 0)),
        channel_id=meta.get("channel_id") or None,
        occurred_at=moment,
        kind=EventKind(values["kind"]["value"]["selected_option"]["value"]),
        text=text,
        errors=errors,
    )

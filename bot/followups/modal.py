"""The "Create follow-up" modal: built from a message, read back with inline errors."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

from bot.followups.blocks import plain
from bot.followups.commands import MAX_TITLE
from bot.slack.mrkdwn import to_editable
from storage.models import Priority

MODAL_CALLBACK = "create_followup_modal"
TITLE_PREFILL = 150
MAX_DESCRIPTION = 3000


@dataclass(frozen=True)
class ModalOrigin:
    """Where the shortcut was used (kept in the modal's private_metadata)."""

    channel_id: str
    message_ts: str | None
    permalink: str | None


@dataclass(frozen=True)
class ModalInput:
    title: str  # as typed (plain text)
    description: str
    owner_id: str | None
    due: date | None
    priority: Priority


def title_from_message(text: str) -> str:
    """A title from a message: its first non-empty line, cut at a word near TITLE_PREFILL."""
    lines = [" ".join(line.split()).lstrip("> •-*").strip() for line in text.splitlines()]
    first = next((line for line in lines if line), "")
    if len(first) <= TITLE_PREFILL:
        return first
    cut = first[: TITLE_PREFILL - 1]
    if " " in cut[TITLE_PREFILL // 2 :]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:.-") + "…"


def create_modal(
    *, message_text: str, origin: ModalOrigin, due: date, description: str | None = None
) -> dict[str, Any]:
    """The modal opened by the shortcut, prefilled from the message (text → title, link)."""
    editable = to_editable(message_text)
    title = title_from_message(editable)
    if description is None:
        description = f"From {origin.permalink}" if origin.permalink else ""
        if editable.strip() and editable.strip() != title:
            description = (description + "\n\n" + editable.strip()).strip()
    metadata = {"channel_id": origin.channel_id, "message_ts": origin.message_ts}
    metadata["permalink"] = origin.permalink
    return {
        "type": "modal",
        "callback_id": MODAL_CALLBACK,
        "private_metadata": json.dumps(metadata),
        "title": plain("New follow-up"),
        "submit": plain("Create"),
        "close": plain("Cancel"),
        "blocks": [
            _input("title", "What needs doing", _text_input(title, MAX_TITLE)),
            _input(
                "description",
                "Details",
                _text_input(description[:MAX_DESCRIPTION], MAX_DESCRIPTION, multiline=True),
                optional=True,
            ),
            _input(
                "owner",
                "Owner",
                {
                    "type": "users_select",
                    "action_id": "value",
                    "placeholder": plain("Pick someone"),
                },
                optional=True,
                hint="Unassigned follow-ups are for the incident commander to assign.",
            ),
            _input(
                "due",
                "Due date",
                {"type": "datepicker", "action_id": "value", "initial_date": due.isoformat()},
            ),
            _input(
                "priority",
                "Priority",
                {
                    "type": "static_select",
                    "action_id": "value",
                    "initial_option": _option(Priority.P3),
                    "options": [_option(p) for p in Priority],
                },
            ),
        ],
    }


def read_origin(view: dict[str, Any]) -> ModalOrigin:
    try:
        meta = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        meta = {}
    if not isinstance(meta, dict):
        meta = {}
    return ModalOrigin(
        channel_id=str(meta.get("channel_id") or ""),
        message_ts=meta.get("message_ts") or None,
        permalink=meta.get("permalink") or None,
    )


def read_modal(values: dict[str, Any]) -> tuple[ModalInput, dict[str, str]]:
    """The submitted fields and inline errors by block_id (empty when all is well)."""
    errors: dict[str, str] = {}

    def field(block: str) -> dict[str, Any]:
        value = (values.get(block) or {}).get("value")
        return value if isinstance(value, dict) else {}

    title = (field("title").get("value") or "").strip()
    if not title:
        errors["title"] = "Say what needs doing, e.g. “Add alerting on queue depth”."
    elif len(title) > MAX_TITLE:
        errors["title"] = f"Keep the title under {MAX_TITLE} characters; details go below."
    due: date | None = None
    raw_due = field("due").get("selected_date")
    try:
        due = date.fromisoformat(raw_due) if raw_due else None
    except (TypeError, ValueError):
        due = None
    if due is None:
        errors["due"] = "Pick a due date."
    option = field("priority").get("selected_option") or {}
    try:
        priority = Priority(option.get("value") or Priority.P3.value)
    except ValueError:
        priority = Priority.P3
    owner = field("owner").get("selected_user") or None
    form = ModalInput(
        title=title,
        description=(field("description").get("value") or "").strip()[:MAX_DESCRIPTION],
        owner_id=owner if isinstance(owner, str) else None,
        due=due,
        priority=priority,
    )
    return form, errors


def _input(
    block_id: str,
    label: str,
    element: dict[str, Any],
    *,
    optional: bool = False,
    hint: str | None = None,
) -> dict[str, Any]:
    block: dict[str, Any] = {
        "type": "input",
        "block_id": block_id,
        "label": plain(label),
        "element": element,
        "optional": optional,
    }
    if hint:
        block["hint"] = plain(hint)
    return block


def _text_input(initial: str, max_length: int, *, multiline: bool = False) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": "value",
        "max_length": max_length,
        "multiline": multiline,
    }
    if initial:
        element["initial_value"] = initial[:max_length]
    return element


def _option(priority: Priority) -> dict[str, Any]:
    return {"text": plain(priority.label), "value": priority.value}

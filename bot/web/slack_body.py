"""What a verified request to /slack/events may look like, parsed once, strictly.

Slack sends three things there (https://docs.slack.dev/interactivity/): slash commands as a
form, interactivity as a form with one JSON `payload` field, and Events API deliveries as a JSON
object. Anything else signed with our secret (a JSON array, a form labelled JSON, bytes that are
not UTF-8, a form with neither `command` nor `payload`…) is refused with MalformedBody (HTTP
400), never handed to Bolt: Bolt's own parser raises on such bodies and its helpers index fields
they assume are there, so a bad shape would otherwise surface as a 500 or as an error handler
acting on half a request.

The dict returned is what Bolt gets (bot.web.server builds Bolt's request from it): one parser,
so what was checked is what runs. Bolt's own parser also reads any form body containing the
word "payload" (say, a `/timeline payload too large` command) as an empty request.

`check_shape` enforces the types of the fields Bolt and our listeners read before any listener
runs (ids are strings, `event` is an object with a `type`, `actions` a non-empty list of
objects with `action_id` and `block_id`…): Slack's documented shapes, not every field of them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qsl

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
MAX_DEPTH = 64  # Block Kit nests a dozen levels; far deeper is an attack on the parser
MAX_FORM_FIELDS = 100  # a slash command has about 15

Kind = Literal["command", "interactive", "event"]


class MalformedBody(ValueError):
    """A body Slack would not send; `reason` says what was wrong (never quotes the body)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class SlackBody:
    kind: Kind
    data: dict[str, Any]


def media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def is_ssl_check(raw: bytes, content_type: str) -> bool:
    """Slack's certificate check for slash commands: `ssl_check=1&token=…`, sent WITHOUT a
    signature (bolt-js issue #1397), answered 200 and nothing else. Exactly those fields, so
    nothing can be smuggled along (bolt-js issue #2897)."""
    if media_type(content_type) != FORM:
        return False
    try:
        fields = _form_fields(raw.decode("utf-8"))
    except (UnicodeDecodeError, MalformedBody):
        return False
    return fields.get("ssl_check") == "1" and set(fields) <= {"ssl_check", "token"}


def parse_slack_body(raw: bytes, content_type: str) -> SlackBody:
    """The body as Slack would have sent it, or MalformedBody."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedBody("the body is not UTF-8") from None
    kind = media_type(content_type)
    if kind == JSON:
        data = _json_object(text, "the JSON body")
        body = SlackBody("event", data)
    elif kind == FORM:
        body = _form_body(text)
    else:
        raise MalformedBody(f"expected {FORM} or {JSON}, got {kind or 'no content type'}")
    check_shape(body)
    return body


def _form_body(text: str) -> SlackBody:
    if text.lstrip().startswith(("{", "[")):
        raise MalformedBody(f"a JSON body labelled {FORM}")
    fields = _form_fields(text)
    if "payload" in fields:
        if "command" in fields:
            raise MalformedBody("a form with both `command` and `payload`")
        return SlackBody("interactive", _json_object(fields["payload"], "the `payload` field"))
    if "command" in fields:
        return SlackBody("command", dict(fields))
    raise MalformedBody("a form body carries `command` (slash commands) or `payload`")


def _form_fields(text: str) -> dict[str, str]:
    try:
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
    except ValueError:
        raise MalformedBody(f"more than {MAX_FORM_FIELDS} form fields") from None
    fields = dict(pairs)
    if len(fields) != len(pairs):
        raise MalformedBody("a form field given twice")
    return fields


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON Slack sends")


def _json_object(text: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than Python's stack
        raise MalformedBody(f"{what} is not valid JSON") from None
    if not isinstance(value, dict):
        raise MalformedBody(f"{what} is JSON but not an object")
    if _depth(value) > MAX_DEPTH:
        raise MalformedBody(f"{what} nests deeper than {MAX_DEPTH} levels")
    return value


def _depth(value: Any) -> int:
    deepest, pending = 0, [(value, 1)]
    while pending:
        item, depth = pending.pop()
        deepest = max(deepest, depth)
        if deepest > MAX_DEPTH:
            break
        if isinstance(item, dict):
            pending.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            pending.extend((child, depth + 1) for child in item)
    return deepest


# -- shapes ------------------------------------------------------------------------------------

# Fields that are strings (or null) wherever they appear: Bolt copies them into the request's
# context and matches listeners on them; our listeners compare and store them.
_TEXT_FIELDS = (
    "type",
    "subtype",
    "token",
    "command",
    "team_id",
    "user_id",
    "channel_id",
    "enterprise_id",
    "api_app_id",
    "event_id",
    "trigger_id",
    "callback_id",
    "action_id",
    "block_id",
    "response_url",
    "thread_ts",
    "ts",
    "event_ts",
    "message_ts",
    "private_metadata",
    "bot_id",
    "reaction",
    "user_team",
    "function_execution_id",
    "bot_access_token",
    "challenge",
    "context_team_id",
    "context_enterprise_id",
    "app_installed_team_id",
)
# Either an id (a string) or an object with a string `id`; Bolt accepts both.
_ID_OR_OBJECT = ("team", "user", "channel", "enterprise")
# Objects Bolt's helpers and our listeners look into (they call .get() on them).
_OBJECTS = (
    "event",
    "view",
    "message",
    "previous_message",
    "item",
    "assistant_thread",
    "container",
    "function_data",
    "state",
)
_LISTS_OF_OBJECTS = ("authorizations", "actions", "response_urls")
_BOOLEAN_OR_TEXT = ("is_enterprise_install", "is_ext_shared_channel")
_MESSAGES = ("event", "message", "previous_message")  # where `text` is the message's text
# What each kind of request must name so that a listener can be chosen for it.
_REQUIRED: dict[str, tuple[str, ...]] = {
    "event_callback": ("event", "event_id"),
    "url_verification": ("challenge",),
    "block_actions": ("actions",),
    "block_suggestion": ("action_id", "block_id"),
    "shortcut": ("callback_id", "trigger_id"),
    "message_action": ("callback_id", "trigger_id", "message"),
    "view_submission": ("view",),
    "view_closed": ("view",),
    "interactive_message": ("callback_id", "actions"),
    "dialog_submission": ("callback_id",),
    "dialog_cancellation": ("callback_id",),
    "dialog_suggestion": ("callback_id",),
    # Bolt reads `workflow_step` from these before any listener is chosen (payload_utils.to_step)
    "workflow_step_edit": ("callback_id", "workflow_step"),
}
_COMMAND_FIELDS = ("command", "text", "team_id", "user_id", "channel_id")


def check_shape(body: SlackBody) -> None:
    """MalformedBody unless the fields Bolt and our listeners read have Slack's types."""
    data = body.data
    if body.kind == "command":
        missing = [name for name in _COMMAND_FIELDS if name not in data]
        if missing:
            raise MalformedBody(f"a slash command without {', '.join(missing)}")
        if not data["command"].startswith("/"):
            raise MalformedBody("a slash command whose name does not start with /")
        return
    kind = data.get("type")
    if not isinstance(kind, str):
        raise MalformedBody("a payload without a `type`")
    missing = [name for name in _REQUIRED.get(kind, ()) if data.get(name) is None]
    if missing:
        raise MalformedBody(f"a {kind} payload without {', '.join(missing)}")
    # Bolt reads these with .get() whenever the key is there at all (even to log a request no
    # listener wanted): a null or a list in their place crashed it (found by the fuzz test).
    for name in _OBJECTS:
        if name in data and not isinstance(data[name], dict):
            raise MalformedBody(f"`{name}` is not an object")
    for path, role, node in _nodes(data):
        _check_node(path, role, node)
    if kind == "event_callback" and not isinstance(data["event"].get("type"), str):
        raise MalformedBody("an event without a `type`")
    if kind == "workflow_step_edit" and not isinstance(data["workflow_step"], dict):
        raise MalformedBody("a workflow_step_edit whose `workflow_step` is not an object")
    if kind in ("block_actions", "interactive_message") and not data["actions"]:
        raise MalformedBody(f"a {kind} payload with no action")
    if kind == "message_action" and not isinstance(data["message"].get("ts"), str):
        raise MalformedBody("a message shortcut whose message has no `ts`")
    if kind in ("view_submission", "view_closed"):
        view = data["view"]
        if not isinstance(view.get("callback_id"), str) or not isinstance(view.get("type"), str):
            raise MalformedBody(f"a {kind} whose view has no `callback_id` or `type`")
        if view["type"] == "workflow_step" and not isinstance(data.get("workflow_step"), dict):
            raise MalformedBody("a workflow step's view submission without `workflow_step`")


def _nodes(data: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """The body and every object nested where Bolt's helpers look: (path, role, object)."""
    pending: list[tuple[str, str, Any]] = [("body", "body", data)]
    while pending:
        path, role, node = pending.pop()
        if not isinstance(node, dict):
            raise MalformedBody(f"{path} is not an object")
        yield path, role, node
        for name in _OBJECTS:
            if node.get(name) is not None:
                pending.append((f"{path}.{name}", name, node[name]))
        for name in _ID_OR_OBJECT:
            if isinstance(node.get(name), dict):
                pending.append((f"{path}.{name}", name, node[name]))
        for name in _LISTS_OF_OBJECTS:
            items = node.get(name)
            if items is None:
                continue
            if not isinstance(items, list):
                raise MalformedBody(f"{path}.{name} is not a list")
            pending.extend((f"{path}.{name}[{i}]", name, item) for i, item in enumerate(items))


def _check_node(path: str, role: str, node: dict[str, Any]) -> None:
    for name in _TEXT_FIELDS:
        value = node.get(name)
        if value is not None and not isinstance(value, str):
            raise MalformedBody(f"{path}.{name} is not a string")
    for name in _ID_OR_OBJECT:
        value = node.get(name)
        if value is not None and not isinstance(value, str | dict):
            raise MalformedBody(f"{path}.{name} is neither an id nor an object")
        if isinstance(value, dict) and not isinstance(value.get("id", ""), str):
            raise MalformedBody(f"{path}.{name}.id is not a string")
    for name in _BOOLEAN_OR_TEXT:
        value = node.get(name)
        if value is not None and not isinstance(value, bool | str):
            raise MalformedBody(f"{path}.{name} is neither true/false nor text")
    if role in _MESSAGES and not isinstance(node.get("text", ""), str | None):
        raise MalformedBody(f"{path}.text is not a string")
    if role == "actions":
        for name in ("action_id", "block_id"):
            if not isinstance(node.get(name), str):
                raise MalformedBody(f"{path} has no string `{name}`")
        if not isinstance(node.get("value", ""), str | None):
            raise MalformedBody(f"{path}.value is not a string")

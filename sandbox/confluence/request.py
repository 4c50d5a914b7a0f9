"""What a route handler sees (``Request``) and answers (``Reply``), plus the small argument and
paging helpers the v1 and v2 handlers share. No HTTP plumbing here.

Cursors are opaque to clients, as on Cloud; the fake's encode an offset (``base64("o:25")``).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sandbox.confluence.model import ConfluenceError, JsonDict
from sandbox.confluence.render_v1 import View
from sandbox.confluence.state import ConfluenceState

V1 = "v1"
V2 = "v2"


@dataclass(frozen=True)
class Request:
    method: str
    api: str  # "v1" or "v2"
    path: str  # relative to the API root: "/content/123", "/pages"
    query: dict[str, list[str]]
    body: Any
    caller: str  # account id of the authenticated user
    view: View

    def arg(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    def args(self, name: str) -> list[str]:
        """All values of a repeatable or comma-separated parameter (``?keys=A,B&keys=C``)."""
        return [part.strip() for v in self.query.get(name, []) for part in v.split(",") if part]


@dataclass
class Reply:
    status: int
    body: Any = None  # None: an empty body
    headers: dict[str, str] = field(default_factory=dict)
    text: str | None = None  # a text/plain body instead of JSON


Handler = Callable[[ConfluenceState, Request, re.Match[str]], Reply]


def int_arg(req: Request, name: str, default: int, *, maximum: int | None = None) -> int:
    value = req.arg(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ConfluenceError(
            400, f"The value '{value}' is not a valid number for parameter '{name}'"
        ) from None
    if number < 0:
        raise ConfluenceError(400, f"Parameter '{name}' must not be negative")
    return min(number, maximum) if maximum is not None else number


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if raw.startswith("o:"):
            return max(int(raw[2:]), 0)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise ConfluenceError(400, f"Invalid cursor: {cursor}", v2_title="Invalid cursor")


def offset_of(req: Request, *, cursor_only: bool = False) -> int:
    """Where a page of results starts: the ``cursor`` if any, else ``start`` (v1)."""
    cursor = req.arg("cursor")
    if cursor:
        return decode_cursor(cursor)
    return 0 if cursor_only else int_arg(req, "start", 0)


def json_object(req: Request) -> JsonDict:
    if not isinstance(req.body, dict):
        raise ConfluenceError(400, "A JSON object is required as the request body")
    return req.body


def text_field(data: JsonDict, name: str) -> str | None:
    value = data.get(name)
    return value if isinstance(value, str) else None


def storage_value(body: Any, *, v2: bool) -> str | None:
    """The storage XML of a request's ``body`` (None when absent).

    v1: ``{"storage": {"value", "representation": "storage"}}``. v2: ``{"representation",
    "value"}`` or the nested form ``{"storage": {"value"}}`` (what ``ConfluenceV2`` sends).
    Other representations are refused: the fake stores storage format only."""
    if body is None:
        return None
    if not isinstance(body, dict):
        raise ConfluenceError(400, "body must be an object")
    if v2 and "value" in body:
        representation = body.get("representation", "storage")
        value = body.get("value")
    elif len(body) == 1 and isinstance(body.get("storage"), dict):
        inner = body["storage"]
        representation = inner.get("representation", "storage")
        value = inner.get("value")
    elif not body:
        return None
    elif len(body) > 1:
        kinds = ", ".join(sorted(body))
        raise ConfluenceError(
            400, f"Maximum number of permitted body entries is 1 but found {len(body)}: {kinds}"
        )
    else:
        kind = next(iter(body))
        raise ConfluenceError(
            400, f"Unsupported representation '{kind}'; the fake stores storage only"
        )
    if representation != "storage":
        raise ConfluenceError(
            400, f"Unsupported representation '{representation}'; the fake stores storage only"
        )
    if not isinstance(value, str):
        raise ConfluenceError(400, "body value must be a string")
    return value

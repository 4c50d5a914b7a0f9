"""Value types and small helpers shared by the fake Slack modules.

Nothing here touches shared state: request parameters, API errors, recorded calls,
timestamps, pagination cursors and time-zone facts.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:
    from sandbox.slack.state import SlackState

JsonDict = dict[str, Any]

MICRO = Decimal("0.000001")
_TS_RE = re.compile(r"^\d{1,12}(\.\d{1,6})?$")

# Parameters that Slack accepts as JSON-encoded strings in form bodies.
JSON_PARAMS = frozenset(
    {
        "blocks",
        "attachments",
        "view",
        "files",
        "document_content",
        "changes",
        "criteria",
        "metadata",
        "title_content",
        "channel_ids",
        "user_ids",
    }
)


class ApiError(Exception):
    """An ``ok: false`` answer with one of Slack's error codes."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra

    def body(self) -> JsonDict:
        return {"ok": False, "error": self.error, **self.extra}


@dataclass(frozen=True)
class Call:
    """One Web API request as the fake saw it, with the answer it gave."""

    method: str
    params: dict[str, Any]
    headers: dict[str, str]
    status: int
    response: dict[str, Any]


@dataclass
class Fault:
    """An injected failure for the next ``remaining`` calls of one method."""

    kind: str  # "fail" | "rate_limit" | "server_error"
    remaining: int
    error: str = ""
    status: int = 200
    retry_after: int = 0


@dataclass(frozen=True)
class SlackConfig:
    team_id: str
    team_domain: str
    team_name: str
    bot_token: str
    bot_user_id: str
    bot_id: str
    bot_name: str
    app_id: str
    enterprise_id: str | None


class Params:
    """Typed access to a request's merged parameters (form, JSON or query string)."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def opt(self, key: str) -> str | None:
        value = self.data.get(key)
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            return "1" if value else "0"
        if isinstance(value, str | int | float):
            return str(value)
        raise ApiError("invalid_arguments", detail=f"{key} must be a string")

    def text(self, key: str) -> str:
        return self.opt(key) or ""

    def required(self, key: str, error: str = "invalid_arguments") -> str:
        value = self.opt(key)
        if value is None:
            raise ApiError(error)
        return value

    def flag(self, key: str) -> bool:
        value = self.data.get(key)
        if isinstance(value, str):
            return value.strip().lower() in ("1", "true", "yes")
        return bool(value)

    def number(self, key: str, default: int) -> int:
        value = self.data.get(key)
        if value is None or value == "":
            return default
        try:
            return int(str(value))
        except ValueError as exc:
            raise ApiError("invalid_arguments", detail=f"{key} must be an integer") from exc

    def obj(self, key: str) -> Any:
        value = self.data.get(key)
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError as exc:
                raise ApiError("invalid_arguments", detail=f"{key} is not valid JSON") from exc
        return value

    def ids(self, key: str) -> list[str]:
        value = self.data.get(key)
        if isinstance(value, str) and value.startswith("["):
            value = self.obj(key)
        if value is None or value == "":
            return []
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list):
            return [str(part) for part in value]
        raise ApiError("invalid_arguments", detail=f"{key} must be a list of ids")


Handler = Callable[["SlackState", Params], JsonDict]


def decode_json_params(params: dict[str, Any]) -> dict[str, Any]:
    """JSON-decode the parameters Slack documents as JSON strings (blocks, view, ...)."""
    decoded: dict[str, Any] = {}
    for key, value in params.items():
        if key in JSON_PARAMS and isinstance(value, str) and value[:1] in ("[", "{"):
            try:
                value = json.loads(value)
            except ValueError:
                pass
        decoded[key] = value
    return decoded


# --- timestamps -------------------------------------------------------------------------


def parse_ts(value: str | None) -> Decimal | None:
    """A Slack ``ts`` (or a plain Unix time) as a Decimal; None when absent or malformed."""
    if value is None or not _TS_RE.match(value.strip()):
        return None
    try:
        return Decimal(value.strip())
    except InvalidOperation:
        return None


def format_ts(value: Decimal) -> str:
    return f"{value.quantize(MICRO):.6f}"


def ts_key(message: JsonDict) -> Decimal:
    return Decimal(str(message["ts"]))


# --- cursors ----------------------------------------------------------------------------


def encode_cursor(kind: str, value: str) -> str:
    """Opaque base64 cursors shaped like Slack's (``next_ts:…``, ``user:…``)."""
    return base64.b64encode(f"{kind}:{value}".encode()).decode("ascii")


def decode_cursor(cursor: str, kind: str) -> str:
    try:
        raw = base64.b64decode(cursor.encode("ascii"), validate=True).decode()
    except (binascii.Error, UnicodeError, ValueError) as exc:
        raise ApiError("invalid_cursor") from exc
    prefix, _, value = raw.partition(":")
    if prefix != kind or not value:
        raise ApiError("invalid_cursor")
    return value


def ts_cursor(ts: str) -> str:
    return encode_cursor("next_ts", ts.replace(".", ""))


def ts_from_cursor(cursor: str) -> Decimal:
    digits = decode_cursor(cursor, "next_ts")
    if not digits.isdigit() or len(digits) < 7:
        raise ApiError("invalid_cursor")
    return Decimal(f"{digits[:-6]}.{digits[-6:]}")


def page_limit(params: Params, *, default: int, maximum: int) -> int:
    limit = params.number("limit", default)
    if limit <= 0:
        return default
    return min(limit, maximum)


def page_of_ids(ids: list[str], params: Params, *, limit: int) -> tuple[list[str], str]:
    """One page of an id list after the request's cursor, and the next cursor ("" at the end)."""
    cursor = params.opt("cursor")
    if cursor is not None:
        after = decode_cursor(cursor, "user")
        if after not in ids:
            raise ApiError("invalid_cursor")
        ids = ids[ids.index(after) :]
    page, rest = ids[:limit], ids[limit:]
    return page, encode_cursor("user", rest[0]) if rest else ""


# --- time zones ---------------------------------------------------------------------------

_TZ_LABELS = {
    "UTC": "Coordinated Universal Time",
    "GMT": "Greenwich Mean Time",
    "BST": "British Summer Time",
    "IST": "India Standard Time",
    "CET": "Central European Time",
    "CEST": "Central European Summer Time",
    "EET": "Eastern European Time",
    "EEST": "Eastern European Summer Time",
    "EST": "Eastern Standard Time",
    "EDT": "Eastern Daylight Time",
    "CST": "Central Standard Time",
    "CDT": "Central Daylight Time",
    "MST": "Mountain Standard Time",
    "MDT": "Mountain Daylight Time",
    "PST": "Pacific Standard Time",
    "PDT": "Pacific Daylight Time",
    "AKST": "Alaska Standard Time",
    "AKDT": "Alaska Daylight Time",
    "HST": "Hawaii-Aleutian Standard Time",
    "JST": "Japan Standard Time",
    "KST": "Korea Standard Time",
    "AEST": "Australian Eastern Standard Time",
    "AEDT": "Australian Eastern Daylight Time",
    "NZST": "New Zealand Standard Time",
    "NZDT": "New Zealand Daylight Time",
}


def check_tz(tz: str) -> None:
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown IANA time zone: {tz!r}") from exc


def tz_facts(tz: str) -> tuple[str, int]:
    """(tz_label, tz_offset in seconds) for ``tz`` at the current moment."""
    now = datetime.now(ZoneInfo(tz))
    offset = now.utcoffset()
    seconds = int(offset.total_seconds()) if offset is not None else 0
    abbreviation = now.tzname() or tz
    return _TZ_LABELS.get(abbreviation, abbreviation), seconds

"""Value types of the fake Confluence: accounts, groups, spaces, pages and their versions,
labels and restrictions, recorded calls and injected faults, plus Confluence's error envelopes.

Nothing here touches shared state (``state.ConfluenceState`` holds it). Timestamps are UTC and
rendered the way Confluence Cloud does (``2024-01-15T10:00:00.000Z``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

JsonDict = dict[str, Any]

CLOUD = "cloud"
DATACENTER = "datacenter"
DEPLOYMENTS = (CLOUD, DATACENTER)

READ = "read"
UPDATE = "update"
OPERATIONS = (READ, UPDATE)

# Space permissions the fake models (everyone has both unless revoked).
VIEW_SPACE = "view"
ADD_PAGE = "add_page"
SPACE_PERMISSIONS = (VIEW_SPACE, ADD_PAGE)

CURRENT = "current"
TRASHED = "trashed"

# Cloud's answer to a rejected Basic login (kovetskiy/mark#102; fixture errors/v1.401...txt).
CLOUD_401_TEXT = (
    "Basic authentication with passwords is deprecated.  For more information, see: "
    "https://confluence.atlassian.com/cloud/deprecation-of-basic-authentication-with-passwords-"
    "for-jira-and-confluence-apis-972355348.html"
)


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """Confluence's timestamp format: ``2024-01-15T10:00:00.000Z``."""
    moment = moment.astimezone(UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def friendly_date(moment: datetime) -> str:
    """``friendlyLastModified`` of search results: ``Jan 16, 2024``."""
    return f"{moment:%b} {moment.day}, {moment.year}"


# --- records ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Account:
    """A Confluence user who can call the API: Basic email + API token on Cloud, a Bearer
    personal access token on Data Center (where ``username`` names the user)."""

    account_id: str
    email: str
    display_name: str
    api_token: str
    personal_access_token: str
    username: str


@dataclass
class Group:
    id: str
    name: str
    members: set[str] = field(default_factory=set)


@dataclass
class Space:
    id: int
    key: str
    name: str
    homepage_id: str
    created: datetime
    author_id: str
    description: str = ""
    # account id -> space permissions that account lacks (everyone has all by default).
    denied: dict[str, set[str]] = field(default_factory=dict)

    def allows(self, account_id: str, permission: str) -> bool:
        return permission not in self.denied.get(account_id, set())


@dataclass(frozen=True)
class Version:
    number: int
    when: datetime
    by: str
    message: str = ""
    minor_edit: bool = False


@dataclass(frozen=True)
class Label:
    id: str
    prefix: str
    name: str


@dataclass
class RestrictionSet:
    """Who a restriction lets through: empty users *and* groups means "not restricted"."""

    users: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)

    @property
    def restricted(self) -> bool:
        return bool(self.users or self.groups)

    def copy(self) -> RestrictionSet:
        return RestrictionSet(list(self.users), list(self.groups))


def no_restrictions() -> dict[str, RestrictionSet]:
    return {op: RestrictionSet() for op in OPERATIONS}


@dataclass
class PageRecord:
    id: str
    space_key: str
    title: str
    body: str
    created: datetime
    created_by: str
    parent_id: str | None
    position: int
    versions: list[Version]
    labels: list[Label] = field(default_factory=list)
    restrictions: dict[str, RestrictionSet] = field(default_factory=no_restrictions)
    status: str = CURRENT
    properties: JsonDict = field(default_factory=dict)

    @property
    def version(self) -> Version:
        return self.versions[-1]


@dataclass(frozen=True)
class Call:
    """One HTTP request as the fake saw it (rejected ones included) and the answer it got.
    ``status`` is 0 when the fake dropped or hung up the connection instead of answering;
    ``account_id`` is None when the credentials were missing or wrong."""

    method: str
    path: str
    query: dict[str, list[str]]
    json: Any
    headers: dict[str, str]
    status: int
    response: Any
    account_id: str | None


DROP = "drop"  # close the connection without answering
HANG = "hang"  # keep the connection open, answer nothing, until released
STATUS = "status"  # answer an HTTP status


@dataclass
class Fault:
    """An injected failure for the next ``remaining`` matching requests."""

    kind: str
    method: str  # an HTTP verb, or "*" for any
    pattern: re.Pattern[str]
    remaining: int
    status: int = 0
    body: Any = None
    retry_after: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    hold: float = 30.0  # HANG: the longest a request is held before the connection closes

    def matches(self, method: str, path: str) -> bool:
        return (
            self.remaining > 0
            and self.method in ("*", method)
            and self.pattern.search(path) is not None
        )


# --- errors -----------------------------------------------------------------------------------

V2_CODES = {
    400: "INVALID_REQUEST_PARAMETER",
    401: "UNAUTHORIZED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "CONFLICT",
    429: "TOO_MANY_REQUESTS",
}


def phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


class ConfluenceError(Exception):
    """An error answer. v1 renders Confluence's envelope
    ``{"statusCode", "data": {...}, "message", "reason"?}``; v2 renders
    ``{"errors": [{"status", "code", "title", "detail"}]}``.

    ``reason``/``read_only_flag`` follow the recorded bodies: 400s carry both, the recorded 409
    and 403 bodies carry neither."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        reason: bool = True,
        read_only_flag: bool = True,
        v2_title: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message
        self.reason = reason
        self.read_only_flag = read_only_flag
        self.v2_title = v2_title
        self.headers = dict(headers or {})

    def v1(self) -> JsonDict:
        data: JsonDict = {"authorized": False, "valid": True}
        if self.read_only_flag:
            data["allowedInReadOnlyMode"] = True
        data.update(errors=[], successful=False)
        body: JsonDict = {"statusCode": self.status, "data": data, "message": self.message}
        if self.reason:
            body["reason"] = phrase(self.status)
        return body

    def v2(self) -> JsonDict:
        title = self.v2_title if self.v2_title is not None else self.message
        code = V2_CODES.get(self.status, phrase(self.status).upper().replace(" ", "_"))
        return {"errors": [{"status": self.status, "code": code, "title": title, "detail": None}]}


def content_id_str(page_id: str) -> str:
    """How Confluence prints a content id in messages: ``ContentId{id=123}``."""
    return f"ContentId{{id={page_id}}}"


def not_found(page_id: str) -> ConfluenceError:
    return ConfluenceError(
        404,
        f"No content found with id: {content_id_str(page_id)}",
        v2_title="Not Found",
    )


def bad_request(message: str) -> ConfluenceError:
    return ConfluenceError(400, message)

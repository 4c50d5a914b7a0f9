"""Value types of the fake Jira: configuration, users, issues, comments, changelog histories,
recorded calls and injected faults; errors and timestamps in Jira's formats.

Nothing here touches shared state; the fixed catalogues (statuses, transitions...) live in
``sandbox.jira.catalog``. The JSON shapes follow Jira Cloud's REST v2 answers (see
``real/issue_get_v2.cloud-derived.json`` in the shared fixtures); Server / Data Center differs
only in how users are identified (``name``/``key`` instead of ``accountId``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

JsonDict = dict[str, Any]

CLOUD = "Cloud"
SERVER = "Server"
DEPLOYMENTS = (CLOUD, SERVER)

API = "/rest/api/2"
ISSUE_EXPAND = "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations"
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class JiraError(Exception):
    """An error answer in Jira's shape: ``{"errorMessages": [...], "errors": {...}}``."""

    def __init__(
        self,
        status: int,
        messages: list[str] | None = None,
        errors: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status}: {messages or errors}")
        self.status = status
        self.messages = list(messages or [])
        self.errors = dict(errors or {})
        self.headers = dict(headers or {})

    def body(self) -> JsonDict:
        return {"errorMessages": self.messages, "errors": self.errors}


def error_body(status: int) -> JsonDict:
    """The default body of an injected failure with this HTTP status."""
    if status == 401:
        return dict(AUTH_401)
    if status == 429:
        return {"errorMessages": ["Rate limit exceeded."], "errors": {}}
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = f"HTTP {status}"
    return {"errorMessages": [phrase], "errors": {}}


AUTH_401: JsonDict = {
    "errorMessages": ["Client must be authenticated to access this resource."],
    "errors": {},
}
ISSUE_404 = "Issue does not exist or you do not have permission to see it."

# --- time -----------------------------------------------------------------------------------


def utc_now() -> datetime:
    return datetime.now(UTC)


def jira_time(moment: datetime) -> str:
    """Jira's timestamp format: ``2026-11-22T10:15:30.000+0000`` (always UTC here)."""
    moment = moment.astimezone(UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}+0000"


def parse_due(value: str) -> date | None:
    if not DATE_RE.match(value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


# --- records ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class JiraConfig:
    email: str
    api_token: str
    personal_access_token: str | None
    deployment: str
    project_key: str
    project_id: str
    project_name: str
    bot_account_id: str
    bot_display_name: str

    @property
    def cloud(self) -> bool:
        return self.deployment == CLOUD


@dataclass
class User:
    """A Jira user. On Server / Data Center ``account_id`` doubles as the username (``name``)."""

    account_id: str
    email: str
    display_name: str
    active: bool = True
    time_zone: str = "UTC"
    searchable: bool = True


@dataclass
class Comment:
    id: int
    author: str
    body: str
    created: datetime
    updated: datetime


@dataclass
class History:
    """One changelog entry: who changed what, when (items in Jira's changelog shape)."""

    id: int
    author: str
    created: datetime
    items: list[JsonDict]


@dataclass
class IssueRecord:
    id: int
    key: str
    summary: str
    description: str | None
    issuetype: str
    priority: str
    labels: list[str]
    duedate: str | None
    assignee: str | None
    reporter: str | None
    creator: str
    status: str
    created: datetime
    updated: datetime
    status_changed: datetime
    resolution: str | None = None
    resolutiondate: datetime | None = None
    comments: list[Comment] = field(default_factory=list)
    histories: list[History] = field(default_factory=list)

    @property
    def number(self) -> int:
        return int(self.key.rsplit("-", 1)[1])


@dataclass(frozen=True)
class Call:
    """One HTTP request as the fake saw it (rejected ones included), with the answer it gave."""

    method: str
    path: str
    query: dict[str, list[str]]
    json: Any
    headers: dict[str, str]
    status: int
    response: Any


@dataclass
class Fault:
    """An injected failure for the next ``remaining`` matching requests."""

    method: str  # an HTTP verb, or "*" for any
    pattern: re.Pattern[str]
    status: int
    remaining: int
    body: JsonDict | None = None
    retry_after: int | None = None

    def matches(self, method: str, path: str) -> bool:
        return (
            self.remaining > 0
            and self.method in ("*", method)
            and self.pattern.search(path) is not None
        )


# --- users as JSON ---------------------------------------------------------------------------


def avatar_urls(base: str, owner: str) -> dict[str, str]:
    return {
        f"{n}x{n}": f"{base}/secure/useravatar?size={n}&ownerId={quote(owner)}"
        for n in (48, 24, 16, 32)
    }


def user_json(base: str, cfg: JiraConfig, user: User) -> JsonDict:
    if cfg.cloud:
        return {
            "self": f"{base}{API}/user?accountId={quote(user.account_id)}",
            "accountId": user.account_id,
            "accountType": "atlassian",
            "emailAddress": user.email,
            "avatarUrls": avatar_urls(base, user.account_id),
            "displayName": user.display_name,
            "active": user.active,
            "timeZone": user.time_zone,
            "locale": "en_US",
        }
    return {
        "self": f"{base}{API}/user?username={quote(user.account_id)}",
        "key": user.account_id,
        "name": user.account_id,
        "emailAddress": user.email,
        "avatarUrls": avatar_urls(base, user.account_id),
        "displayName": user.display_name,
        "active": user.active,
        "timeZone": user.time_zone,
    }

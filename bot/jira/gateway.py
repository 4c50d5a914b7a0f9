"""The one place that talks to Jira: the `jira` package behind a small, typed surface.

Every call has a timeout; every failure becomes a `JiraFailure` whose `reason` can be shown to a
user as is (what went wrong and what to check), never a traceback.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import requests
from jira import JIRA, JIRAError

from bot.core.settings import Settings

log = logging.getLogger("postmortem_bot.jira")
T = TypeVar("T")
KEYS_PER_QUERY = 50  # JQL `key in (...)` batches: short URLs, predictable pages
PAGE_SIZE = 50


class JiraFailure(Exception):
    """Jira did not do it; `reason` says why in words a user can act on."""

    def __init__(self, reason: str, *, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass(frozen=True)
class JiraUser:
    account_id: str | None  # Cloud
    name: str | None  # Server / Data Center username
    email: str | None
    display_name: str

    def as_field(self) -> dict[str, str]:
        """The value of an issue's `assignee` field for this user."""
        if self.account_id:
            return {"accountId": self.account_id}
        return {"name": self.name or ""}


@dataclass(frozen=True)
class JiraIssue:
    """What sync needs of an issue (from GET issue, search, or a webhook's `issue`)."""

    key: str
    url: str
    status_name: str
    category: str  # statusCategory.key: new / indeterminate / done
    due: str | None  # YYYY-MM-DD
    assignee: JiraUser | None
    updated: str | None  # Jira's timestamp, e.g. 2026-11-22T10:15:30.000+0000

    @classmethod
    def from_json(cls, issue: dict[str, Any], base_url: str) -> JiraIssue:
        fields = issue.get("fields") or {}
        status = fields.get("status") or {}
        category = (status.get("statusCategory") or {}).get("key") or "new"
        assignee = fields.get("assignee")
        return cls(
            key=str(issue["key"]),
            url=browse_url(base_url, str(issue["key"])),
            status_name=str(status.get("name") or "?"),
            category=str(category),
            due=fields.get("duedate") or None,
            assignee=_user(assignee) if isinstance(assignee, dict) else None,
            updated=fields.get("updated"),
        )


@dataclass(frozen=True)
class Transition:
    id: str
    name: str
    to_name: str
    to_category: str


def browse_url(base_url: str, key: str) -> str:
    return f"{base_url.rstrip('/')}/browse/{key}"


def _user(raw: dict[str, Any]) -> JiraUser:
    return JiraUser(
        account_id=raw.get("accountId"),
        name=raw.get("name"),
        email=raw.get("emailAddress"),
        display_name=str(raw.get("displayName") or raw.get("name") or raw.get("accountId") or "?"),
    )


class JiraGateway:
    """A lazily connected Jira client (construction itself calls Jira: serverInfo)."""

    def __init__(
        self,
        settings: Settings,
        *,
        on_session: Callable[[requests.Session], None] | None = None,
    ) -> None:
        assert settings.jira_url and settings.jira_project
        self.base_url = settings.jira_url.rstrip("/")
        self.project = settings.jira_project
        self.issue_type = settings.jira_issue_type
        self._settings = settings
        self._on_session = on_session
        self._client: JIRA | None = None
        self._lock = threading.Lock()

    # -- connection --------------------------------------------------------------------------

    def _connect(self) -> JIRA:
        settings = self._settings
        auth: dict[str, Any] = {}
        pat = settings.jira_personal_access_token
        if pat is not None and pat.get_secret_value():
            auth["token_auth"] = pat.get_secret_value()
        else:
            token = settings.jira_api_token.get_secret_value() if settings.jira_api_token else ""
            auth["basic_auth"] = (settings.jira_email or "", token)
        client = JIRA(
            server=self.base_url,
            timeout=settings.jira_timeout_seconds,
            max_retries=settings.jira_max_retries,
            options={"check_update": False},
            **auth,
        )
        if self._on_session is not None:
            self._on_session(client._session)
        return client

    def client(self) -> JIRA:
        with self._lock:
            if self._client is None:
                self._client = self._call("connect", self._connect)
            return self._client

    @property
    def is_cloud(self) -> bool:
        """Cloud or Server/Data Center, from the `serverInfo` the client read when connecting
        (its public `deploymentType`): search and user lookup differ between the two."""
        return self.client().deploymentType == "Cloud"

    def check(self) -> str | None:
        """None when Jira answers and accepts our credentials, else what is wrong."""
        try:
            self._call("myself", lambda: self.client().myself())
        except JiraFailure as failure:
            return failure.reason
        return None

    # -- issues ------------------------------------------------------------------------------

    def create(self, fields: dict[str, Any]) -> JiraIssue:
        created = self._call(
            "create issue", lambda: self.client().create_issue(fields=fields, prefetch=False)
        )
        return self.issue(str(created.key))

    def issue(self, key: str) -> JiraIssue:
        raw = self._call(f"get {key}", lambda: self.client().issue(key, fields=FIELDS).raw)
        return JiraIssue.from_json(raw, self.base_url)

    def find_by_label(self, label: str) -> JiraIssue | None:
        found = list(self._search(f'labels = "{label}" ORDER BY key ASC'))
        return found[0] if found else None

    def issues(self, keys: Sequence[str]) -> Iterator[JiraIssue]:
        """The issues with these keys that still exist (JQL batches, every page)."""
        for start in range(0, len(keys), KEYS_PER_QUERY):
            batch = keys[start : start + KEYS_PER_QUERY]
            jql = f"key in ({', '.join(batch)}) ORDER BY key ASC"
            try:
                yield from self._search(jql)
            except JiraFailure as failure:
                if failure.status != 400:
                    raise
                # A key in the batch no longer exists (deleted or moved): ask one by one.
                for key in batch:
                    try:
                        yield self.issue(key)
                    except JiraFailure as missing:
                        if missing.status != 404:
                            raise
                        log.warning("Jira issue %s no longer exists", key)

    def _search(self, jql: str) -> Iterator[JiraIssue]:
        client = self.client()
        if self.is_cloud:
            token: str | None = None
            while True:
                page = self._call("search", _bind(_cloud_page, client, jql, token))
                for raw in page.get("issues", []):
                    yield JiraIssue.from_json(raw, self.base_url)
                token = page.get("nextPageToken")
                if page.get("isLast") or not token:
                    return
        start = 0
        while True:
            legacy = self._call("search", _bind(_server_page, client, jql, start))
            issues = legacy.get("issues", [])
            for raw in issues:
                yield JiraIssue.from_json(raw, self.base_url)
            start += len(issues)
            if not issues or start >= int(legacy.get("total", 0)):
                return

    def find_user(self, email: str) -> JiraUser | None:
        client = self.client()
        if self.is_cloud:
            found = self._call("user search", lambda: client.search_users(query=email))
        else:
            found = self._call("user search", lambda: client.search_users(user=email))
        users = [_user(user.raw) for user in found]
        exact = [u for u in users if (u.email or "").lower() == email.lower()]
        if exact:
            return exact[0]
        # Cloud often hides e-mail addresses: one match for the query is taken as the person.
        return users[0] if len(users) == 1 else None

    def transitions(self, key: str) -> list[Transition]:
        raw = self._call(f"transitions of {key}", lambda: self.client().transitions(key))
        return [
            Transition(
                id=str(item["id"]),
                name=str(item.get("name") or ""),
                to_name=str((item.get("to") or {}).get("name") or ""),
                to_category=str(
                    ((item.get("to") or {}).get("statusCategory") or {}).get("key") or ""
                ),
            )
            for item in raw
        ]

    def transition(self, key: str, transition_id: str) -> None:
        self._call(f"transition {key}", lambda: self.client().transition_issue(key, transition_id))

    def comment(self, key: str, body: str) -> None:
        self._call(f"comment on {key}", lambda: self.client().add_comment(key, body))

    # -- errors ------------------------------------------------------------------------------

    def _call(self, what: str, call: Callable[[], T]) -> T:
        try:
            return call()
        except JIRAError as error:
            raise JiraFailure(self._explain(error), status=error.status_code) from None
        except requests.Timeout:
            raise JiraFailure(
                f"Jira at {self.base_url} did not answer within "
                f"{self._settings.jira_timeout_seconds:g}s ({what})."
            ) from None
        except requests.RequestException as error:
            raise JiraFailure(
                f"Jira at {self.base_url} could not be reached ({type(error).__name__}). "
                "Check JIRA_URL and the network."
            ) from None

    def _explain(self, error: JIRAError) -> str:
        status = error.status_code
        if status == 401:
            return (
                "Jira refused the bot's credentials (401). Check JIRA_EMAIL and JIRA_API_TOKEN "
                "(Cloud) or JIRA_PERSONAL_ACCESS_TOKEN (Server/Data Center)."
            )
        if status == 403:
            return (
                f"Jira says the bot's user may not do that (403): give it permission to create "
                f"and edit issues in project {self.project}."
            )
        if status == 404:
            return (
                "Jira has no such issue or project (404). "
                f"Check JIRA_URL and JIRA_PROJECT ({self.project})."
            )
        if status == 429:
            return "Jira is rate-limiting the bot (429); it will try again later."
        if status is not None and status >= 500:
            return f"Jira had an internal error ({status}); it will try again later."
        details = _error_details(error)
        prefix = f"Jira refused it ({status})" if status else "Jira refused it"
        return f"{prefix}: {details}" if details else f"{prefix}."


FIELDS = "summary,status,duedate,assignee,updated,labels,priority"


def _bind(
    page: Callable[[JIRA, str, Any], dict[str, Any]], client: JIRA, jql: str, at: Any
) -> Callable[[], dict[str, Any]]:
    return lambda: page(client, jql, at)


def _cloud_page(client: JIRA, jql: str, token: str | None) -> dict[str, Any]:
    # Jira Cloud: /rest/api/2/search/jql, paged by nextPageToken
    result = client.enhanced_search_issues(
        jql, nextPageToken=token, maxResults=PAGE_SIZE, fields=FIELDS, json_result=True
    )
    assert isinstance(result, dict)
    return result


def _server_page(client: JIRA, jql: str, start: int) -> dict[str, Any]:
    # Jira Server / Data Center: /rest/api/2/search, paged by startAt
    result = client.search_issues(
        jql, startAt=start, maxResults=PAGE_SIZE, fields=FIELDS, json_result=True
    )
    assert isinstance(result, dict)
    return result


def _error_details(error: JIRAError) -> str:
    try:
        body = error.response.json() if error.response is not None else {}
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        return ""
    parts = [str(m) for m in body.get("errorMessages") or []]
    parts += [f"{field}: {message}" for field, message in (body.get("errors") or {}).items()]
    return "; ".join(parts)[:500]

"""The one place that talks to Confluence: plain REST through `requests`, behind a small,
typed surface.

Why not atlassian-python-api: in 5.x its `Confluence` class gives a Cloud site the `Cloud`
class, which has no page methods at all (create, update, labels, restrictions); `cloud=False`
gets them back, but its `update_page` makes three reads before every write, a 409 comes out as
a bare `requests.HTTPError`, its retries re-send POSTs, and it cannot create a page that is
private from the start (v2 `POST /pages?private=true`). A dozen well-defined REST calls are
simpler to own (see README, "Dependencies").

Cloud or Data Center: Data Center signs in with a personal access token (`Authorization:
Bearer`), Cloud with e-mail + API token (HTTP Basic). On Cloud, pages are read, created and
updated through REST v2 (newer Cloud sites answer 410 Gone on v1 `/content`); labels,
restrictions, CQL search and users stay on v1 (v2 has no endpoints for them). Data Center has
only v1.

Every call has a timeout. Every failure becomes a `ConfluenceFailure` whose `reason` can be shown
to a user as is (what went wrong and what to check) and which says whether trying again later
can help (`passing`: unreachable, timeouts, 409, 429, 5xx).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from bot.core.settings import Settings

log = logging.getLogger("postmortem_bot.confluence")

MAX_WAIT_IN_CALL = 5.0  # a longer Retry-After is left to the outbox (RetryLater)
LONGEST_RETRY_AFTER = 3600.0  # Cloud has sent Long.MAX: clamp it


class ConfluenceFailure(Exception):
    """Confluence did not do it; `reason` says why in words a user can act on. `passing`: the
    same call may work later (the outbox retries it, after `retry_after` seconds if known)."""

    def __init__(
        self,
        reason: str,
        *,
        status: int | None = None,
        passing: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.passing = passing
        self.retry_after = retry_after


@dataclass(frozen=True)
class Space:
    key: str
    id: str  # v2 spaceId on Cloud; "" on Data Center
    homepage_id: str | None


@dataclass(frozen=True)
class Account:
    """A Confluence user: `account_id` on Cloud, `username` on Data Center."""

    account_id: str | None
    username: str | None
    display_name: str
    user_key: str | None = None  # Data Center

    def as_subject(self) -> dict[str, str]:
        """This user in a restriction's `user` list."""
        if self.account_id:
            return {"type": "known", "accountId": self.account_id}
        return {"type": "known", "username": self.username or ""}


@dataclass(frozen=True)
class Page:
    id: str
    title: str
    version: int
    body: str  # storage format
    url: str | None
    created_by: str | None  # account id (Cloud) or user key / username (Data Center)


def site_url(url: str, *, cloud: bool) -> str:
    """The base every REST path hangs from: `https://acme.atlassian.net/wiki` on Cloud
    (`/wiki` added when missing), the URL as given (with its context path) on Data Center."""
    base = url.strip().rstrip("/")
    if cloud and not urlsplit(base).path.rstrip("/").endswith("/wiki"):
        base += "/wiki"
    return base


class ConfluenceGateway:
    def __init__(
        self,
        settings: Settings,
        *,
        session: requests.Session | None = None,
        on_session: Callable[[requests.Session], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        assert settings.confluence_url and settings.confluence_space
        credentials = settings.confluence_credentials()
        assert credentials is not None
        self.cloud = settings.confluence_cloud
        self.base_url = site_url(settings.confluence_url, cloud=self.cloud)
        self.space_key = settings.confluence_space.strip()
        self.parent_page_id = (settings.confluence_parent_page_id or "").strip() or None
        self.private_parent_id = (settings.confluence_private_parent_page_id or "").strip() or None
        self.private_group = (settings.confluence_private_group or "").strip() or None
        self.timeout = settings.confluence_timeout_seconds
        self.max_retries = settings.confluence_max_retries
        self._sleep = sleep
        self._session = session or requests.Session()
        kind, user, secret = credentials
        if kind == "bearer":
            self._session.headers["Authorization"] = f"Bearer {secret}"
        else:
            self._session.auth = (user, secret)
        self._session.headers["Accept"] = "application/json"
        self._session.headers["X-Atlassian-Token"] = "no-check"
        self._reused_jira = settings.confluence_email is None and kind == "basic"
        if on_session is not None:
            on_session(self._session)
        self._lock = threading.Lock()
        self._space: Space | None = None
        self._me: Account | None = None

    @property
    def v1(self) -> str:
        return f"{self.base_url}/rest/api"

    @property
    def v2(self) -> str:
        return f"{self.base_url}/api/v2"

    # -- who and where -----------------------------------------------------------------------

    def check(self) -> str | None:
        """None when Confluence answers, accepts the credentials and shows the space; else what
        is wrong (for the one line logged at start)."""
        try:
            self.space()
            self.me()
        except ConfluenceFailure as failure:
            return failure.reason
        return None

    def space(self) -> Space:
        with self._lock:
            if self._space is not None:
                return self._space
        if self.cloud:
            data = self._json(
                "GET", f"{self.v2}/spaces", "read the space", params={"keys": self.space_key}
            )
            found = [s for s in data.get("results") or [] if isinstance(s, dict)]
            if not found:
                raise self._no_space()
            raw = found[0]
            space = Space(
                str(raw.get("key") or self.space_key), str(raw["id"]), _str(raw.get("homepageId"))
            )
        else:
            raw = self._json(
                "GET",
                f"{self.v1}/space/{self.space_key}",
                "read the space",
                space=True,
                params={"expand": "homepage"},
            )
            homepage = raw.get("homepage")
            home: dict[str, Any] = homepage if isinstance(homepage, dict) else {}
            space = Space(str(raw.get("key") or self.space_key), "", _str(home.get("id")))
        with self._lock:
            self._space = space
        return space

    def me(self) -> Account:
        """The bot's own account (it must stay able to read the pages it restricts)."""
        with self._lock:
            if self._me is not None:
                return self._me
        raw = self._json("GET", f"{self.v1}/user/current", "read the bot's account")
        account = _account(raw)
        with self._lock:
            self._me = account
        return account

    def find_user(self, email: str) -> Account | None:
        """The Confluence account with this e-mail address (Cloud's user search), or None:
        no such account, Confluence does not reveal it, or Data Center (which has no search
        by e-mail)."""
        if not self.cloud:
            return None
        quoted = email.replace("\\", "").replace('"', "")
        try:
            data = self._json(
                "GET",
                f"{self.v1}/search/user",
                "find a user",
                params={"cql": f'user.email = "{quoted}"'},
            )
        except ConfluenceFailure as failure:
            if failure.status in (400, 404):
                return None
            raise
        users = [r.get("user") for r in data.get("results") or [] if isinstance(r, dict)]
        found = [_account(u) for u in users if isinstance(u, dict)]
        return found[0] if len(found) == 1 else None

    # -- pages -------------------------------------------------------------------------------

    def page(self, page_id: str) -> Page | None:
        """The page with its storage body, or None if it does not exist for the bot (deleted,
        trashed, or restricted away from it: Confluence answers 404 for all three)."""
        try:
            if self.cloud:
                raw = self._json(
                    "GET",
                    f"{self.v2}/pages/{page_id}",
                    "read the page",
                    params={"body-format": "storage"},
                )
                return self._v2_page(raw)
            raw = self._json(
                "GET",
                f"{self.v1}/content/{page_id}",
                "read the page",
                params={"expand": "body.storage,version,history"},
            )
            return self._v1_page(raw)
        except ConfluenceFailure as failure:
            if failure.status == 404:
                return None
            raise

    def find_by_label(self, *labels: str) -> list[str]:
        """Ids of the space's pages carrying every one of `labels` (CQL; oldest first)."""
        clauses = " AND ".join(f'label = "{_cql(label)}"' for label in labels)
        cql = f'space = "{_cql(self.space_key)}" AND type = page AND {clauses} ORDER BY created asc'
        data = self._json(
            "GET", f"{self.v1}/content/search", "search by label", params={"cql": cql, "limit": 25}
        )
        return [
            str(r["id"]) for r in data.get("results") or [] if isinstance(r, dict) and "id" in r
        ]

    def find_by_title(self, title: str) -> Page | None:
        """The space's current page with this title (titles are unique in a space)."""
        if self.cloud:
            space = self.space()
            data = self._json(
                "GET",
                f"{self.v2}/pages",
                "look the title up",
                params={
                    "space-id": space.id,
                    "title": title,
                    "body-format": "storage",
                    "status": "current",
                },
            )
            found = [r for r in data.get("results") or [] if isinstance(r, dict)]
            return self._v2_page(found[0], base=data) if found else None
        data = self._json(
            "GET",
            f"{self.v1}/content",
            "look the title up",
            params={
                "spaceKey": self.space_key,
                "title": title,
                "type": "page",
                "expand": "body.storage,version,history",
            },
        )
        found = [r for r in data.get("results") or [] if isinstance(r, dict)]
        return self._v1_page(found[0], base=data) if found else None

    def create(self, title: str, body: str, *, parent_id: str | None, private: bool) -> Page:
        """A new page. `private` (Cloud): readable and editable by the bot alone from the first
        moment (v2 `?private=true`); restrictions for the people who may read it follow."""
        if self.cloud:
            payload: dict[str, Any] = {
                "spaceId": self.space().id,
                "status": "current",
                "title": title,
                "body": {"representation": "storage", "value": body},
            }
            if parent_id:
                payload["parentId"] = parent_id
            params = {"private": "true"} if private else None
            raw = self._json(
                "POST",
                f"{self.v2}/pages",
                "create the page",
                json=payload,
                params=params,
                space=True,
            )
            return self._v2_page(raw)
        payload = {
            "type": "page",
            "status": "current",
            "title": title,
            "space": {"key": self.space_key},
            "body": {"storage": {"value": body, "representation": "storage"}},
        }
        if parent_id:
            payload["ancestors"] = [{"id": parent_id}]
        raw = self._json("POST", f"{self.v1}/content", "create the page", json=payload, space=True)
        return self._v1_page(raw)

    def update(self, page: Page, title: str, body: str, *, message: str) -> Page:
        """Save `body` as the version after `page.version`; a 409 (someone saved meanwhile) is
        a `ConfluenceFailure` with status 409: read the page again and redo the change."""
        number = page.version + 1
        if self.cloud:
            payload: dict[str, Any] = {
                "id": page.id,
                "status": "current",
                "title": title,
                "body": {"representation": "storage", "value": body},
                "version": {"number": number, "message": message},
            }
            raw = self._json("PUT", f"{self.v2}/pages/{page.id}", "update the page", json=payload)
            return self._v2_page(raw)
        payload = {
            "id": page.id,
            "type": "page",
            "status": "current",
            "title": title,
            "body": {"storage": {"value": body, "representation": "storage"}},
            "version": {"number": number, "message": message},
        }
        raw = self._json("PUT", f"{self.v1}/content/{page.id}", "update the page", json=payload)
        return self._v1_page(raw)

    def labels(self, page_id: str) -> set[str]:
        data = self._json(
            "GET", f"{self.v1}/content/{page_id}/label", "read the labels", params={"limit": 200}
        )
        return {str(x.get("name")) for x in data.get("results") or [] if isinstance(x, dict)}

    def add_labels(self, page_id: str, names: Iterable[str]) -> None:
        items = [{"prefix": "global", "name": name} for name in names]
        if items:
            self._json("POST", f"{self.v1}/content/{page_id}/label", "label the page", json=items)

    def remove_label(self, page_id: str, name: str) -> None:
        try:
            self._request("DELETE", f"{self.v1}/content/{page_id}/label/{name}", "remove a label")
        except ConfluenceFailure as failure:
            if failure.status != 404:
                raise

    def restrict(self, page_id: str, users: Iterable[Account], groups: Iterable[str]) -> None:
        """Only `users` and `groups` may read and edit the page (replaces its restrictions)."""
        subjects: dict[str, Any] = {"user": [u.as_subject() for u in users]}
        names = list(groups)
        if names:
            subjects["group"] = [{"type": "group", "name": name} for name in names]
        body = [{"operation": op, "restrictions": subjects} for op in ("read", "update")]
        self._json(
            "PUT", f"{self.v1}/content/{page_id}/restriction", "restrict the page", json=body
        )

    # -- answers -----------------------------------------------------------------------------

    def _v2_page(self, raw: dict[str, Any], base: dict[str, Any] | None = None) -> Page:
        links = raw.get("_links") or {}
        site = links.get("base") or ((base or {}).get("_links") or {}).get("base") or self.base_url
        webui = links.get("webui")
        body = ((raw.get("body") or {}).get("storage") or {}).get("value")
        return Page(
            id=str(raw["id"]),
            title=str(raw.get("title") or ""),
            version=int((raw.get("version") or {}).get("number") or 1),
            body=str(body or ""),
            url=_join(str(site), webui),
            created_by=_str(raw.get("authorId")),
        )

    def _v1_page(self, raw: dict[str, Any], base: dict[str, Any] | None = None) -> Page:
        links = raw.get("_links") or {}
        site = links.get("base") or ((base or {}).get("_links") or {}).get("base") or self.base_url
        body = ((raw.get("body") or {}).get("storage") or {}).get("value")
        creator = ((raw.get("history") or {}).get("createdBy")) or {}
        return Page(
            id=str(raw["id"]),
            title=str(raw.get("title") or ""),
            version=int((raw.get("version") or {}).get("number") or 1),
            body=str(body or ""),
            url=_join(str(site), links.get("webui")),
            created_by=_str(
                creator.get("accountId") or creator.get("userKey") or creator.get("username")
            ),
        )

    def owns(self, page: Page) -> bool:
        """Whether the bot's account created `page` (an earlier attempt whose answer was lost)."""
        me = self.me()
        return page.created_by is not None and page.created_by in (
            me.account_id,
            me.username,
            me.user_key,
        )

    # -- HTTP --------------------------------------------------------------------------------

    def _json(
        self, method: str, url: str, what: str, *, space: bool = False, **kwargs: Any
    ) -> dict[str, Any]:
        response = self._request(method, url, what, space=space, **kwargs)
        try:
            data = response.json()
        except ValueError:
            raise ConfluenceFailure(
                f"Confluence at {self.base_url} answered something that is not JSON ({what}); "
                "check CONFLUENCE_URL.",
                status=response.status_code,
            ) from None
        return data if isinstance(data, dict) else {"results": data}

    def _request(
        self, method: str, url: str, what: str, *, space: bool = False, **kwargs: Any
    ) -> requests.Response:
        """One call, retried in place for a 429 (any method: the request was refused, not
        done) and, for reads, a 5xx or a broken connection; never longer than MAX_WAIT_IN_CALL
        per wait. What is still failing is left to the outbox."""
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._session.request(method, url, timeout=self.timeout, **kwargs)
            except requests.Timeout:
                failure = ConfluenceFailure(
                    f"Confluence at {self.base_url} did not answer within {self.timeout:g}s "
                    f"({what}); I'll try again.",
                    passing=True,
                )
            except requests.RequestException as error:
                failure = ConfluenceFailure(
                    f"Confluence at {self.base_url} could not be reached ({type(error).__name__}); "
                    "I'll try again. If it lasts, check CONFLUENCE_URL and the network.",
                    passing=True,
                )
            else:
                if response.status_code < 400:
                    return response
                failure = self._explain(response, what, space=space)
            retry = failure.status == 429 or (
                method == "GET" and failure.passing and failure.status != 409
            )
            wait = failure.retry_after if failure.retry_after is not None else 0.5 * attempt
            if not retry or attempt > self.max_retries or wait > MAX_WAIT_IN_CALL:
                raise failure
            log.info("Confluence: %s; retrying in %.1fs", failure.reason, wait)
            self._sleep(wait)

    def _no_space(self) -> ConfluenceFailure:
        return ConfluenceFailure(
            f"Confluence has no space {self.space_key}, or the bot's account can't see it (404). "
            "Check CONFLUENCE_SPACE (the space key, e.g. OPS) and give the account the space's "
            "View permission.",
            status=404,
        )

    def _explain(self, response: requests.Response, what: str, *, space: bool) -> ConfluenceFailure:
        status = response.status_code
        detail = _detail(response)
        if status == 401:
            names = (
                "JIRA_EMAIL and JIRA_API_TOKEN (used for Confluence too, as CONFLUENCE_URL is on "
                "JIRA_URL's site)"
                if self._reused_jira
                else "CONFLUENCE_EMAIL and CONFLUENCE_API_TOKEN (Cloud) or "
                "CONFLUENCE_PERSONAL_ACCESS_TOKEN (Data Center)"
            )
            return ConfluenceFailure(
                f"Confluence refused the bot's credentials (401). Check {names}.", status=401
            )
        if status == 403:
            return ConfluenceFailure(
                f"Confluence says the bot's account may not {what} (403): give it permission to "
                f"add pages (and restrictions) in space {self.space_key}.",
                status=403,
            )
        if status == 404:
            if space:
                return self._no_space()
            return ConfluenceFailure(
                f"Confluence found nothing there (404) when trying to {what}.", status=404
            )
        if status == 409:
            return ConfluenceFailure(
                "Someone saved the page in Confluence meanwhile (409); I'll apply my change to "
                "their version.",
                status=409,
                passing=True,
            )
        if status == 429:
            after = _retry_after(response)
            when = f" in {after:g}s" if after is not None else ""
            return ConfluenceFailure(
                f"Confluence is busy (429, rate limited); I'll try again{when}.",
                status=429,
                passing=True,
                retry_after=after,
            )
        if status >= 500:
            return ConfluenceFailure(
                f"Confluence had an error ({status}) when trying to {what}; I'll try again.",
                status=status,
                passing=True,
                retry_after=_retry_after(response),
            )
        if status == 410:
            return ConfluenceFailure(
                f"This Confluence site no longer serves that API (410) ({what}): {detail}",
                status=410,
            )
        suffix = f": {detail}" if detail else "."
        return ConfluenceFailure(f"Confluence refused to {what} ({status}){suffix}", status=status)


def _str(value: object) -> str | None:
    return str(value) if value not in (None, "") else None


def _cql(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _join(site: str, path: object) -> str | None:
    if not isinstance(path, str) or not path:
        return None
    return urljoin(site.rstrip("/") + "/", path.lstrip("/"))


def _account(raw: dict[str, Any]) -> Account:
    return Account(
        account_id=_str(raw.get("accountId")),
        username=_str(raw.get("username")),
        display_name=str(raw.get("displayName") or raw.get("publicName") or "?"),
        user_key=_str(raw.get("userKey")),
    )


def _retry_after(response: requests.Response) -> float | None:
    raw = response.headers.get("Retry-After")
    try:
        return min(max(float(str(raw)), 1.0), LONGEST_RETRY_AFTER) if raw is not None else None
    except ValueError:
        return None


def _detail(response: requests.Response) -> str:
    """Confluence's own words: v1 `message`, v2 `errors[].title/detail`, or plain text."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300]
    if not isinstance(body, dict):
        return ""
    if body.get("message"):
        return str(body["message"]).split("\n")[0][:300]
    errors = body.get("errors")
    if isinstance(errors, list):
        parts = [
            str(e.get("detail") or e.get("title") or "") for e in errors if isinstance(e, dict)
        ]
        return "; ".join(p for p in parts if p)[:300]
    return ""

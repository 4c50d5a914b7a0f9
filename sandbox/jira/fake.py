"""A stateful, faithful fake of Jira's REST API (v2) served over real HTTP on 127.0.0.1.

Point the real ``jira`` client at it and it behaves like a Jira Cloud site (or, with
``deployment="Server"``, a Server / Data Center one) with one project::

    with FakeJira() as fake:
        fake.add_user("712020:ada", "ada@acme.test", "Ada Lovelace")
        client = JIRA(fake.url, basic_auth=(fake.email, fake.api_token), max_retries=0, timeout=5)
        created = client.create_issue(fields={"project": {"key": "OPS"}, "summary": "Fix it",
                                              "issuetype": {"name": "Task"}}, prefetch=False)
        fake.set_status_in_jira(created.key, "Done")          # a person closes it in Jira
        body = fake.webhook_delivery(created.key)              # what Jira would POST to us

Served: ``serverInfo``, ``myself``, ``field``, ``project[/{key}]``, ``issuetype``, ``priority``,
``user/search``, ``user``, ``issue`` (create), ``issue/{key}`` (get/edit), ``.../assignee``,
``.../transitions``, ``.../comment``, ``search/jql`` (Cloud) and ``search`` (Server; 410 on Cloud,
where Atlassian removed it). ``/rest/api/latest/`` is served as ``/rest/api/2/``.

Where Jira's behaviour was uncertain, the fake chose (and the tests pin) the following:

* JQL naming an issue key that does not exist (``key in (OPS-1, OPS-99)``) is a 400 "An issue
  with key 'OPS-99' does not exist for field 'key'." on both search endpoints: Jira's default
  strict validation. Legacy ``/search`` with ``validateQuery=warn|false`` drops the key and
  reports it in ``warningMessages`` instead. Unknown projects / statuses behave the same way.
* ``search/jql`` without ``fields`` returns issues as ``{"id": ...}`` only, and an unbounded query
  (no restriction, e.g. only ``ORDER BY``) is a 400, as on Cloud. Without ORDER BY, results come
  newest key first.
* Missing credentials are a 401 on every endpoint, ``serverInfo`` included (a real site lets
  anonymous callers read ``serverInfo``); wrong credentials are a 401 everywhere, as on Jira.
* Field error texts for a missing summary, an unknown project, labels with spaces, a bad due date
  and newline summaries are Jira's; those for unknown priorities / issue types / users are close
  paraphrases. Labels are stored as a sorted set, as Jira lists them.
* Entering a done-category status sets ``resolution`` (Done / Won't Do) and ``resolutiondate``;
  leaving it clears them. Changelog items: ``resolution`` first, then ``status``.
* On Server, a user's ``account_id`` doubles as its username (``name``/``key``).
* All timestamps are UTC (``...+0000``); JQL dates are read in UTC.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable
from datetime import datetime
from types import EllipsisType
from typing import Any, Self

from sandbox.jira.catalog import (
    STATUSES,
)
from sandbox.jira.http import FakeJiraServer
from sandbox.jira.model import (
    CLOUD,
    DEPLOYMENTS,
    Call,
    Fault,
    IssueRecord,
    JiraConfig,
    JiraError,
    JsonDict,
    User,
    parse_due,
    utc_now,
)
from sandbox.jira.state import JiraState
from sandbox.serving import BackgroundServer, Served

__all__ = ["Call", "FakeJira", "FakeJiraTimeout"]

CLOUD_BOT_ID = "712020:3b1f0c9e-8a4d-4e2b-9f6a-0c5d7e8f9a1b"
SERVER_BOT_ID = "postmortem-bot"


class FakeJiraTimeout(AssertionError):
    """Raised by ``wait_for`` when the expected requests never arrived."""


class FakeJira(Served):
    """A fake Jira site with one project and one API user (the bot); see the module docstring."""

    def __init__(
        self,
        *,
        email: str = "bot@acme.test",
        api_token: str = "jira-api-token",
        personal_access_token: str | None = None,
        deployment: str = CLOUD,
        project_key: str = "OPS",
        project_id: str = "10000",
        project_name: str = "Operations",
        bot_account_id: str | None = None,
        bot_display_name: str = "Postmortem Bot",
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if deployment not in DEPLOYMENTS:
            raise ValueError(f"deployment must be one of {DEPLOYMENTS}, not {deployment!r}")
        self.email = email
        self.api_token = api_token
        self.personal_access_token = personal_access_token
        self.deployment = deployment
        self.project_key = project_key
        self.project_id = project_id
        self.bot_account_id = bot_account_id or (
            CLOUD_BOT_ID if deployment == CLOUD else SERVER_BOT_ID
        )
        cfg = JiraConfig(
            email=email,
            api_token=api_token,
            personal_access_token=personal_access_token,
            deployment=deployment,
            project_key=project_key,
            project_id=project_id,
            project_name=project_name,
            bot_account_id=self.bot_account_id,
            bot_display_name=bot_display_name,
        )
        self._state = JiraState(cfg, clock or utc_now)
        self._serving = BackgroundServer(
            lambda port: FakeJiraServer(self._state, port), "fake-jira"
        )
        self.url = ""

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> Self:
        """Serve on 127.0.0.1 in a daemon thread (sandbox.serving: an ephemeral port the first
        time, then the same port again)."""
        self.url = self._serving.start()
        with self._state.lock:
            self._state.base_url = self.url
        return self

    def stop(self) -> None:
        self._serving.stop()

    def go_down(self) -> None:
        """Stop listening: connections to ``url`` are refused (Jira unreachable)."""
        if not self.url:
            raise RuntimeError("FakeJira is not started: call start() first")
        self.stop()

    def come_back(self) -> None:
        """Listen again on the same port, with the same issues, users and faults."""
        if not self.url:
            raise RuntimeError("FakeJira was never started")
        self.start()

    @property
    def is_up(self) -> bool:
        return self._serving.running

    # --- settings -----------------------------------------------------------------------------

    @property
    def search_page_size(self) -> int:
        """The most issues one search page holds (Jira's own cap; default 50)."""
        with self._state.lock:
            return self._state.search_page_size

    @search_page_size.setter
    def search_page_size(self, value: int) -> None:
        if value < 1:
            raise ValueError("search_page_size must be at least 1")
        with self._state.lock:
            self._state.search_page_size = value

    @property
    def legacy_search_on_cloud(self) -> bool:
        """Serve ``/rest/api/2/search`` on Cloud too (default False: 410, as Atlassian does)."""
        with self._state.lock:
            return self._state.legacy_search_on_cloud

    @legacy_search_on_cloud.setter
    def legacy_search_on_cloud(self, value: bool) -> None:
        with self._state.lock:
            self._state.legacy_search_on_cloud = value

    # --- users & issues -----------------------------------------------------------------------

    def add_user(
        self, account_id: str, email: str, display_name: str, *, active: bool = True
    ) -> None:
        """A Jira user (on Server, ``account_id`` is the username)."""
        with self._state.lock:
            self._state.add_user(User(account_id, email, display_name, active))

    def issue(self, key: str) -> dict[str, Any]:
        """The stored issue as ``GET /rest/api/2/issue/{key}`` returns it (KeyError if none)."""
        with self._state.lock:
            try:
                return self._state.render(self._state.get_issue(key))
            except JiraError:
                raise KeyError(key) from None

    def issues(self) -> list[dict[str, Any]]:
        """Every issue, in creation order."""
        with self._state.lock:
            return [self._state.render(issue) for issue in self._state.issues.values()]

    def _actor(self, by: str | None) -> str:
        st = self._state
        if by is not None and by not in st.users:
            raise ValueError(f"unknown user {by}: add_user() it first")
        return by or st.human_id

    def set_status_in_jira(self, key: str, status_name: str, *, by: str | None = None) -> None:
        """A person moves the issue in Jira (ignores ``remove_transitions_to``); no webhook is
        sent. ``by`` is the accountId of the person (default: a built-in "Jira Admin")."""
        st = self._state
        with st.lock:
            if status_name not in STATUSES:
                raise ValueError(f"unknown status {status_name!r}; known: {list(STATUSES)}")
            issue = self._existing(key)
            if issue.status == status_name:
                raise ValueError(f"{key} is already in {status_name!r}")
            st.set_status(issue, status_name, self._actor(by))

    def set_fields_in_jira(
        self,
        key: str,
        *,
        duedate: str | None | EllipsisType = ...,
        assignee: str | None | EllipsisType = ...,
        by: str | None = None,
    ) -> None:
        """A person edits the issue in Jira: ``duedate`` (YYYY-MM-DD or None), ``assignee``
        (accountId or None); ``...`` leaves a field as it is."""
        st = self._state
        with st.lock:
            issue = self._existing(key)
            changes: dict[str, Any] = {}
            if not isinstance(duedate, EllipsisType):
                if duedate is not None and parse_due(duedate) is None:
                    raise ValueError(f"duedate must be YYYY-MM-DD, not {duedate!r}")
                changes["duedate"] = duedate
            if not isinstance(assignee, EllipsisType):
                if assignee is not None and assignee not in st.users:
                    raise ValueError(f"unknown user {assignee}: add_user() it first")
                changes["assignee"] = assignee
            st.apply(issue, changes, self._actor(by))

    def _existing(self, key: str) -> IssueRecord:
        try:
            return self._state.get_issue(key)
        except JiraError:
            raise KeyError(key) from None

    def remove_transitions_to(self, status_name: str) -> None:
        """The workflow loses every transition INTO ``status_name`` (e.g. no way back to To Do)."""
        if status_name not in STATUSES:
            raise ValueError(f"unknown status {status_name!r}; known: {list(STATUSES)}")
        with self._state.lock:
            self._state.blocked_targets.add(status_name)

    def restore_transitions(self) -> None:
        with self._state.lock:
            self._state.blocked_targets.clear()

    # --- webhooks -----------------------------------------------------------------------------

    def webhook_delivery(
        self,
        key: str,
        *,
        event: str = "jira:issue_updated",
        changelog_items: list[dict[str, Any]] | None = None,
    ) -> bytes:
        """The raw body Jira Cloud would POST to a webhook for the issue's current state; the
        changelog is the issue's last change unless ``changelog_items`` are given."""
        with self._state.lock:
            self._existing(key)
            payload: JsonDict = self._state.webhook(key, event, changelog_items)
        return json.dumps(payload, separators=(",", ":")).encode("utf-8")

    @staticmethod
    def sign(body: bytes, secret: str) -> str:
        """``X-Hub-Signature`` of a delivery: ``sha256=`` + hex HMAC-SHA256(secret, body)."""
        return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()

    @staticmethod
    def webhook_headers(
        body: bytes, *, secret: str | None = None, identifier: str = "1", retry: int = 0
    ) -> dict[str, str]:
        """Headers of a delivery (the identifier stays the same across retries)."""
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Atlassian Webhook HTTP Client",
            "X-Atlassian-Webhook-Identifier": identifier,
        }
        if retry:
            headers["X-Atlassian-Webhook-Retry"] = str(retry)
        if secret is not None:
            headers["X-Hub-Signature"] = FakeJira.sign(body, secret)
        return headers

    # --- faults -------------------------------------------------------------------------------

    def fail(
        self,
        method: str,
        path_pattern: str,
        status: int,
        *,
        times: int = 1,
        body: dict[str, Any] | None = None,
        retry_after: int | None = None,
    ) -> None:
        """The next ``times`` requests of ``method`` ("*" for any) whose path matches the regex
        ``path_pattern`` answer ``status`` with ``body`` (default: Jira's error shape). A 429
        carries ``Retry-After`` (``retry_after``, default 1); other statuses only when given."""
        if times < 1:
            raise ValueError("times must be at least 1")
        fault = Fault(method.upper(), re.compile(path_pattern), status, times, body, retry_after)
        with self._state.lock:
            self._state.faults.append(fault)

    # --- calls --------------------------------------------------------------------------------

    @property
    def calls(self) -> list[Call]:
        with self._state.lock:
            return list(self._state.calls)

    def calls_to(self, method: str, path_pattern: str) -> list[Call]:
        """Recorded requests of ``method`` ("*" for any) whose path matches ``path_pattern``."""
        pattern = re.compile(path_pattern)
        verb = method.upper()
        with self._state.lock:
            return [
                c
                for c in self._state.calls
                if verb in ("*", c.method) and pattern.search(c.path) is not None
            ]

    def reset_calls(self) -> None:
        with self._state.lock:
            self._state.calls.clear()

    def wait_for(
        self, method: str, path_pattern: str, count: int = 1, timeout: float = 5.0
    ) -> list[Call]:
        """Block until ``count`` matching requests were made; raises ``FakeJiraTimeout``."""
        deadline = time.monotonic() + timeout
        with self._state.changed:
            while len(found := self.calls_to(method, path_pattern)) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = [f"{c.method} {c.path}" for c in self._state.calls]
                    raise FakeJiraTimeout(
                        f"timed out after {timeout}s waiting for {count} x {method} "
                        f"{path_pattern}; saw {seen}"
                    )
                self._state.changed.wait(remaining)
            return found

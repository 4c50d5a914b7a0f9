"""The fake Jira site: users, issues, their workflow, comments and changelog, plus the calls
made against it and the faults waiting to be served.

Every method expects the caller to hold ``JiraState.lock`` (the HTTP layer and the ``FakeJira``
façade take it); one re-entrant lock guards all state.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from sandbox.jira.catalog import (
    INITIAL_STATUS,
    PRIORITIES,
    RESOLUTIONS,
    STATUSES,
    TRANSITIONS,
    TransitionDef,
    transition_json,
)
from sandbox.jira.fields import NOT_SETTABLE, comment_adds, read_create, read_edit
from sandbox.jira.jql import parse
from sandbox.jira.jql_eval import JqlContext, run_query
from sandbox.jira.model import (
    API,
    ISSUE_404,
    Call,
    Comment,
    Fault,
    History,
    IssueRecord,
    JiraConfig,
    JiraError,
    JsonDict,
    User,
    user_json,
)
from sandbox.jira.render import ALL_FIELDS, field_values, issue_json

# The person who moves issues "in Jira" (set_status_in_jira & co.) unless told otherwise.
HUMAN = User(
    "712020:5c7e2d1a-4f0b-4d8e-9a51-jira0human01",
    "jira.admin@acme.test",
    "Jira Admin",
    searchable=False,
)
HUMAN_SERVER = "jira-admin"


def change_item(
    field: str, old: tuple[str | None, str | None], new: tuple[str | None, str | None]
) -> JsonDict:
    return {
        "field": field,
        "fieldtype": "jira",
        "fieldId": field,
        "from": old[0],
        "fromString": old[1],
        "to": new[0],
        "toString": new[1],
    }


class JiraState:
    """All data of one fake Jira site (one project) plus the calls made against it."""

    def __init__(self, cfg: JiraConfig, clock: Callable[[], datetime]) -> None:
        self.cfg = cfg
        self.clock = clock
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.base_url = ""
        self.users: dict[str, User] = {}
        self.issues: dict[str, IssueRecord] = {}  # by key, in creation order
        self.calls: list[Call] = []
        self.faults: list[Fault] = []
        self.blocked_targets: set[str] = set()
        self.search_page_size = 50
        self.legacy_search_on_cloud = False
        self._issue_ids = itertools.count(10001)
        self._numbers = itertools.count(1)
        self._comment_ids = itertools.count(10000)
        self._history_ids = itertools.count(10100)
        self.add_user(User(cfg.bot_account_id, cfg.email, cfg.bot_display_name))
        human = (
            HUMAN
            if cfg.cloud
            else User(HUMAN_SERVER, HUMAN.email, HUMAN.display_name, searchable=False)
        )
        self.human_id = human.account_id
        self.add_user(human)

    # --- basics -------------------------------------------------------------------------------

    def now(self) -> datetime:
        moment = self.clock()
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)

    def add_user(self, user: User) -> None:
        self.users[user.account_id] = user

    def user(self, account_id: str) -> User:
        return self.users.get(account_id) or User(account_id, "", account_id, active=False)

    def find_user(self, ref: str) -> User | None:
        user = self.users.get(ref)
        return user if user is not None and user.searchable else None

    def record(self, call: Call) -> None:
        self.calls.append(call)
        self.changed.notify_all()

    def take_fault(self, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.matches(method, path):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self.faults.remove(fault)
                return fault
        return None

    # --- issues -------------------------------------------------------------------------------

    def get_issue(self, id_or_key: str) -> IssueRecord:
        issue = self.issues.get(id_or_key.upper())
        if issue is None:
            issue = next((i for i in self.issues.values() if str(i.id) == id_or_key), None)
        if issue is None:
            raise JiraError(404, [ISSUE_404])
        return issue

    def render(
        self, issue: IssueRecord, fields: tuple[str, ...] = ALL_FIELDS, expand: Iterable[str] = ()
    ) -> JsonDict:
        expand = list(expand)
        transitions = self.transitions_json(issue) if "transitions" in expand else None
        return issue_json(
            self.base_url,
            self.cfg,
            self.user,
            issue,
            fields,
            expand=expand,
            transitions=transitions,
        )

    def create_issue(self, fields: Any, by: str) -> IssueRecord:
        values = read_create(self.cfg, self.find_user, fields)
        now = self.now()
        issue_id, number = next(self._issue_ids), next(self._numbers)
        issue = IssueRecord(
            id=issue_id,
            key=f"{self.cfg.project_key}-{number}",
            summary=values["summary"],
            description=values["description"],
            issuetype=values["issuetype"],
            priority=values["priority"],
            labels=values["labels"],
            duedate=values["duedate"],
            assignee=values["assignee"],
            reporter=values["reporter"] or by,
            creator=by,
            status=INITIAL_STATUS,
            created=now,
            updated=now,
            status_changed=now,
        )
        self.issues[issue.key] = issue
        return issue

    def edit_issue(self, issue: IssueRecord, fields: Any, update: Any, by: str) -> None:
        changes = read_edit(self.cfg, self.find_user, fields, update, issue.labels)
        self.apply(issue, changes, by)
        for body in comment_adds(update):
            self.add_comment(issue, body, by)

    def apply(self, issue: IssueRecord, changes: dict[str, Any], by: str) -> History | None:
        """Store changed field values, bump ``updated`` and log one changelog entry."""
        items: list[JsonDict] = []
        for name, new in changes.items():
            old = getattr(issue, name)
            if old == new:
                continue
            items.append(self._item(name, old, new))
            setattr(issue, name, new)
        return self._log(issue, items, by)

    def _item(self, name: str, old: Any, new: Any) -> JsonDict:
        if name == "labels":
            return change_item(name, (None, " ".join(old) or None), (None, " ".join(new) or None))
        if name == "duedate":
            return change_item(
                name,
                (old, f"{old} 00:00:00.0" if old else None),
                (new, f"{new} 00:00:00.0" if new else None),
            )
        if name == "priority":
            return change_item(name, (PRIORITIES[old], old), (PRIORITIES[new], new))
        if name in ("assignee", "reporter"):
            return change_item(
                name,
                (old, self.user(old).display_name if old else None),
                (new, self.user(new).display_name if new else None),
            )
        return change_item(name, (None, old), (None, new))

    def _log(self, issue: IssueRecord, items: list[JsonDict], by: str) -> History | None:
        if not items:
            return None
        now = self.now()
        history = History(next(self._history_ids), by, now, items)
        issue.histories.append(history)
        issue.updated = now
        return history

    def set_status(self, issue: IssueRecord, name: str, by: str) -> History | None:
        """Move to ``name``; entering a done status sets the resolution, leaving clears it."""
        old, new = STATUSES[issue.status], STATUSES[name]
        if old.name == new.name:
            return None
        items: list[JsonDict] = []
        resolution = RESOLUTIONS.get(name) if new.category.key == "done" else None
        if resolution != (RESOLUTIONS[issue.resolution] if issue.resolution else None):
            before = RESOLUTIONS[issue.resolution] if issue.resolution else (None, None)
            items.append(change_item("resolution", before, resolution or (None, None)))
            issue.resolution = resolution[1] if resolution else None
            issue.resolutiondate = self.now() if resolution else None
        items.append(change_item("status", (old.id, old.name), (new.id, new.name)))
        issue.status = name
        if old.category != new.category:
            issue.status_changed = self.now()
        return self._log(issue, items, by)

    # --- workflow -----------------------------------------------------------------------------

    def available_transitions(self, issue: IssueRecord) -> list[TransitionDef]:
        return [t for t in TRANSITIONS if t.to != issue.status and t.to not in self.blocked_targets]

    def transitions_json(
        self, issue: IssueRecord, *, with_fields: bool = False, only: str | None = None
    ) -> list[JsonDict]:
        return [
            transition_json(self.base_url, t, with_fields=with_fields)
            for t in self.available_transitions(issue)
            if only in (None, t.id)
        ]

    def transition(self, issue: IssueRecord, body: Any, by: str) -> None:
        """POST .../transitions: ``{"transition": {"id"}}``, optionally ``update.comment``.
        The transitions have no screen, so (as in Jira) no other field can be set with them."""
        ref = body.get("transition") if isinstance(body, dict) else None
        tid = ref.get("id") if isinstance(ref, dict) else None
        if tid is None:
            raise JiraError(400, ["Missing 'transition' identifier"])
        chosen = next((t for t in self.available_transitions(issue) if t.id == str(tid)), None)
        if chosen is None:
            raise JiraError(400, [f"Transition id '{tid}' is not valid for this issue."])
        update = body.get("update")
        extra = list(body.get("fields") or {}) if isinstance(body.get("fields"), dict) else []
        extra += [name for name in update or {} if name != "comment"]
        if extra:
            raise JiraError(400, [], {name: NOT_SETTABLE.format(name) for name in extra})
        self.set_status(issue, chosen.to, by)
        for text in comment_adds(update):
            self.add_comment(issue, text, by)

    def add_comment(self, issue: IssueRecord, body: Any, by: str) -> Comment:
        if not isinstance(body, str) or not body.strip():
            raise JiraError(400, [], {"comment": "Comment body can not be empty!"})
        now = self.now()
        comment = Comment(next(self._comment_ids), by, body, now, now)
        issue.comments.append(comment)
        issue.updated = now
        return comment

    # --- search -------------------------------------------------------------------------------

    def search(
        self, jql: str, *, strict: bool = True, caller: str = ""
    ) -> tuple[list[IssueRecord], list[str]]:
        query = parse(jql)
        ctx = JqlContext(
            self.cfg,
            list(self.issues.values()),
            self.users,
            caller or self.cfg.bot_account_id,
            self.now(),
            strict,
        )
        return run_query(query, ctx), ctx.warnings

    # --- webhooks -----------------------------------------------------------------------------

    def webhook(self, key: str, event: str, items: list[JsonDict] | None) -> JsonDict:
        """A Jira Cloud webhook delivery for the issue's current state."""
        issue = self.get_issue(key)
        last = issue.histories[-1] if issue.histories else None
        payload: JsonDict = {"timestamp": 0, "webhookEvent": event}
        actor, when = issue.creator, issue.created
        if event == "jira:issue_created":
            payload["issue_event_type_name"] = "issue_created"
        elif items is None and last is None:
            raise ValueError(f"{key} has no change to report: pass changelog_items")
        changelog: JsonDict | None = None
        if items is not None:
            changelog = {"id": str(next(self._history_ids)), "items": [dict(i) for i in items]}
            actor, when = self.human_id, self.now()
        elif last is not None and event != "jira:issue_created":
            changelog = {"id": str(last.id), "items": [dict(i) for i in last.items]}
            actor, when = last.author, last.created
        if event != "jira:issue_created":
            fields_changed = {i.get("field") for i in (changelog or {}).get("items", [])}
            payload["issue_event_type_name"] = (
                "issue_generic"
                if "status" in fields_changed
                else "issue_assigned"
                if fields_changed == {"assignee"}
                else "issue_updated"
            )
        payload["timestamp"] = int(when.timestamp() * 1000)
        payload["user"] = self.render_user(actor)
        values = field_values(self.base_url, self.cfg, self.user, issue)
        payload["issue"] = {
            "id": str(issue.id),
            "self": f"{self.base_url}{API}/issue/{issue.id}",
            "key": issue.key,
            "fields": {k: v for k, v in values.items() if k not in ("comment", "worklog")},
        }
        if changelog is not None:
            payload["changelog"] = changelog
        return payload

    def render_user(self, account_id: str) -> JsonDict:
        return user_json(self.base_url, self.cfg, self.user(account_id))

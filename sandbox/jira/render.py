"""Issues, comments and changelogs as Jira's REST v2 JSON, and the ``fields=`` selection rules.

Every function takes the base URL (``self`` links point back at the fake) and a lookup for
users, so rendering never touches shared state beyond what it is handed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from sandbox.jira.catalog import (
    issuetype_json,
    priority_json,
    project_json,
    resolution_json,
    status_json,
)
from sandbox.jira.model import (
    API,
    ISSUE_EXPAND,
    Comment,
    History,
    IssueRecord,
    JiraConfig,
    JsonDict,
    User,
    jira_time,
    user_json,
)

UserLookup = Callable[[str], User]

# Fields the fake renders, in the order Jira Cloud lists them. Non-navigable ones are left out
# of searches' default (``*navigable``) selection.
ALL_FIELDS = (
    "statuscategorychangedate", "issuetype", "timespent", "project", "fixVersions",
    "aggregatetimespent", "resolution", "resolutiondate", "workratio", "watches", "lastViewed",
    "created", "priority", "labels", "timeestimate", "aggregatetimeoriginalestimate",
    "versions", "issuelinks", "assignee", "updated", "status", "components",
    "timeoriginalestimate", "description", "security", "attachment", "aggregatetimeestimate",
    "summary", "creator", "subtasks", "reporter", "aggregateprogress", "environment",
    "duedate", "progress", "votes", "comment", "worklog",
)  # fmt: skip
NON_NAVIGABLE = frozenset({"comment", "worklog"})
NAVIGABLE = tuple(f for f in ALL_FIELDS if f not in NON_NAVIGABLE)

# GET /rest/api/2/field: the system fields (id, name, JQL clause names).
FIELD_DEFS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("issuekey", "Key", ("id", "issue", "issuekey", "key")),
    ("summary", "Summary", ("summary",)),
    ("description", "Description", ("description",)),
    ("status", "Status", ("status",)),
    ("statusCategory", "Status Category", ("statusCategory",)),
    ("priority", "Priority", ("priority",)),
    ("labels", "Labels", ("labels",)),
    ("duedate", "Due date", ("due", "duedate")),
    ("assignee", "Assignee", ("assignee",)),
    ("reporter", "Reporter", ("reporter",)),
    ("creator", "Creator", ("creator",)),
    ("issuetype", "Issue Type", ("issuetype", "type")),
    ("project", "Project", ("project",)),
    ("created", "Created", ("created", "createdDate")),
    ("updated", "Updated", ("updated", "updatedDate")),
    ("resolution", "Resolution", ("resolution",)),
    ("resolutiondate", "Resolved", ("resolutiondate", "resolved")),
    ("comment", "Comment", ("comment",)),
    ("statuscategorychangedate", "Status Category Changed", ("statusCategoryChangedDate",)),
)


def field_list() -> list[JsonDict]:
    return [
        {
            "id": fid,
            "key": fid,
            "name": name,
            "custom": False,
            "orderable": fid not in ("issuekey", "created", "updated", "status", "creator"),
            "navigable": fid not in NON_NAVIGABLE,
            "searchable": True,
            "clauseNames": list(clauses),
        }
        for fid, name, clauses in FIELD_DEFS
    ]


def select_fields(values: Iterable[str], default: tuple[str, ...]) -> tuple[str, ...]:
    """Resolve ``fields=`` values (comma lists, repeatable): ``*all``, ``*navigable``, names,
    ``-name`` exclusions. Unknown names are ignored, as Jira does."""
    tokens = [t.strip() for v in values for t in v.split(",") if t.strip()]
    if not tokens:
        return default
    chosen: list[str] = []
    if all(t.startswith("-") for t in tokens):
        chosen = list(default)
    for token in tokens:
        if token == "*all":
            chosen += [f for f in ALL_FIELDS if f not in chosen]
        elif token == "*navigable":
            chosen += [f for f in NAVIGABLE if f not in chosen]
        elif token.startswith("-"):
            chosen = [f for f in chosen if f != token[1:]]
        elif token in ALL_FIELDS and token not in chosen:
            chosen.append(token)
    return tuple(f for f in ALL_FIELDS if f in chosen)


def comment_json(
    base: str, cfg: JiraConfig, users: UserLookup, issue: IssueRecord, comment: Comment
) -> JsonDict:
    author = user_json(base, cfg, users(comment.author))
    return {
        "self": f"{base}{API}/issue/{issue.id}/comment/{comment.id}",
        "id": str(comment.id),
        "author": author,
        "body": comment.body,
        "updateAuthor": author,
        "created": jira_time(comment.created),
        "updated": jira_time(comment.updated),
        "jsdPublic": True,
    }


def comments_page(base: str, cfg: JiraConfig, users: UserLookup, issue: IssueRecord) -> JsonDict:
    comments = [comment_json(base, cfg, users, issue, c) for c in issue.comments]
    return {
        "comments": comments,
        "self": f"{base}{API}/issue/{issue.id}/comment",
        "maxResults": len(comments),
        "total": len(comments),
        "startAt": 0,
    }


def history_json(base: str, cfg: JiraConfig, users: UserLookup, history: History) -> JsonDict:
    return {
        "id": str(history.id),
        "author": user_json(base, cfg, users(history.author)),
        "created": jira_time(history.created),
        "items": [dict(item) for item in history.items],
    }


def changelog_json(base: str, cfg: JiraConfig, users: UserLookup, issue: IssueRecord) -> JsonDict:
    histories = [history_json(base, cfg, users, h) for h in issue.histories]
    return {
        "startAt": 0,
        "maxResults": len(histories),
        "total": len(histories),
        "histories": histories,
    }


def _user_or_none(
    base: str, cfg: JiraConfig, users: UserLookup, who: str | None
) -> JsonDict | None:
    return user_json(base, cfg, users(who)) if who else None


def field_values(base: str, cfg: JiraConfig, users: UserLookup, issue: IssueRecord) -> JsonDict:
    """Every field of the issue, keyed as in ``ALL_FIELDS``."""
    issue_self = f"{base}{API}/issue/{issue.key}"
    return {
        "statuscategorychangedate": jira_time(issue.status_changed),
        "issuetype": issuetype_json(base, issue.issuetype),
        "timespent": None,
        "project": project_json(base, cfg),
        "fixVersions": [],
        "aggregatetimespent": None,
        "resolution": resolution_json(base, issue.resolution) if issue.resolution else None,
        "resolutiondate": jira_time(issue.resolutiondate) if issue.resolutiondate else None,
        "workratio": -1,
        "watches": {"self": f"{issue_self}/watchers", "watchCount": 1, "isWatching": True},
        "lastViewed": None,
        "created": jira_time(issue.created),
        "priority": priority_json(base, issue.priority),
        "labels": list(issue.labels),
        "timeestimate": None,
        "aggregatetimeoriginalestimate": None,
        "versions": [],
        "issuelinks": [],
        "assignee": _user_or_none(base, cfg, users, issue.assignee),
        "updated": jira_time(issue.updated),
        "status": status_json(base, issue.status),
        "components": [],
        "timeoriginalestimate": None,
        "description": issue.description,
        "security": None,
        "attachment": [],
        "aggregatetimeestimate": None,
        "summary": issue.summary,
        "creator": _user_or_none(base, cfg, users, issue.creator),
        "subtasks": [],
        "reporter": _user_or_none(base, cfg, users, issue.reporter),
        "aggregateprogress": {"progress": 0, "total": 0},
        "environment": None,
        "duedate": issue.duedate,
        "progress": {"progress": 0, "total": 0},
        "votes": {"self": f"{issue_self}/votes", "votes": 0, "hasVoted": False},
        "comment": comments_page(base, cfg, users, issue),
        "worklog": {"startAt": 0, "maxResults": 20, "total": 0, "worklogs": []},
    }


def issue_json(
    base: str,
    cfg: JiraConfig,
    users: UserLookup,
    issue: IssueRecord,
    fields: tuple[str, ...] = ALL_FIELDS,
    *,
    expand: Iterable[str] = (),
    transitions: list[JsonDict] | None = None,
) -> JsonDict:
    values = field_values(base, cfg, users, issue)
    out: JsonDict = {
        "expand": ISSUE_EXPAND,
        "id": str(issue.id),
        "self": f"{base}{API}/issue/{issue.id}",
        "key": issue.key,
        "fields": {name: values[name] for name in fields},
    }
    wanted = {e.strip() for e in expand}
    if "changelog" in wanted:
        out["changelog"] = changelog_json(base, cfg, users, issue)
    if "transitions" in wanted and transitions is not None:
        out["transitions"] = transitions
    return out

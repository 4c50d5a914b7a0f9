"""Evaluates parsed JQL against the fake's issues: validation, matching and ORDER BY.

Validation follows Jira's strict mode: a value that names nothing (an issue key that does not
exist, an unknown project or status) is a 400 with Jira's message, e.g. "An issue with key
'OPS-9' does not exist for field 'key'.". With ``strict=False`` (legacy ``/search`` with
``validateQuery=warn|false``) such values become warnings and match nothing.
Dates are read in UTC (the fake's users all live in UTC).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sandbox.jira.catalog import (
    PRIORITIES,
    RESOLUTIONS,
    STATUSES,
    category_of,
    issue_type_name,
    priority_name,
    status_by_id_or_name,
)
from sandbox.jira.jql import Clause, JqlError, Node, Operand, Query
from sandbox.jira.model import (
    IssueRecord,
    JiraConfig,
    User,
    parse_due,
)

Predicate = Callable[[IssueRecord], bool]
FIELD_ALIASES = {
    "key": "key", "issuekey": "key", "id": "key", "issue": "key",
    "project": "project", "labels": "labels", "status": "status",
    "statuscategory": "statusCategory", "issuetype": "issuetype", "type": "issuetype",
    "priority": "priority", "resolution": "resolution",
    "assignee": "assignee", "reporter": "reporter", "creator": "creator",
    "created": "created", "createddate": "created", "updated": "updated",
    "updateddate": "updated", "duedate": "duedate", "due": "duedate",
    "resolved": "resolutiondate", "resolutiondate": "resolutiondate",
    "statuscategorychangeddate": "statuscategorychangedate",
    "summary": "summary", "description": "description", "text": "text", "comment": "comment",
    "rank": "rank",
}  # fmt: skip
LIST_OPS = ("=", "!=", "in", "not in", "is", "is not")
OPS_BY_KIND = {
    "key": ("=", "!=", "in", "not in", "<", "<=", ">", ">="),
    "choice": LIST_OPS,
    "user": LIST_OPS,
    "date": ("=", "!=", "<", "<=", ">", ">=", "is", "is not"),
    "text": ("~", "!~", "is", "is not"),
}
KIND = {
    "key": "key", "project": "choice", "labels": "choice", "status": "choice",
    "statusCategory": "choice", "issuetype": "choice", "priority": "choice",
    "resolution": "choice", "assignee": "user", "reporter": "user", "creator": "user",
    "created": "date", "updated": "date", "duedate": "date", "resolutiondate": "date",
    "statuscategorychangedate": "date", "summary": "text", "description": "text",
    "text": "text", "comment": "text",
}  # fmt: skip
PERIOD_RE = re.compile(r"^([+-]?)((?:\d+[wdhm]\s*)+)$")
DATE_FORMATS = ("%Y/%m/%d %H:%M", "%Y-%m-%d %H:%M", "%Y/%m/%d", "%Y-%m-%d")
STATUS_ORDER = list(STATUSES)


@dataclass
class JqlContext:
    cfg: JiraConfig
    issues: Sequence[IssueRecord]
    users: dict[str, User]
    current_user: str
    now: datetime
    strict: bool = True
    warnings: list[str] = field(default_factory=list)

    def unknown(self, message: str) -> None:
        if self.strict:
            raise JqlError([message])
        self.warnings.append(message)


def _field(name: str) -> str:
    canonical = FIELD_ALIASES.get(name.lower())
    if canonical is None or canonical == "rank":
        raise JqlError([f"Field '{name}' does not exist or you do not have permission to view it."])
    return canonical


def parse_jql_date(text: str, now: datetime) -> datetime | None:
    period = PERIOD_RE.match(text.strip())
    if period:
        units = {"w": 604800, "d": 86400, "h": 3600, "m": 60}
        seconds = sum(int(p[:-1]) * units[p[-1]] for p in period.group(2).split())
        return now + timedelta(seconds=-seconds if period.group(1) == "-" else seconds)
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(text.strip(), fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


def _issue_values(issue: IssueRecord, name: str, ctx: JqlContext) -> list[Any]:
    """The issue's value(s) for a field, in the form operands resolve to ([] when empty)."""
    single: Any
    if name == "key":
        return [(issue.key.rsplit("-", 1)[0], issue.number)]
    if name == "labels":
        return list(issue.labels)
    if name == "text":
        return [issue.summary, issue.description or "", *(c.body for c in issue.comments)]
    if name == "comment":
        return [c.body for c in issue.comments]
    single = {
        "project": ctx.cfg.project_key,
        "status": issue.status,
        "statusCategory": category_of(issue.status).key,
        "issuetype": issue.issuetype,
        "priority": issue.priority,
        "resolution": issue.resolution,
        "assignee": issue.assignee,
        "reporter": issue.reporter,
        "creator": issue.creator,
        "created": issue.created,
        "updated": issue.updated,
        "resolutiondate": issue.resolutiondate,
        "statuscategorychangedate": issue.status_changed,
        "duedate": parse_due(issue.duedate) if issue.duedate else None,
        "summary": issue.summary,
        "description": issue.description,
    }[name]
    return [] if single is None else [single]


def _resolve(name: str, operand: Operand, ctx: JqlContext) -> Any:
    """An operand as a comparable value; None when it names nothing (non-strict mode)."""
    text = operand.text
    if operand.kind == "func":
        return _function(name, text, ctx)
    missing = f"The value '{text}' does not exist for the field '{name}'."
    if name == "key":
        by_id = {str(i.id): i.key for i in ctx.issues}
        key = by_id.get(text, text.upper())
        match = re.match(r"^([A-Z][A-Z0-9_]*)-(\d+)$", key)
        if match is None:
            ctx.unknown(f"The issue key '{text}' for field '{name}' is invalid.")
            return None
        if key not in {i.key for i in ctx.issues}:
            ctx.unknown(f"An issue with key '{key}' does not exist for field '{name}'.")
            return None
        return (match.group(1), int(match.group(2)))
    if name == "labels":
        return text
    if name in ("summary", "description", "text", "comment"):
        return text
    if KIND[name] == "date":
        moment = parse_jql_date(text, ctx.now)
        if moment is None:
            raise JqlError(
                [
                    f"Date value '{text}' for field '{name}' is invalid. Valid formats include: "
                    "'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a "
                    "period format e.g. '-5d', '4w 2d'."
                ]
            )
        return moment.date() if name == "duedate" else moment
    found: str | None
    if name == "project":
        cfg = ctx.cfg
        known = {cfg.project_key.lower(), cfg.project_id, cfg.project_name.lower()}
        found = cfg.project_key if text.lower() in known else None
    elif name == "status":
        status = status_by_id_or_name(text)
        found = status.name if status else None
    elif name == "statusCategory":
        cats = {s.category for s in STATUSES.values()}
        found = next(
            (c.key for c in cats if text.lower() in (c.key, c.name.lower(), str(c.id))), None
        )
    elif name == "issuetype":
        found = issue_type_name(text)
    elif name == "priority":
        found = priority_name(text)
    elif name == "resolution":
        if text.lower() == "unresolved":
            return Operand("empty", "")
        found = next(
            (r for r, (rid, _) in RESOLUTIONS.items() if text.lower() == r.lower() or text == rid),
            None,
        )
    else:  # users: accountId (username on Server), e-mail or display name
        found = next(
            (
                u.account_id
                for u in ctx.users.values()
                if text == u.account_id or text.lower() in (u.email.lower(), u.display_name.lower())
            ),
            None,
        )
    if found is None:
        ctx.unknown(missing)
    return found


def _function(name: str, func: str, ctx: JqlContext) -> Any:
    lowered = func.lower()
    if lowered == "currentuser" and KIND[name] == "user":
        return ctx.current_user
    if lowered in ("now", "startofday", "endofday") and KIND[name] == "date":
        start = ctx.now.replace(hour=0, minute=0, second=0, microsecond=0)
        moment = {
            "now": ctx.now,
            "startofday": start,
            "endofday": start + timedelta(days=1, microseconds=-1),
        }[lowered]
        return moment.date() if name == "duedate" else moment
    if lowered in ("currentuser", "now", "startofday", "endofday"):
        raise JqlError(
            [f"A value provided by the function '{func}' is invalid for the field '{name}'."]
        )
    raise JqlError([f"Unable to find JQL function '{func}()'."])


def _text_match(haystack: Any, needle: str) -> bool:
    words = [w.strip("*").lower() for w in needle.split() if w.strip("*")]
    text = str(haystack).lower()
    return bool(words) and all(w in text for w in words)


def _clause(clause: Clause, ctx: JqlContext) -> Predicate:
    name = _field(clause.field)
    op = clause.op
    if op not in OPS_BY_KIND[KIND[name]]:
        raise JqlError([f"The operator '{op}' is not supported by the '{clause.field}' field."])
    if op in ("is", "is not"):
        empty = op == "is"
        return lambda issue: (not _issue_values(issue, name, ctx)) == empty
    resolved = [_resolve(name, operand, ctx) for operand in clause.operands]
    if any(isinstance(r, Operand) for r in resolved):  # resolution = Unresolved
        wants_empty = op in ("=", "in")
        return lambda issue: (not _issue_values(issue, name, ctx)) == wants_empty
    values = [r for r in resolved if r is not None]
    if op in ("~", "!~"):
        hit = op == "~"
        return lambda issue: (
            any(_text_match(v, values[0]) for v in _issue_values(issue, name, ctx)) == hit
            if values
            else False
        )
    compare: dict[str, Callable[[Any, Any], bool]] = {
        "<": lambda a, b: bool(a < b), "<=": lambda a, b: bool(a <= b),
        ">": lambda a, b: bool(a > b), ">=": lambda a, b: bool(a >= b),
    }  # fmt: skip
    if op in compare:
        cmp = compare[op]
        return lambda issue: any(
            type(iv) is type(v) and cmp(iv, v)
            for iv in _issue_values(issue, name, ctx)
            for v in values
        )
    if op in ("=", "in"):
        return lambda issue: any(iv in values for iv in _issue_values(issue, name, ctx))
    # != / not in: Jira leaves out issues where the field is empty
    return lambda issue: (
        bool(have := _issue_values(issue, name, ctx)) and not any(iv in values for iv in have)
    )


def compile_node(node: Node, ctx: JqlContext) -> Predicate:
    if isinstance(node, Clause):
        return _clause(node, ctx)
    parts = [compile_node(child, ctx) for child in node.children]
    if node.op == "and":
        return lambda issue: all(p(issue) for p in parts)
    if node.op == "or":
        return lambda issue: any(p(issue) for p in parts)
    return lambda issue: not parts[0](issue)


def _sort_value(issue: IssueRecord, name: str) -> Any:
    values: dict[str, Any] = {
        "key": (issue.key.rsplit("-", 1)[0], issue.number),
        "rank": issue.id,
        "created": issue.created,
        "updated": issue.updated,
        "resolutiondate": issue.resolutiondate,
        "statuscategorychangedate": issue.status_changed,
        "duedate": parse_due(issue.duedate) if issue.duedate else None,
        "priority": len(PRIORITIES) - list(PRIORITIES).index(issue.priority),
        "status": STATUS_ORDER.index(issue.status),
        "summary": issue.summary.lower(),
        "issuetype": issue.issuetype,
        "assignee": issue.assignee,
        "reporter": issue.reporter,
    }
    return values[name]


def order_issues(issues: list[IssueRecord], order: Sequence[tuple[str, bool]]) -> list[IssueRecord]:
    """ORDER BY; without one, newest key first (the fake's choice for Jira's default order)."""
    ordered = sorted(issues, key=lambda i: (i.key.rsplit("-", 1)[0], i.number), reverse=True)
    for raw_name, descending in reversed(order):
        name = FIELD_ALIASES.get(raw_name.lower())
        if name is None:
            raise JqlError(
                [f"Field '{raw_name}' does not exist or you do not have permission to view it."]
            )
        if name not in (
            "key",
            "rank",
            "created",
            "updated",
            "resolutiondate",
            "duedate",
            "priority",
            "status",
            "summary",
            "issuetype",
            "assignee",
            "reporter",
            "statuscategorychangedate",
        ):
            raise JqlError([f"Not able to sort using field '{raw_name}'."])

        def key(issue: IssueRecord, name: str = name) -> tuple[Any, ...]:
            value = _sort_value(issue, name)
            return (1,) if value is None else (0, value)

        ordered.sort(key=key, reverse=descending)
    return ordered


def run_query(query: Query, ctx: JqlContext) -> list[IssueRecord]:
    """The matching issues in the query's order (raises ``JqlError`` for a 400)."""
    match = compile_node(query.where, ctx) if query.where is not None else None
    found = [i for i in ctx.issues if match is None or match(i)]
    return order_issues(found, query.order)

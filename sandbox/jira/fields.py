"""Validation of issue field values sent to create, edit and transition an issue.

Each ``parse_*`` turns a REST v2 value into the fake's stored form or adds a field-level error
message (collected, then answered together as one 400, the way Jira reports them). Messages
follow Jira's wording where it is known; see the notes in ``jira_fake.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sandbox.jira.catalog import DEFAULT_PRIORITY, issue_type_name, priority_name
from sandbox.jira.model import JiraConfig, JiraError, User, parse_due

CREATE_FIELDS = frozenset(
    {"summary", "description", "issuetype", "project", "labels", "duedate", "priority",
     "assignee", "reporter"}
)  # fmt: skip
EDIT_FIELDS = frozenset({"summary", "description", "labels", "duedate", "priority", "assignee"})
NOT_SETTABLE = "Field '{0}' cannot be set. It is not on the appropriate screen, or unknown."
STRING_EXPECTED = "Operation value must be a string"

UserFinder = Callable[[str], User | None]


class Errors:
    """Field errors collected while reading one request."""

    def __init__(self) -> None:
        self.errors: dict[str, str] = {}

    def add(self, field: str, message: str) -> None:
        self.errors.setdefault(field, message)

    def raise_if_any(self) -> None:
        if self.errors:
            raise JiraError(400, [], self.errors)


def _ref(value: Any, *keys: str) -> str | None:
    """``{"name": x}`` / ``{"id": x}`` / ``{"key": x}`` -> x (the first key present)."""
    if isinstance(value, dict):
        for key in keys:
            if value.get(key) is not None:
                return str(value[key])
    return None


def parse_summary(value: Any, errs: Errors) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        errs.add("summary", "You must specify a summary of the issue.")
    elif not isinstance(value, str):
        errs.add("summary", STRING_EXPECTED)
    elif "\n" in value or "\r" in value:
        errs.add("summary", "The summary is invalid because it contains newline characters.")
    elif len(value) > 255:
        errs.add("summary", "Summary must be less than 255 characters.")
    else:
        return value
    return None


def parse_description(value: Any, errs: Errors) -> str | None:
    if value is not None and not isinstance(value, str):
        errs.add("description", STRING_EXPECTED)  # REST v2 takes plain text, not ADF
        return None
    return value or None


def parse_labels(value: Any, errs: Errors) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        errs.add("labels", "Operation value must be an array of strings")
        return []
    for label in value:
        if not label.strip():
            errs.add("labels", "The label '' is invalid: labels cannot be empty.")
        elif any(ch.isspace() for ch in label):
            errs.add("labels", f"The label '{label}' contains spaces which is invalid.")
        elif len(label) > 255:
            errs.add("labels", f"The label '{label}' exceeds the 255 character limit.")
    return sorted(set(value))  # Jira keeps labels as a set and lists them sorted


def parse_duedate(value: Any, errs: Errors) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or parse_due(value) is None:
        errs.add("duedate", f"Error parsing date string: {value}")
        return None
    return value


def parse_priority(value: Any, errs: Errors) -> str:
    if value is None:
        return DEFAULT_PRIORITY
    ref = _ref(value, "name", "id")
    name = priority_name(ref) if ref is not None else None
    if name is None:
        errs.add("priority", "The priority selected is invalid.")
        return DEFAULT_PRIORITY
    return name


def parse_issuetype(value: Any, errs: Errors) -> str:
    if value is None:
        errs.add("issuetype", "Specify an issue type")
        return ""
    ref = _ref(value, "name", "id")
    name = issue_type_name(ref) if ref is not None else None
    if name is None:
        errs.add("issuetype", "valid issue type is required")
        return ""
    return name


def parse_project(cfg: JiraConfig, value: Any) -> None:
    """Raises at once: without a valid project nothing else can be checked."""
    if value is None:
        raise JiraError(400, [], {"project": "Specify a valid project ID or key"})
    ref = _ref(value, "key", "id")
    if ref not in (cfg.project_key, cfg.project_id):
        raise JiraError(400, [], {"project": "valid project is required"})


def parse_user(
    cfg: JiraConfig, find: UserFinder, field: str, value: Any, errs: Errors
) -> str | None:
    """A user reference: Cloud ``{"accountId"}`` (or ``{"id"}``), Server ``{"name"}``/``{"key"}``.
    ``None`` (or ``{"accountId": null}``) clears the field."""
    if value is None:
        return None
    if not isinstance(value, dict):
        errs.add(field, f"data was not an object: {field}")
        return None
    ref = _ref(value, "accountId", "id") if cfg.cloud else _ref(value, "name", "key")
    if ref is None:
        if cfg.cloud and _ref(value, "name", "key") is not None:
            errs.add(field, f"Specify a valid value for {field}")  # GDPR: no usernames on Cloud
            return None
        return None
    if ref == "-1":
        return None
    user = find(ref)
    if user is None:
        errs.add(
            field,
            f"Specify a valid value for {field}" if cfg.cloud else f"User '{ref}' does not exist.",
        )
        return None
    if field == "assignee" and not user.active:
        errs.add(field, f"User '{user.display_name}' cannot be assigned issues.")
        return None
    return user.account_id


def read_create(cfg: JiraConfig, find: UserFinder, fields: Any) -> dict[str, Any]:
    """The validated values of a create request's ``fields`` (raises ``JiraError`` 400)."""
    if not isinstance(fields, dict):
        raise JiraError(400, ['Issue fields are required: send {"fields": {...}}.'])
    parse_project(cfg, fields.get("project"))
    errs = Errors()
    for name in fields:
        if name not in CREATE_FIELDS:
            errs.add(name, NOT_SETTABLE.format(name))
    values = {
        "summary": parse_summary(fields.get("summary"), errs),
        "description": parse_description(fields.get("description"), errs),
        "issuetype": parse_issuetype(fields.get("issuetype"), errs),
        "labels": parse_labels(fields.get("labels"), errs),
        "duedate": parse_duedate(fields.get("duedate"), errs),
        "priority": parse_priority(fields.get("priority"), errs),
        "assignee": parse_user(cfg, find, "assignee", fields.get("assignee"), errs),
        "reporter": parse_user(cfg, find, "reporter", fields.get("reporter"), errs),
    }
    errs.raise_if_any()
    return values


def read_edit(
    cfg: JiraConfig,
    find: UserFinder,
    fields: Any,
    update: Any,
    current_labels: list[str],
) -> dict[str, Any]:
    """Changed values from an edit's ``fields`` (set) and ``update`` (operations)."""
    errs = Errors()
    sets: dict[str, Any] = dict(fields) if isinstance(fields, dict) else {}
    if fields is not None and not isinstance(fields, dict):
        raise JiraError(400, ["Can not deserialize instance of fields"])
    labels = list(current_labels)
    label_ops = False
    for name, ops in (update or {}).items() if isinstance(update, dict) else ():
        if name == "comment":
            continue  # handled by the caller
        if name in sets or not isinstance(ops, list):
            errs.add(name, NOT_SETTABLE.format(name))
            continue
        for op in ops:
            if not isinstance(op, dict) or len(op) != 1:
                errs.add(name, "Operation must be one of: set, add, remove")
                continue
            verb, arg = next(iter(op.items()))
            if name == "labels" and verb in ("add", "remove"):
                label_ops = True
                if verb == "add" and arg not in labels:
                    labels.append(arg)
                elif verb == "remove" and arg in labels:
                    labels.remove(arg)
            elif verb == "set":
                sets[name] = arg
            else:
                errs.add(name, f"Operation '{verb}' is not supported for field '{name}'")
    if label_ops:
        sets["labels"] = labels
    out: dict[str, Any] = {}
    for name, value in sets.items():
        if name not in EDIT_FIELDS:
            errs.add(name, NOT_SETTABLE.format(name))
        elif name == "summary":
            out[name] = parse_summary(value, errs)
        elif name == "description":
            out[name] = parse_description(value, errs)
        elif name == "labels":
            out[name] = parse_labels(value, errs)
        elif name == "duedate":
            out[name] = parse_duedate(value, errs)
        elif name == "priority":
            out[name] = parse_priority(value, errs)
        elif name in ("assignee", "reporter"):
            out[name] = parse_user(cfg, find, name, value, errs)
    errs.raise_if_any()
    return out


def comment_adds(update: Any) -> list[str]:
    """Bodies of ``update.comment[].add.body`` (transition and edit requests)."""
    if not isinstance(update, dict):
        return []
    bodies = []
    for op in update.get("comment") or []:
        body = (op.get("add") or {}).get("body") if isinstance(op, dict) else None
        if isinstance(body, str) and body.strip():
            bodies.append(body)
    return bodies

"""Reading and changing page restrictions (v1 ``/content/{id}/restriction...``; v2 has none).

Request bodies: a list (or ``{"results": [...]}``) of ``{"operation": "read"|"update",
"restrictions": {"user": [...], "group": [...]}}``, where each list may also be wrapped as
``{"results": [...]}`` (the shape ``GET`` answers). Users are ``{"accountId"}`` (Cloud) or
``{"username"}`` / ``{"userKey"}`` (Data Center); groups ``{"id"}`` or ``{"name"}``. Validation
messages are Confluence's (its decompiled ``DefaultContentRestrictionServiceValidator``).

``PUT`` replaces: an operation the body does not mention becomes unrestricted. ``POST`` adds.

Lock-out rule (what the fake chose): Atlassian's REST docs say nothing about it, but Confluence
never lets the person changing restrictions remove themselves (the editor's restriction dialog
always keeps the current user, CONFSERVER-56405). The fake refuses, with a 400, any change made
through the API after which the caller could no longer read the page (when it is
read-restricted) or edit it (when it is update-restricted), directly or through a group. The
message is composed: "Could not update restrictions: the current user <name> would lose <read|
update> access to content ContentId{id=N}. Include them, or a group they belong to." Removing
all restrictions (``DELETE .../restriction``) is always allowed.
"""

from __future__ import annotations

from typing import Any

from sandbox.confluence.model import (
    OPERATIONS,
    READ,
    UPDATE,
    ConfluenceError,
    PageRecord,
    RestrictionSet,
    content_id_str,
)
from sandbox.confluence.pages import check_can_edit
from sandbox.confluence.state import ConfluenceState

Rules = dict[str, RestrictionSet]


def _unwrap(value: Any) -> Any:
    if isinstance(value, dict) and "results" in value:
        return value["results"]
    return value


def _user(st: ConfluenceState, item: Any) -> str:
    if not isinstance(item, dict):
        raise ConfluenceError(400, "User cannot be <null>/empty/unspecified")
    ref = item.get("accountId") or item.get("username") or item.get("userKey")
    account = st.find_account(ref) if isinstance(ref, str) else None
    if account is None:
        raise ConfluenceError(400, f"Subject <{ref}> is not a valid existing user")
    return account.account_id


def _group(st: ConfluenceState, item: Any) -> str:
    if not isinstance(item, dict):
        raise ConfluenceError(400, "Group cannot be <null>/empty/unspecified")
    ref = item.get("id") or item.get("name")
    group = st.find_group(ref) if isinstance(ref, str) else None
    if group is None:
        raise ConfluenceError(400, f"Subject <{ref}> is not a valid existing group")
    return group.id


def _subjects(st: ConfluenceState, restrictions: Any) -> RestrictionSet:
    if not isinstance(restrictions, dict) or not restrictions:
        raise ConfluenceError(
            400,
            "ContentRestriction must have valid non empty map of subject types to restriction "
            "subjects specified",
        )
    unknown = sorted(set(restrictions) - {"user", "group"})
    if unknown:
        raise ConfluenceError(
            400,
            f"Unsupported restriction SubjectType(s): <[{', '.join(unknown)}]>. "
            "Please use one of: [user, group]",
        )
    rule = RestrictionSet()
    for kind, reader, target in (("user", _user, rule.users), ("group", _group, rule.groups)):
        if kind not in restrictions:
            continue
        items = _unwrap(restrictions[kind])
        if not isinstance(items, list):
            raise ConfluenceError(
                400,
                f"Please provide valid PageResponse/List of Subjects for the SubjectType: <{kind}>",
            )
        for item in items:
            subject = reader(st, item)
            if subject not in target:
                target.append(subject)
    return rule


def parse_rules(st: ConfluenceState, body: Any) -> Rules:
    """The operations a request body sets, validated; raises 400 as Confluence does."""
    items = _unwrap(body)
    if not isinstance(items, list) or not items:
        raise ConfluenceError(
            400,
            "No ContentRestrictions provided. Must pass proper restrictions in order to set them",
        )
    rules: Rules = {}
    for item in items:
        if not isinstance(item, dict) or not item:
            raise ConfluenceError(400, "null-length/empty ContentRestrictions are not allowed")
        operation = item.get("operation")
        if not isinstance(operation, str) or not operation.strip():
            raise ConfluenceError(400, 'null-length/empty "operation" fields are not allowed')
        if operation not in OPERATIONS:
            raise ConfluenceError(
                400, f"unsupported operation type: <{operation}>. Please use one of: [read, update]"
            )
        if operation in rules:
            raise ConfluenceError(
                400,
                f"duplicate operation: <{operation}>. Please provide exactly 1 (one) "
                'ContentRestriction object for each "operation"',
            )
        rules[operation] = _subjects(st, item.get("restrictions"))
    return rules


def _lockout(st: ConfluenceState, caller: str, page: PageRecord, proposed: Rules) -> None:
    groups = st.groups_of(caller)
    for operation in (READ, UPDATE):
        rule = proposed[operation]
        if rule.restricted and caller not in rule.users and not groups & set(rule.groups):
            verb = "read" if operation == READ else "update"
            raise ConfluenceError(
                400,
                f"Could not update restrictions: the current user {st.display_name(caller)} "
                f"would lose {verb} access to content {content_id_str(page.id)}. "
                "Include them, or a group they belong to.",
            )


def _commit(st: ConfluenceState, caller: str, page: PageRecord, proposed: Rules) -> None:
    _lockout(st, caller, page, proposed)
    page.restrictions = proposed


def replace(st: ConfluenceState, caller: str, page: PageRecord, body: Any) -> None:
    check_can_edit(st, caller, page)
    rules = parse_rules(st, body)
    _commit(st, caller, page, {op: rules.get(op, RestrictionSet()) for op in OPERATIONS})


def add(st: ConfluenceState, caller: str, page: PageRecord, body: Any) -> None:
    check_can_edit(st, caller, page)
    rules = parse_rules(st, body)
    proposed = {op: page.restrictions[op].copy() for op in OPERATIONS}
    for op, rule in rules.items():
        proposed[op].users += [u for u in rule.users if u not in proposed[op].users]
        proposed[op].groups += [g for g in rule.groups if g not in proposed[op].groups]
    _commit(st, caller, page, proposed)


def clear(st: ConfluenceState, caller: str, page: PageRecord) -> None:
    check_can_edit(st, caller, page)
    page.restrictions = {op: RestrictionSet() for op in OPERATIONS}


def check_operation(operation: str) -> None:
    if operation not in OPERATIONS:
        raise ConfluenceError(
            400, f"unsupported operation type: <{operation}>. Please use one of: [read, update]"
        )


def change_subject(
    st: ConfluenceState,
    caller: str,
    page: PageRecord,
    operation: str,
    *,
    user: str | None = None,
    group: str | None = None,
    present: bool,
) -> None:
    """``PUT`` (present=True) or ``DELETE`` one user / group of one operation's restriction."""
    check_operation(operation)
    check_can_edit(st, caller, page)
    proposed = {op: page.restrictions[op].copy() for op in OPERATIONS}
    rule = proposed[operation]
    if user is not None:
        subject, members = _user(st, {"accountId": user}), rule.users
    else:
        subject, members = _group(st, {"id": group}), rule.groups
    if present and subject not in members:
        members.append(subject)
    elif not present:
        if subject not in members:
            raise ConfluenceError(
                404,
                f"No {operation} restriction for <{user or group}> on {content_id_str(page.id)}",
            )
        members.remove(subject)
    _commit(st, caller, page, proposed)

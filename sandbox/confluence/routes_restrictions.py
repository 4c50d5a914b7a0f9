"""REST v1 handlers for ``/content/{id}/restriction...`` (rules in ``restrictions``).

The per-subject helpers (``PUT|DELETE .../byOperation/{op}/user?accountId=``,
``.../byGroupId/{groupId}``, ``.../group/{groupName}``) answer 200 with an empty body, as the
spec says; ``GET`` on them answers 200 (empty) when the subject is in the restriction and 404
when it is not.
"""

from __future__ import annotations

import re

from sandbox.confluence import restrictions as rules
from sandbox.confluence.model import ConfluenceError, content_id_str
from sandbox.confluence.render_meta import by_operation_json, restriction_json, restrictions_json
from sandbox.confluence.request import Reply, Request
from sandbox.confluence.state import ConfluenceState


def get_restrictions(st: ConfluenceState, req: Request, m: re.Match[str]) -> Reply:
    page = st.visible_page(m["id"], req.caller)
    return Reply(200, restrictions_json(req.view, page))


def put_restrictions(st: ConfluenceState, req: Request, m: re.Match[str]) -> Reply:
    page = st.visible_page(m["id"], req.caller)
    rules.replace(st, req.caller, page, req.body)
    return Reply(200, restrictions_json(req.view, page))


def post_restrictions(st: ConfluenceState, req: Request, m: re.Match[str]) -> Reply:
    page = st.visible_page(m["id"], req.caller)
    rules.add(st, req.caller, page, req.body)
    return Reply(200, restrictions_json(req.view, page))


def delete_restrictions(st: ConfluenceState, req: Request, m: re.Match[str]) -> Reply:
    page = st.visible_page(m["id"], req.caller)
    rules.clear(st, req.caller, page)
    return Reply(200, restrictions_json(req.view, page))


def by_operation(st: ConfluenceState, req: Request, m: re.Match[str]) -> Reply:
    page = st.visible_page(m["id"], req.caller)
    return Reply(200, by_operation_json(req.view, page))


def one_operation(st: ConfluenceState, req: Request, m: re.Match[str]) -> Reply:
    page = st.visible_page(m["id"], req.caller)
    rules.check_operation(m["op"])
    return Reply(200, restriction_json(req.view, page, m["op"]))


def _subject(req: Request, m: re.Match[str]) -> tuple[str | None, str | None]:
    groups = m.groupdict()
    if groups.get("group"):
        return None, groups["group"]
    user = req.arg("accountId") or req.arg("username") or req.arg("userKey")
    if not user:
        raise ConfluenceError(400, "accountId is required")
    return user, None


def subject(st: ConfluenceState, req: Request, m: re.Match[str]) -> Reply:
    """GET / PUT / DELETE one user or group of one operation's restriction."""
    page = st.visible_page(m["id"], req.caller)
    user, group = _subject(req, m)
    operation = m["op"]
    if req.method == "GET":
        rules.check_operation(operation)
        rule = page.restrictions[operation]
        account = st.find_account(user) if user else None
        found = st.find_group(group) if group else None
        hit = (account is not None and account.account_id in rule.users) or (
            found is not None and found.id in rule.groups
        )
        if not hit:
            raise ConfluenceError(
                404,
                f"No {operation} restriction for <{user or group}> on {content_id_str(page.id)}",
            )
        return Reply(200)
    rules.change_subject(
        st, req.caller, page, operation, user=user, group=group, present=req.method == "PUT"
    )
    return Reply(200)

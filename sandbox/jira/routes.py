"""The REST v2 endpoints of the fake: one handler per (method, path), no HTTP plumbing.

Handlers run with ``JiraState.lock`` held and answer a ``Reply`` or raise ``JiraError``.
"""

from __future__ import annotations

import re

from sandbox.jira.catalog import (
    ISSUE_TYPES,
    PRIORITIES,
    issuetype_json,
    priority_json,
    project_json,
)
from sandbox.jira.model import (
    API,
    JiraError,
    jira_time,
    user_json,
)
from sandbox.jira.render import (
    ALL_FIELDS,
    comment_json,
    comments_page,
    field_list,
    select_fields,
)
from sandbox.jira.request import (
    Handler,
    NotFound,
    Reply,
    Request,
    body_of,
    flag_arg,
    int_arg,
)
from sandbox.jira.search import search_jql, search_legacy
from sandbox.jira.state import JiraState

# --- site -------------------------------------------------------------------------------------


def server_info(st: JiraState, req: Request, m: re.Match[str]) -> Reply:
    cloud = st.cfg.cloud
    version = [1001, 0, 0] if cloud else [9, 12, 15]
    return Reply(
        200,
        {
            "baseUrl": st.base_url,
            "displayUrl": st.base_url,
            "version": "1001.0.0-SNAPSHOT" if cloud else "9.12.15",
            "versionNumbers": version,
            "deploymentType": st.cfg.deployment,
            "buildNumber": 100284 if cloud else 9120015,
            "buildDate": "2026-11-01T00:00:00.000+0000",
            "serverTime": jira_time(st.now()),
            "scmInfo": "0f6b9d5c3b8e0a1f2d4c6e8a0b2c4d6e8f0a1b3c",
            "serverTitle": "Jira",
            "defaultLocale": {"locale": "en_US"},
            "serverTimeZone": "Etc/UTC",
        },
    )


def myself(st: JiraState, req: Request, m: re.Match[str]) -> Reply:
    me = user_json(st.base_url, st.cfg, st.user(req.caller))
    me.update(
        groups={"size": 1, "items": []},
        applicationRoles={"size": 1, "items": []},
        expand="groups,applicationRoles",
    )
    return Reply(200, me)


def fields(st: JiraState, req: Request, m: re.Match[str]) -> Reply:
    return Reply(200, field_list())


def project(st: JiraState, req: Request, m: re.Match[str]) -> Reply:
    ref = m.group(1)
    if ref not in (st.cfg.project_key, st.cfg.project_id):
        raise JiraError(404, [f"No project could be found with key '{ref}'."])
    wants_types = "issueTypes" in (req.arg("expand") or "")
    return Reply(200, project_json(st.base_url, st.cfg, issue_types=wants_types))


def projects(st: JiraState, req: Request, m: re.Match[str]) -> Reply:
    return Reply(200, [project_json(st.base_url, st.cfg)])


def issue_types(st: JiraState, req: Request, m: re.Match[str]) -> Reply:
    return Reply(200, [issuetype_json(st.base_url, name) for name in ISSUE_TYPES])


def priorities(st: JiraState, req: Request, m: re.Match[str]) -> Reply:
    return Reply(200, [priority_json(st.base_url, name) for name in PRIORITIES])


# --- users ------------------------------------------------------------------------------------


def _matches(text: str, *values: str) -> bool:
    """Jira's user search: a prefix of the value or of any word in it, case-insensitive."""
    needle = text.strip().lower()
    return any(
        v.lower().startswith(needle) or any(w.startswith(needle) for w in v.lower().split())
        for v in values
        if v
    )


def user_search(st: JiraState, req: Request, m: re.Match[str]) -> Reply:
    cloud = st.cfg.cloud
    query, account_id, username = req.arg("query"), req.arg("accountId"), req.arg("username")
    if cloud and not query and not account_id:
        if username:
            raise JiraError(
                400, ["The query parameter 'username' is not supported in GDPR strict mode."]
            )
        raise JiraError(400, ["One of 'query' or 'accountId' query parameters must be provided."])
    if not cloud and not username:
        raise JiraError(400, ["The username query parameter was not provided"])
    include_active = flag_arg(req.arg("includeActive"), True)
    include_inactive = flag_arg(req.arg("includeInactive"), False)
    found = []
    for user in st.users.values():
        if not user.searchable or not (include_active if user.active else include_inactive):
            continue
        if cloud:
            hit = user.account_id == account_id or (
                query is not None and _matches(query, user.display_name, user.email)
            )
        else:
            hit = _matches(username or "", user.account_id, user.display_name, user.email)
        if hit:
            found.append(user_json(st.base_url, st.cfg, user))
    start = int_arg(req.arg("startAt"), "startAt", 0)
    count = min(int_arg(req.arg("maxResults"), "maxResults", 50), 1000)
    return Reply(200, found[start : start + count])


def user_get(st: JiraState, req: Request, m: re.Match[str]) -> Reply:
    ref = req.arg("accountId") if st.cfg.cloud else (req.arg("username") or req.arg("key"))
    user = st.find_user(ref or "")
    if user is None:
        raise JiraError(
            404, ["Specified user does not exist or you do not have required permissions"]
        )
    return Reply(200, user_json(st.base_url, st.cfg, user))


# --- issues -----------------------------------------------------------------------------------


def issue_create(st: JiraState, req: Request, m: re.Match[str]) -> Reply:
    issue = st.create_issue(body_of(req).get("fields"), req.caller)
    body = {"id": str(issue.id), "key": issue.key, "self": f"{st.base_url}{API}/issue/{issue.id}"}
    return Reply(201, body)


def _expand(req: Request) -> list[str]:
    return [e for v in req.query.get("expand", []) for e in v.split(",")]


def issue_get(st: JiraState, req: Request, m: re.Match[str]) -> Reply:
    issue = st.get_issue(m.group(1))
    chosen = select_fields(req.query.get("fields", []), ALL_FIELDS)
    return Reply(200, st.render(issue, chosen, _expand(req)))


def issue_edit(st: JiraState, req: Request, m: re.Match[str]) -> Reply:
    issue = st.get_issue(m.group(1))
    body = body_of(req)
    st.edit_issue(issue, body.get("fields"), body.get("update"), req.caller)
    return Reply(204)


def issue_assign(st: JiraState, req: Request, m: re.Match[str]) -> Reply:
    issue = st.get_issue(m.group(1))
    st.edit_issue(issue, {"assignee": body_of(req)}, None, req.caller)
    return Reply(204)


def transitions_get(st: JiraState, req: Request, m: re.Match[str]) -> Reply:
    issue = st.get_issue(m.group(1))
    with_fields = "transitions.fields" in _expand(req)
    listed = st.transitions_json(issue, with_fields=with_fields, only=req.arg("transitionId"))
    return Reply(200, {"expand": "transitions", "transitions": listed})


def transitions_post(st: JiraState, req: Request, m: re.Match[str]) -> Reply:
    st.transition(st.get_issue(m.group(1)), body_of(req), req.caller)
    return Reply(204)


def comments_get(st: JiraState, req: Request, m: re.Match[str]) -> Reply:
    issue = st.get_issue(m.group(1))
    return Reply(200, comments_page(st.base_url, st.cfg, st.user, issue))


def comment_post(st: JiraState, req: Request, m: re.Match[str]) -> Reply:
    issue = st.get_issue(m.group(1))
    comment = st.add_comment(issue, body_of(req).get("body"), req.caller)
    return Reply(201, comment_json(st.base_url, st.cfg, st.user, issue, comment))


def _cloud_only(handler: Handler) -> Handler:
    def guarded(st: JiraState, req: Request, m: re.Match[str]) -> Reply:
        if not st.cfg.cloud:
            raise NotFound
        return handler(st, req, m)

    return guarded


KEY = r"([^/]+)"
_TABLE: list[tuple[str, dict[str, Handler]]] = [
    ("serverInfo", {"GET": server_info}),
    ("myself", {"GET": myself}),
    ("field", {"GET": fields}),
    ("project", {"GET": projects}),
    (f"project/{KEY}", {"GET": project}),
    ("issuetype", {"GET": issue_types}),
    ("priority", {"GET": priorities}),
    ("user/search", {"GET": user_search}),
    ("user", {"GET": user_get}),
    ("issue", {"POST": issue_create}),
    (f"issue/{KEY}", {"GET": issue_get, "PUT": issue_edit}),
    (f"issue/{KEY}/assignee", {"PUT": issue_assign}),
    (f"issue/{KEY}/transitions", {"GET": transitions_get, "POST": transitions_post}),
    (f"issue/{KEY}/comment", {"GET": comments_get, "POST": comment_post}),
    ("search/jql", {"GET": _cloud_only(search_jql), "POST": _cloud_only(search_jql)}),
    ("search", {"GET": search_legacy, "POST": search_legacy}),
]
ROUTES = [(re.compile(rf"^{API}/{path}$"), handlers) for path, handlers in _TABLE]


def route(method: str, path: str) -> tuple[Handler, re.Match[str]] | list[str]:
    """The handler for a request, or the methods the path allows (none: 404, else 405)."""
    for pattern, handlers in ROUTES:
        match = pattern.match(path)
        if match is not None:
            handler = handlers.get(method)
            return (handler, match) if handler is not None else sorted(handlers)
    return []

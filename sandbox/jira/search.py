"""The two issue-search endpoints of the fake Jira.

* ``search/jql`` (Cloud's enhanced search): pages chained by an opaque ``nextPageToken`` (bound
  to the query), ``isLast``, no ``total``; issues are ``{"id"}`` only unless ``fields`` is given;
  an unbounded query is a 400.
* ``search`` (Server / Data Center): ``startAt`` / ``maxResults`` / ``total``; gone (410) on Cloud
  unless ``legacy_search_on_cloud`` is set. ``validateQuery=warn|false`` turns unknown keys into
  ``warningMessages``.

A page holds ``min(maxResults, search_page_size)`` issues.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re

from sandbox.jira.jql import JqlError, parse
from sandbox.jira.model import IssueRecord, JiraError, JsonDict
from sandbox.jira.render import NAVIGABLE, select_fields
from sandbox.jira.request import Reply, Request, body_of, int_arg
from sandbox.jira.state import JiraState

UNBOUNDED = (
    "Unbounded JQL queries are not allowed here. Please add a search restriction to your query."
)
LEGACY_SEARCH_GONE = (
    "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. "
    "A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046"
)
BAD_TOKEN = "The provided next page token is invalid or expired."


def _search_args(req: Request) -> dict[str, list[str]]:
    """GET query parameters, or a POST body turned into the same shape."""
    if req.method != "POST":
        return req.query
    args: dict[str, list[str]] = {}
    for key, value in body_of(req).items():
        if value is None:
            continue
        items = value if isinstance(value, list) else [value]
        args[key] = [str(v).lower() if isinstance(v, bool) else str(v) for v in items]
    return args


def _first(args: dict[str, list[str]], name: str) -> str | None:
    values = args.get(name)
    return values[0] if values else None


def _run(st: JiraState, jql: str, strict: bool, caller: str) -> tuple[list[IssueRecord], list[str]]:
    try:
        return st.search(jql, strict=strict, caller=caller)
    except JqlError as error:
        raise JiraError(400, error.messages) from None


def _token(jql: str, offset: int) -> str:
    digest = hashlib.sha256(jql.encode()).hexdigest()[:12]
    raw = json.dumps({"o": offset, "q": digest}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _offset(token: str, jql: str) -> int:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if data["q"] == hashlib.sha256(jql.encode()).hexdigest()[:12]:
            return int(data["o"])
    except (ValueError, KeyError, TypeError):
        pass
    raise JiraError(400, [BAD_TOKEN])


def search_jql(st: JiraState, req: Request, m: re.Match[str]) -> Reply:
    """Jira Cloud's enhanced search: ``nextPageToken`` paging, no ``total``."""
    args = _search_args(req)
    jql = (args.get("jql") or [""])[0]
    try:
        unbounded = parse(jql).where is None
    except JqlError as error:
        raise JiraError(400, error.messages) from None
    if unbounded:
        raise JiraError(400, [UNBOUNDED])
    found, _ = _run(st, jql, True, req.caller)
    token = (args.get("nextPageToken") or [""])[0]
    start = _offset(token, jql) if token else 0
    wanted = int_arg(_first(args, "maxResults"), "maxResults", 50)
    size = max(1, min(wanted if wanted > 0 else 50, st.search_page_size))
    page = found[start : start + size]
    field_args = args.get("fields")
    expand = [e for v in args.get("expand", []) for e in v.split(",")]
    if field_args is None:
        issues = [{"id": str(i.id)} for i in page]  # search/jql returns only ids by default
    else:
        chosen = select_fields(field_args, NAVIGABLE)
        issues = [st.render(i, chosen, expand) for i in page]
    body: JsonDict = {"issues": issues, "isLast": start + size >= len(found)}
    if not body["isLast"]:
        body["nextPageToken"] = _token(jql, start + size)
    return Reply(200, body)


def search_legacy(st: JiraState, req: Request, m: re.Match[str]) -> Reply:
    """``/search``: Server / Data Center paging by ``startAt`` with ``total`` (gone on Cloud)."""
    if st.cfg.cloud and not st.legacy_search_on_cloud:
        raise JiraError(410, [LEGACY_SEARCH_GONE])
    args = _search_args(req)
    jql = (args.get("jql") or [""])[0]
    validate = (args.get("validateQuery") or ["strict"])[0].lower()
    found, warnings = _run(st, jql, validate in ("strict", "true"), req.caller)
    start = max(0, int_arg(_first(args, "startAt"), "startAt", 0))
    wanted = int_arg(_first(args, "maxResults"), "maxResults", 50)
    size = max(0, min(wanted, st.search_page_size))
    chosen = select_fields(args.get("fields", []), NAVIGABLE)
    expand = [e for v in args.get("expand", []) for e in v.split(",")]
    body: JsonDict = {
        "expand": "names,schema",
        "startAt": start,
        "maxResults": size,
        "total": len(found),
        "issues": [st.render(i, chosen, expand) for i in found[start : start + size]],
    }
    if warnings:
        body["warningMessages"] = warnings
    return Reply(200, body)

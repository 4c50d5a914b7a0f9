"""REST v2 handlers (``/wiki/api/v2/...``): spaces, pages, page labels. v1 and v2 share one
state, so a page created through either is visible through both.

As on Cloud: ``GET /spaces?keys=X`` answers ``results: []`` for unknown keys (never 404); a page
the caller may not read is a 404 (never 403); lists page with an opaque ``cursor`` and give the
next page as ``_links.next`` and a ``Link: <...>; rel="next"`` header; ``limit`` defaults to
25, at most 250. ``PUT /pages/{id}`` requires ``id, status, title, body, version`` (the
schema's required fields), so ``ConfluenceV2.update_page`` (which omits ``status``) gets a 400.
A stale ``version.number`` is a 409 in the v2 envelope (the spec documents no 409 body; the
message is v1's). ``body-format`` may be ``storage`` or ``none``; others are a 400, since the
fake stores storage only. ``POST /pages?private=true`` restricts reading and editing to the
creator; ``?root-level=true`` creates the page outside the homepage tree.
"""

from __future__ import annotations

import re
from typing import TypeVar
from urllib.parse import urlencode

from sandbox.confluence import pages as ops
from sandbox.confluence.model import (
    CURRENT,
    OPERATIONS,
    TRASHED,
    VIEW_SPACE,
    ConfluenceError,
    PageRecord,
    RestrictionSet,
)
from sandbox.confluence.render_v2 import label_json, listing, page_json, space_json
from sandbox.confluence.request import (
    Reply,
    Request,
    encode_cursor,
    int_arg,
    json_object,
    offset_of,
    storage_value,
)
from sandbox.confluence.state import ConfluenceState

PREFIX = "/wiki/api/v2"
T = TypeVar("T")


def _body_format(req: Request) -> str | None:
    wanted = req.arg("body-format")
    if wanted in (None, "", "none"):
        return None
    if wanted != "storage":
        raise ConfluenceError(
            400, f"body-format '{wanted}' is not supported by the fake (storage or none)"
        )
    return wanted


def _paged(req: Request, path: str, items: list[T]) -> tuple[list[T], Reply]:
    """One page of ``items`` and a Reply carrying the ``Link`` header (if more follow); the
    caller fills ``reply.body`` with ``listing(..., _next(reply))``."""
    start = offset_of(req, cursor_only=True)
    limit = int_arg(req, "limit", 25, maximum=250) or 25
    reply = Reply(200)
    if start + limit < len(items):
        params = {k: v[0] for k, v in req.query.items() if k != "cursor"}
        params["cursor"] = encode_cursor(start + limit)
        next_link = f"{PREFIX}/{path}?" + urlencode(params, safe=",")
        reply.headers["Link"] = f'<{next_link}>; rel="next", <{req.view.base}>; rel="base"'
    return items[start : start + limit], reply


def _next(reply: Reply) -> str | None:
    link = reply.headers.get("Link")
    return link[1 : link.index(">")] if link else None


def list_spaces(st: ConfluenceState, req: Request, m: re.Match[str]) -> Reply:
    keys = {k.lower() for k in req.args("keys")}
    ids = set(req.args("ids"))
    found = [
        s
        for s in st.spaces.values()
        if s.allows(req.caller, VIEW_SPACE)
        and (not keys or s.key.lower() in keys)
        and (not ids or str(s.id) in ids)
    ]
    window, reply = _paged(req, "spaces", found)
    reply.body = listing(req.view, [space_json(req.view, s) for s in window], _next(reply))
    return reply


def get_space(st: ConfluenceState, req: Request, m: re.Match[str]) -> Reply:
    space = st.space_by_id(int(m["id"]))
    if space is None or not space.allows(req.caller, VIEW_SPACE):
        raise ConfluenceError(404, "Not Found")
    out = space_json(req.view, space)
    out["_links"]["base"] = req.view.base
    return Reply(200, out)


def _space_id(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise ConfluenceError(
        400,
        f"Provided value {{{value}}} for 'spaceId' is not the correct type. Expected type is long",
    )


def create_page(st: ConfluenceState, req: Request, m: re.Match[str]) -> Reply:
    data = json_object(req)
    if "spaceId" not in data:
        raise ConfluenceError(400, "spaceId is required")
    space = st.space_by_id(_space_id(data["spaceId"]))
    if space is None or not space.allows(req.caller, VIEW_SPACE):
        raise ConfluenceError(404, "Not Found")
    status = data.get("status", CURRENT)
    if status != CURRENT:
        raise ConfluenceError(400, f"The fake only creates current pages, not '{status}' ones")
    root_level = req.arg("root-level") == "true"
    parent = data.get("parentId")
    if root_level and parent is not None:
        raise ConfluenceError(400, "parentId cannot be supplied together with root-level=true")
    body = storage_value(data.get("body"), v2=True) or ""
    page = ops.create_page(
        st, req.caller, space.key, data.get("title"), body, str(parent) if parent else None
    )
    if root_level:
        page.parent_id = None
    if req.arg("private") == "true":
        page.restrictions = {op: RestrictionSet([req.caller], []) for op in OPERATIONS}
    return Reply(200, page_json(req.view, page, "storage", single=True))


def list_pages(st: ConfluenceState, req: Request, m: re.Match[str]) -> Reply:
    wanted_status = tuple(req.args("status")) or (CURRENT,)
    space_ids = set(req.args("space-id"))
    if m.groupdict().get("space"):
        space_ids = {m["space"]}
    ids = set(req.args("id"))
    title = req.arg("title")
    body_format = _body_format(req)
    found = [
        p
        for p in st.visible_pages(req.caller, wanted_status)
        if (not space_ids or str(st.spaces[p.space_key].id) in space_ids)
        and (not ids or p.id in ids)
        and (title is None or p.title.strip().lower() == title.strip().lower())
    ]
    sort = req.arg("sort") or "id"
    key = sort.lstrip("-")
    if key == "title":
        found.sort(key=lambda p: p.title.lower(), reverse=sort.startswith("-"))
    elif key in ("id", "created-date"):
        found.sort(key=lambda p: int(p.id), reverse=sort.startswith("-"))
    elif key == "modified-date":
        found.sort(key=lambda p: p.version.when, reverse=sort.startswith("-"))
    window, reply = _paged(req, req.path.lstrip("/"), found)
    results = [page_json(req.view, p, body_format, single=False) for p in window]
    reply.body = listing(req.view, results, _next(reply))
    return reply


def get_page(st: ConfluenceState, req: Request, m: re.Match[str]) -> Reply:
    page = st.visible_page(m["id"], req.caller, tuple(req.args("status")) or (CURRENT, TRASHED))
    return Reply(200, page_json(req.view, page, _body_format(req), single=True))


def update_page(st: ConfluenceState, req: Request, m: re.Match[str]) -> Reply:
    page = st.visible_page(m["id"], req.caller)
    data = json_object(req)
    for name in ("id", "status", "title", "body", "version"):
        if name not in data or data[name] is None:
            raise ConfluenceError(400, f"{name} is required")
    if str(data["id"]) != page.id:
        raise ConfluenceError(
            400, f"The id in the body ({data['id']}) is not the page's ({page.id})"
        )
    if data["status"] != CURRENT:
        raise ConfluenceError(400, f"The fake only updates current pages, not '{data['status']}'")
    version = data["version"]
    if not isinstance(version, dict):
        raise ConfluenceError(400, "version must be an object with a number")
    if "spaceId" in data and str(data["spaceId"]) != str(st.spaces[page.space_key].id):
        raise ConfluenceError(400, "The fake cannot move pages between spaces")
    parent = data.get("parentId")
    ops.update_page(
        st,
        req.caller,
        page,
        title=data["title"],
        body=storage_value(data["body"], v2=True),
        number=version.get("number"),
        message=str(version.get("message") or ""),
        minor_edit=bool(version.get("minorEdit")),
        parent_id=str(parent) if parent else None,
    )
    return Reply(200, page_json(req.view, page, "storage", single=True))


def delete_page(st: ConfluenceState, req: Request, m: re.Match[str]) -> Reply:
    if req.arg("purge") == "true":
        page = st.visible_page(m["id"], req.caller, (TRASHED,))
        ops.purge_page(st, req.caller, page)
    else:
        page = st.visible_page(m["id"], req.caller)
        ops.trash_page(st, req.caller, page)
    return Reply(204)


def page_labels(st: ConfluenceState, req: Request, m: re.Match[str]) -> Reply:
    page: PageRecord = st.visible_page(m["id"], req.caller)
    prefix = req.arg("prefix")
    labels = [x for x in label_json(page) if prefix is None or x["prefix"] == prefix]
    window, reply = _paged(req, req.path.lstrip("/"), labels)
    reply.body = listing(req.view, window, _next(reply))
    return reply

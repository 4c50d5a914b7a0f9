"""REST v1 handlers for spaces, pages, history and labels (``/wiki/rest/api/...``).

Handlers run with ``ConfluenceState.lock`` held and answer a ``Reply`` or raise
``ConfluenceError``. Defaults follow Atlassian's v1 docs: ``GET /content/{id}`` without
``expand`` expands ``space,history,version``; create and update answer 200 (not 201) with
``body.storage,history,space,version,ancestors`` expanded (Confluence's default update
expansions); ``DELETE`` answers 204. ``POST /content`` accepts only ``type: page``.
"""

from __future__ import annotations

import re
from typing import Any

from sandbox.confluence import pages as ops
from sandbox.confluence.model import CURRENT, TRASHED, ConfluenceError, PageRecord
from sandbox.confluence.render_meta import labels_json
from sandbox.confluence.render_v1 import content_json, parse_expand, space_json
from sandbox.confluence.request import (
    Reply,
    Request,
    int_arg,
    json_object,
    storage_value,
    text_field,
)
from sandbox.confluence.state import ConfluenceState

DEFAULT_GET_EXPAND = "space,history,version"
WRITE_EXPAND = "body.storage,history,space,version,ancestors"


def statuses(req: Request) -> tuple[str, ...]:
    wanted = req.arg("status") or CURRENT
    if wanted == "any":
        return (CURRENT, TRASHED)
    return tuple(s.strip() for s in wanted.split(","))


def get_space(st: ConfluenceState, req: Request, m: re.Match[str]) -> Reply:
    space = st.space(m["key"], req.caller)
    return Reply(200, space_json(req.view, space, parse_expand(req.arg("expand"))))


def get_content(st: ConfluenceState, req: Request, m: re.Match[str]) -> Reply:
    page = st.visible_page(m["id"], req.caller, statuses(req))
    expand = req.arg("expand")
    wanted = parse_expand(DEFAULT_GET_EXPAND if expand is None else expand)
    return Reply(200, content_json(req.view, page, wanted))


def _parent_of(data: dict[str, Any]) -> str | None:
    ancestors = data.get("ancestors")
    if ancestors is None:
        return None
    if not isinstance(ancestors, list) or not all(isinstance(a, dict) for a in ancestors):
        raise ConfluenceError(400, "ancestors must be a list of objects with an 'id'")
    if not ancestors:
        return None
    parent = ancestors[-1].get("id")
    if not isinstance(parent, str | int) or isinstance(parent, bool):
        raise ConfluenceError(400, "ancestors must be a list of objects with an 'id'")
    return str(parent)


def _check_type(data: dict[str, Any], *, update: bool) -> None:
    kind = data.get("type")
    if kind is None:
        raise ConfluenceError(
            400,
            "Type is required and must match existing entity type of page, but received null"
            if update
            else "type is required to create content",
        )
    if kind != "page":
        raise ConfluenceError(
            400,
            f"Type is required and must match existing entity type of page, but received {kind}"
            if update
            else f"The fake only creates pages, not content of type '{kind}'",
        )


def create_content(st: ConfluenceState, req: Request, m: re.Match[str]) -> Reply:
    data = json_object(req)
    _check_type(data, update=False)
    space = data.get("space")
    key = space.get("key") if isinstance(space, dict) else None
    if not isinstance(key, str) or not key:
        raise ConfluenceError(400, "Space key is required to create content (space.key)")
    status = data.get("status", CURRENT)
    if status != CURRENT:
        raise ConfluenceError(400, f"The fake only creates current pages, not '{status}' ones")
    body = storage_value(data.get("body"), v2=False)
    version = data.get("version")
    message = text_field(version, "message") if isinstance(version, dict) else None
    page = ops.create_page(
        st, req.caller, key, data.get("title"), body or "", _parent_of(data), message=message or ""
    )
    properties = (data.get("metadata") or {}).get("properties")
    if isinstance(properties, dict):
        page.properties.update(properties)
    return Reply(200, content_json(req.view, page, parse_expand(WRITE_EXPAND)))


def update_content(st: ConfluenceState, req: Request, m: re.Match[str]) -> Reply:
    page = st.visible_page(m["id"], req.caller)
    data = json_object(req)
    version = data.get("version")
    number = version.get("number") if isinstance(version, dict) else None
    ops.check_version(page, number)
    _check_type(data, update=True)
    status = data.get("status", req.arg("status") or CURRENT)
    if status != CURRENT:
        raise ConfluenceError(400, f"The fake only updates current pages, not '{status}' ones")
    message = text_field(version, "message") if isinstance(version, dict) else None
    minor = bool(version.get("minorEdit")) if isinstance(version, dict) else False
    ops.update_page(
        st,
        req.caller,
        page,
        title=data.get("title"),
        body=storage_value(data.get("body"), v2=False),
        number=number,
        message=message or "",
        minor_edit=minor,
        parent_id=_parent_of(data),
    )
    properties = (data.get("metadata") or {}).get("properties")
    if isinstance(properties, dict):
        page.properties.update(properties)
    return Reply(200, content_json(req.view, page, parse_expand(WRITE_EXPAND)))


def delete_content(st: ConfluenceState, req: Request, m: re.Match[str]) -> Reply:
    """``DELETE`` trashes a current page; with ``?status=trashed`` it purges a trashed one."""
    if req.arg("status") == TRASHED:
        page = st.visible_page(m["id"], req.caller, (TRASHED,))
        ops.purge_page(st, req.caller, page)
        return Reply(204)
    page = st.visible_page(m["id"], req.caller)
    ops.trash_page(st, req.caller, page)
    return Reply(204)


def get_history(st: ConfluenceState, req: Request, m: re.Match[str]) -> Reply:
    page = st.visible_page(m["id"], req.caller)
    expand = parse_expand("history.lastUpdated")
    return Reply(200, content_json(req.view, page, expand)["history"])


def _label_page(st: ConfluenceState, req: Request, m: re.Match[str]) -> PageRecord:
    return st.visible_page(m["id"], req.caller)


def get_labels(st: ConfluenceState, req: Request, m: re.Match[str]) -> Reply:
    page = _label_page(st, req, m)
    start = int_arg(req, "start", 0)
    limit = int_arg(req, "limit", 200, maximum=200)
    return Reply(200, labels_json(req.view, page, req.arg("prefix"), start, limit))


def add_labels(st: ConfluenceState, req: Request, m: re.Match[str]) -> Reply:
    page = _label_page(st, req, m)
    items = req.body if isinstance(req.body, list) else [req.body]
    ops.add_labels(st, req.caller, page, items)
    return Reply(200, labels_json(req.view, page, None, 0, 200))


def delete_label(st: ConfluenceState, req: Request, m: re.Match[str]) -> Reply:
    """``DELETE /content/{id}/label/{label}`` or ``DELETE /content/{id}/label?name=``."""
    page = _label_page(st, req, m)
    name = m.groupdict().get("label") or req.arg("name")
    if not name:
        raise ConfluenceError(400, "The label name is required (path or ?name=)")
    ops.remove_label(st, req.caller, page, name)
    return Reply(204)

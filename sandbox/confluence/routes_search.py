"""REST v1 listing and search: ``GET /content`` (by space / title), ``GET /content/search``
and ``GET /search`` (CQL, see ``cql``).

Paging as on Cloud: ``/content`` pages with ``start``/``limit``; ``/content/search`` with an
opaque ``cursor`` (``start`` is honoured too); ``/search`` with ``start``/``limit`` plus
``totalSize``. When more results exist, ``_links.next`` holds a path relative to the site
(``/rest/api/...?...``), as in the fixtures. Defaults: limit 25; caps 200 (``/content``), 100
(``/content/search``) and 100 (``/search``). Only pages the caller may read are listed; trashed
pages only with ``/content?status=trashed|any``.
"""

from __future__ import annotations

import re
import time
from urllib.parse import urlencode

from sandbox.confluence import cql
from sandbox.confluence.model import CURRENT, ConfluenceError, PageRecord
from sandbox.confluence.render_meta import cql_self, search_result_json
from sandbox.confluence.render_v1 import API, collection, content_json, parse_expand
from sandbox.confluence.request import Reply, Request, encode_cursor, int_arg, offset_of
from sandbox.confluence.routes_content import statuses
from sandbox.confluence.state import ConfluenceState


def _query_link(path: str, params: dict[str, str | int]) -> str:
    return f"{API}/{path}?" + urlencode(params, safe=",")


def list_content(st: ConfluenceState, req: Request, m: re.Match[str]) -> Reply:
    kind = req.arg("type") or "page"
    space_key = req.arg("spaceKey")
    title = req.arg("title")
    start = int_arg(req, "start", 0)
    limit = int_arg(req, "limit", 25, maximum=200)
    found: list[PageRecord] = []
    if kind == "page":
        found = st.visible_pages(req.caller, statuses(req))
    if space_key is not None:
        found = [p for p in found if p.space_key.lower() == space_key.lower()]
    if title is not None:
        found = [p for p in found if p.title.strip().lower() == title.strip().lower()]
    expand = parse_expand(req.arg("expand"))
    window = found[start : start + limit]
    params: dict[str, str | int] = {k: v[0] for k, v in req.query.items() if k not in ("start",)}
    out = collection(
        req.view,
        [content_json(req.view, p, expand) for p in window],
        start,
        limit,
        _query_link("content", params) if params else f"{API}/content",
    )
    if start + limit < len(found):
        out["_links"]["next"] = _query_link("content", {**params, "start": start + limit})
    return Reply(200, out)


def _cql_matches(st: ConfluenceState, req: Request) -> tuple[str, list[PageRecord]]:
    text = req.arg("cql")
    if text is None:
        raise ConfluenceError(400, "CQL query parameter is required")
    query = cql.parse(text)
    pages = st.visible_pages(req.caller, (CURRENT,))
    return text, cql.run(query, pages, cql.Context(st.ancestors))


def content_search(st: ConfluenceState, req: Request, m: re.Match[str]) -> Reply:
    text, found = _cql_matches(st, req)
    start = offset_of(req)
    limit = int_arg(req, "limit", 25, maximum=100)
    expand = parse_expand(req.arg("expand"))
    window = found[start : start + limit]
    out = collection(
        req.view, [content_json(req.view, p, expand) for p in window], start, limit, ""
    )
    out["_links"]["self"] = cql_self(req.view, "content/search", text)
    extra: dict[str, str | int] = {"expand": req.arg("expand") or ""} if req.arg("expand") else {}
    if start + limit < len(found):
        params = {"cql": text, **extra, "limit": limit, "cursor": encode_cursor(start + limit)}
        out["_links"]["next"] = _query_link("content/search", params)
    if start > 0:
        params = {
            "cql": text,
            **extra,
            "limit": limit,
            "cursor": encode_cursor(max(start - limit, 0)),
        }
        out["_links"]["prev"] = _query_link("content/search", params)
    return Reply(200, out)


def search(st: ConfluenceState, req: Request, m: re.Match[str]) -> Reply:
    began = time.monotonic()
    text, found = _cql_matches(st, req)
    start = offset_of(req)
    limit = int_arg(req, "limit", 25, maximum=100)
    # /search expands fields of the result's content: expand=content.version,content.space
    items = (req.arg("expand") or "").split(",")
    expand = parse_expand(",".join(i[len("content.") :] for i in items if i.startswith("content.")))
    window = found[start : start + limit]
    out = collection(
        req.view, [search_result_json(req.view, p, expand) for p in window], start, limit, ""
    )
    links = out.pop("_links")
    links["self"] = cql_self(req.view, "search", text)
    out["totalSize"] = len(found)
    out["cqlQuery"] = text
    out["searchDuration"] = int((time.monotonic() - began) * 1000)
    if start + limit < len(found):
        params: dict[str, str | int] = {
            "next": "true",
            "cursor": encode_cursor(start + limit),
            "limit": limit,
            "start": start + limit,
            "cql": text,
        }
        if req.arg("expand"):
            params["expand"] = req.arg("expand") or ""
        links["next"] = _query_link("search", params)
    out["_links"] = links
    return Reply(200, out)

"""REST v1 JSON for what hangs off a page: labels, restrictions and search results (fixtures
``v1/content.id.label.*``, ``v1/content.id.restriction*``, ``v1/search.GET.200.json``).

``GET .../restriction/byOperation`` follows the fixture (and Atlassian's schema) literally:
``{"read": {"operationType": {...}, "_links": {...}}, "update": {...}}``. The fixtures' README
warns this may be a generator artifact; code should prefer ``/restriction``.
"""

from __future__ import annotations

import hashlib
import re
from html import unescape
from urllib.parse import quote

from sandbox.confluence.model import OPERATIONS, JsonDict, PageRecord, friendly_date, iso
from sandbox.confluence.render_v1 import API, View, collection, content_json, user_json, webui

TAG = re.compile(r"<[^>]+>")
CDATA = re.compile(r"<!\[CDATA\[(.*?)\]\]>", re.DOTALL)


def labels_json(
    view: View, page: PageRecord, prefix: str | None, start: int, limit: int
) -> JsonDict:
    labels = [x for x in page.labels if prefix is None or x.prefix == prefix]
    results = [
        {"prefix": x.prefix, "name": x.name, "id": x.id, "label": x.name}
        for x in labels[start : start + limit]
    ]
    return collection(view, results, start, limit, f"{API}/content/{page.id}/label")


def group_json(view: View, group_id: str) -> JsonDict:
    group = view.st.groups.get(group_id)
    name = group.name if group else group_id
    if not view.cloud:
        return {"type": "group", "name": name, "_links": {"self": f"{view.base}{API}/group/{name}"}}
    return {
        "type": "group",
        "name": name,
        "id": group_id,
        "_links": {"self": f"{view.base}{API}/group/by-id?id={group_id}"},
    }


def subjects(results: list[JsonDict]) -> JsonDict:
    return {"results": results, "start": 0, "limit": 200, "size": len(results)}


def restriction_json(view: View, page: PageRecord, operation: str) -> JsonDict:
    rule = page.restrictions[operation]
    return {
        "operation": operation,
        "restrictions": {
            "user": subjects([user_json(view, u) for u in rule.users]),
            "group": subjects([group_json(view, g) for g in rule.groups]),
        },
        "_expandable": {"content": f"{API}/content/{page.id}"},
        "_links": {
            "self": f"{view.base}{API}/content/{page.id}/restriction/byOperation/{operation}"
        },
    }


def restrictions_hash(page: PageRecord) -> str:
    text = ";".join(
        f"{op}:{','.join(page.restrictions[op].users)}|{','.join(page.restrictions[op].groups)}"
        for op in OPERATIONS
    )
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def restrictions_json(view: View, page: PageRecord) -> JsonDict:
    out = collection(
        view,
        [restriction_json(view, page, op) for op in OPERATIONS],
        0,
        100,
        f"{API}/content/{page.id}/restriction",
    )
    links = out.pop("_links")
    out["restrictionsHash"] = restrictions_hash(page)
    out["_links"] = links
    return out


def by_operation_json(view: View, page: PageRecord) -> JsonDict:
    out: JsonDict = {}
    for op in OPERATIONS:
        link = f"{view.base}{API}/content/{page.id}/restriction/byOperation/{op}"
        out[op] = {"operationType": restriction_json(view, page, op), "_links": {"self": link}}
    return out


def excerpt(body: str, length: int = 200) -> str:
    """Plain text of a storage body, as search results show it."""
    text = CDATA.sub(lambda m: m.group(1), body)
    text = unescape(TAG.sub(" ", text))
    text = " ".join(text.split())
    return text if len(text) <= length else text[: length - 1].rstrip() + "…"


def search_result_json(view: View, page: PageRecord, expand: set[str]) -> JsonDict:
    space = view.st.spaces[page.space_key]
    when = page.version.when
    return {
        "content": content_json(view, page, expand),
        "title": page.title,
        "excerpt": excerpt(page.body),
        "url": webui(view, page),
        "resultGlobalContainer": {"title": space.name, "displayUrl": f"/spaces/{space.key}"},
        "breadcrumbs": [],
        "entityType": "content",
        "iconCssClass": "aui-icon content-type-page",
        "lastModified": iso(when),
        "friendlyLastModified": friendly_date(when),
        "score": 1.0,
    }


def cql_self(view: View, path: str, cql: str) -> str:
    return f"{view.base}{API}/{path}?cql={quote(cql, safe='')}"

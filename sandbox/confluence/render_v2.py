"""REST v2 JSON (``/wiki/api/v2``) for pages, spaces and labels, in the shapes of the fixtures
``v2/*.json`` (Atlassian's v2 schema: ``PageSingle`` / ``MultiEntityResult``).

Single objects carry ``_links.base``; list items do not (the list's own ``_links`` does).
Without ``body-format`` a page's ``body`` is ``{}``, as on Cloud.
"""

from __future__ import annotations

from sandbox.confluence.model import JsonDict, PageRecord, Space, iso
from sandbox.confluence.render_v1 import View, webui
from sandbox.confluence.state import tiny_id

BODY_FORMATS = ("storage", "atlas_doc_format", "view", "export_view", "styled_view", "editor")


def page_json(view: View, page: PageRecord, body_format: str | None, *, single: bool) -> JsonDict:
    version = page.version
    out: JsonDict = {
        "id": page.id,
        "status": page.status,
        "title": page.title,
        "spaceId": str(view.st.spaces[page.space_key].id),
        "parentId": page.parent_id,
        "parentType": "page" if page.parent_id else None,
        "position": page.position,
        "authorId": page.created_by,
        "ownerId": page.created_by,
        "lastOwnerId": None,
        "createdAt": iso(page.created),
        "version": {
            "createdAt": iso(version.when),
            "message": version.message,
            "number": version.number,
            "minorEdit": version.minor_edit,
            "authorId": version.by,
        },
        "body": {},
    }
    if body_format == "storage":
        out["body"] = {"storage": {"representation": "storage", "value": page.body}}
    links: JsonDict = {
        "webui": webui(view, page),
        "editui": f"/pages/resumedraft.action?draftId={page.id}",
        "tinyui": f"/x/{tiny_id(page.id)}",
    }
    if single:
        links["base"] = view.base
    out["_links"] = links
    return out


def space_json(view: View, space: Space) -> JsonDict:
    return {
        "id": str(space.id),
        "key": space.key,
        "name": space.name,
        "type": "global",
        "status": "current",
        "authorId": space.author_id,
        "createdAt": iso(space.created),
        "homepageId": space.homepage_id,
        "_links": {"webui": f"/spaces/{space.key}"},
    }


def label_json(page: PageRecord) -> list[JsonDict]:
    return [{"id": x.id, "name": x.name, "prefix": x.prefix} for x in page.labels]


def listing(view: View, results: list[JsonDict], next_link: str | None) -> JsonDict:
    links: JsonDict = {"base": view.base}
    if next_link is not None:
        links["next"] = next_link
    return {"results": results, "_links": links}

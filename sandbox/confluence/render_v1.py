"""REST v1 JSON for content, spaces, users, versions and history, in the shapes of the fixtures
(``v1/*.json``: Atlassian's v1 schema, same keys and types).

``expand`` is honoured for ``body`` / ``body.storage``, ``version``, ``space`` / ``container``,
``history`` / ``history.lastUpdated``, ``ancestors``, ``metadata`` / ``metadata.labels`` and
``children`` / ``children.page``; whatever is not expanded is listed in ``_expandable``, as
Confluence does. Links are built from the base URL the request came in on (``.../wiki`` on
Cloud paths, the bare site for ``/rest/api/...`` paths).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, quote_plus

from sandbox.confluence.model import JsonDict, PageRecord, Space, Version, iso
from sandbox.confluence.state import ConfluenceState, tiny_id

BODY_EXPANDABLE = (
    "editor",
    "atlas_doc_format",
    "view",
    "export_view",
    "styled_view",
    "dynamic",
    "editor2",
    "anonymous_export_view",
)
API = "/rest/api"


@dataclass(frozen=True)
class View:
    """Where links point: ``base`` is the site URL (``http://127.0.0.1:port/wiki`` for Cloud
    paths), ``context`` its path part (``/wiki`` or empty)."""

    st: ConfluenceState
    base: str
    context: str
    account_id: str  # the caller: lists only show what it may read

    @property
    def cloud(self) -> bool:
        return self.st.cfg.cloud


def parse_expand(value: str | None) -> set[str]:
    """``a.b,c`` -> {"a", "a.b", "c"}: asking for a nested field expands its parents too."""
    wanted: set[str] = set()
    for item in (value or "").split(","):
        parts = [p for p in item.strip().split(".") if p]
        for end in range(1, len(parts) + 1):
            wanted.add(".".join(parts[:end]))
    return wanted


def user_json(view: View, account_id: str) -> JsonDict:
    st = view.st
    account = st.accounts.get(account_id)
    name = account.display_name if account else account_id
    if not view.cloud:
        username = account.username if account else account_id
        return {
            "type": "known",
            "username": username,
            "userKey": account_id,
            "profilePicture": {
                "path": f"{view.context}/images/icons/profilepics/default.svg",
                "width": 48,
                "height": 48,
                "isDefault": True,
            },
            "displayName": name,
            "_links": {"self": f"{view.base}{API}/user?key={quote(account_id)}"},
            "_expandable": {"status": ""},
        }
    return {
        "type": "known",
        "accountId": account_id,
        "accountType": "atlassian",
        "email": "",
        "publicName": name,
        "displayName": name,
        "profilePicture": {
            "path": f"{view.context}/aa-avatar/{account_id}",
            "width": 48,
            "height": 48,
            "isDefault": False,
        },
        "isExternalCollaborator": False,
        "_expandable": {"operations": "", "personalSpace": ""},
        "_links": {"self": f"{view.base}{API}/user?accountId={account_id}"},
    }


def version_json(view: View, page: PageRecord, version: Version) -> JsonDict:
    return {
        "by": user_json(view, version.by),
        "when": iso(version.when),
        "friendlyWhen": "just a moment ago",
        "message": version.message,
        "number": version.number,
        "minorEdit": version.minor_edit,
        "contentTypeModified": False,
        "_expandable": {"collaborators": "", "content": f"{API}/content/{page.id}"},
        "_links": {"self": f"{view.base}{API}/content/{page.id}/version/{version.number}"},
    }


def history_json(view: View, page: PageRecord, *, last_updated: bool) -> JsonDict:
    history: JsonDict = {
        "latest": True,
        "createdBy": user_json(view, page.created_by),
        "createdDate": iso(page.created),
    }
    expandable = {"lastUpdated": "", "previousVersion": "", "contributors": "", "nextVersion": ""}
    if last_updated:
        history["lastUpdated"] = version_json(view, page, page.version)
        del expandable["lastUpdated"]
    history["_expandable"] = expandable
    history["_links"] = {"self": f"{view.base}{API}/content/{page.id}/history"}
    return history


def body_json(page: PageRecord, storage: bool) -> JsonDict:
    body: JsonDict = {}
    expandable = dict.fromkeys(BODY_EXPANDABLE, "")
    if storage:
        body["storage"] = {
            "value": page.body,
            "representation": "storage",
            "embeddedContent": [],
            "_expandable": {"content": f"{API}/content/{page.id}"},
        }
    else:
        expandable = {"storage": "", **expandable}
    body["_expandable"] = expandable
    return body


def webui(view: View, page: PageRecord) -> str:
    if view.cloud:
        return f"/spaces/{page.space_key}/pages/{page.id}/{quote_plus(page.title)}"
    return f"/pages/viewpage.action?pageId={page.id}"


def content_links(view: View, page: PageRecord) -> JsonDict:
    return {
        "webui": webui(view, page),
        "edit": f"/pages/resumedraft.action?draftId={page.id}",
        "tinyui": f"/x/{tiny_id(page.id)}",
        "self": f"{view.base}{API}/content/{page.id}",
    }


def labels_page(view: View, page: PageRecord, prefix: str | None = None) -> JsonDict:
    labels = [x for x in page.labels if prefix is None or x.prefix == prefix]
    return {
        "results": [
            {"prefix": x.prefix, "name": x.name, "id": x.id, "label": x.name} for x in labels
        ],
        "start": 0,
        "limit": 200,
        "size": len(labels),
        "_links": {"self": f"{view.base}{API}/content/{page.id}/label"},
    }


def content_json(
    view: View, page: PageRecord, expand: set[str] | frozenset[str] = frozenset()
) -> JsonDict:
    """One page as v1 ``Content`` with the requested expansions."""
    st = view.st
    out: JsonDict = {"id": page.id, "type": "page", "status": page.status, "title": page.title}
    space = st.spaces[page.space_key]
    expandable: JsonDict = {
        "childTypes": "",
        "container": f"{API}/space/{page.space_key}",
        "metadata": "",
        "operations": "",
        "children": f"{API}/content/{page.id}/child",
        "restrictions": f"{API}/content/{page.id}/restriction/byOperation",
        "ancestors": "",
        "descendants": f"{API}/content/{page.id}/descendant",
        "space": f"{API}/space/{page.space_key}",
        "history": f"{API}/content/{page.id}/history",
        "body": "",
        "version": "",
    }
    if "space" in expand or "container" in expand:
        out["space"] = space_json(view, space)
        expandable.pop("space")
        if "container" in expand:
            out["container"] = space_json(view, space)
            expandable.pop("container")
    if "history" in expand:
        out["history"] = history_json(view, page, last_updated="history.lastUpdated" in expand)
        expandable.pop("history")
    if "version" in expand:
        out["version"] = version_json(view, page, page.version)
        expandable.pop("version")
    if "body" in expand:
        out["body"] = body_json(page, storage="body.storage" in expand)
        expandable.pop("body")
    if "ancestors" in expand:
        out["ancestors"] = [content_json(view, p) for p in st.ancestors(page)]
        expandable.pop("ancestors")
    if "metadata" in expand:
        metadata: JsonDict = {}
        meta_expandable = dict.fromkeys(
            ("currentuser", "comments", "simple", "properties", "frontend", "likes", "labels"), ""
        )
        if "metadata.labels" in expand:
            metadata["labels"] = labels_page(view, page)
            meta_expandable.pop("labels")
        metadata["_expandable"] = meta_expandable
        out["metadata"] = metadata
        expandable.pop("metadata")
    if "children" in expand:
        children: JsonDict = {"_expandable": {"attachment": "", "comment": "", "page": ""}}
        if "children.page" in expand:
            kids = [
                content_json(view, p)
                for p in st.children(page.id)
                if st.can_read(view.account_id, p)
            ]
            children["page"] = {
                "results": kids,
                "start": 0,
                "limit": 200,
                "size": len(kids),
                "_links": {"self": f"{view.base}{API}/content/{page.id}/child/page"},
            }
            children["_expandable"].pop("page")
        out["children"] = children
        expandable.pop("children")
    out["_expandable"] = expandable
    out["_links"] = content_links(view, page)
    return out


def space_json(
    view: View, space: Space, expand: set[str] | frozenset[str] = frozenset()
) -> JsonDict:
    key = space.key
    out: JsonDict = {
        "id": space.id,
        "key": key,
        "name": space.name,
        "type": "global",
        "status": "current",
    }
    expandable: JsonDict = {
        "settings": f"{API}/space/{key}/settings",
        "metadata": "",
        "operations": "",
        "lookAndFeel": f"{API}/settings/lookandfeel?spaceKey={key}",
        "identifiers": "",
        "permissions": "",
        "icon": "",
        "description": "",
        "theme": f"{API}/space/{key}/theme",
        "history": "",
        "homepage": f"{API}/content/{space.homepage_id}",
    }
    if "description" in expand:
        description: JsonDict = {"_expandable": {"view": "", "plain": ""}}
        if "description.plain" in expand:
            description["plain"] = {
                "value": space.description,
                "representation": "plain",
                "embeddedContent": [],
            }
            description["_expandable"].pop("plain")
        out["description"] = description
        expandable.pop("description")
    homepage = view.st.pages.get(space.homepage_id)
    if "homepage" in expand and homepage is not None:
        out["homepage"] = content_json(view, homepage, {"version"})
        links = out["homepage"]["_links"]
        out["homepage"]["_links"] = {
            "webui": f"/spaces/{key}/overview",
            "self": links["self"],
            "tinyui": links["tinyui"],
        }
        expandable.pop("homepage")
    out["_expandable"] = expandable
    out["_links"] = {"webui": f"/spaces/{key}", "self": f"{view.base}{API}/space/{key}"}
    return out


def collection(
    view: View, results: list[JsonDict], start: int, limit: int, self_path: str
) -> JsonDict:
    """The v1 envelope of a list (``ContentArray`` and friends)."""
    return {
        "results": results,
        "start": start,
        "limit": limit,
        "size": len(results),
        "_links": {"base": view.base, "context": view.context, "self": f"{view.base}{self_path}"},
    }

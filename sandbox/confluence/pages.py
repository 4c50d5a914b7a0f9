"""Page mutations shared by the v1 and v2 handlers and the ``FakeConfluence`` helpers: create,
update (optimistic locking on ``version.number``), trash / purge, labels.

Messages quoted from Confluence (recorded bodies or its decompiled ``ContentServiceImpl``):
the duplicate-title 400, "Must supply an incremented version when updating Content. No version
supplied." (400), "Version must be incremented on update. Current version is: N" (409),
"com.atlassian.confluence.api.service.exceptions.PermissionException: Could not create content
with type page" (403, recorded from Cloud). Composed where nothing public shows the text: blank
or over-long titles, a parent in another space, moves under a descendant, invalid labels,
removing a label the page does not have (404).

What the fake chose where Confluence's behaviour is not documented:

* A page created without a parent goes under the space's homepage (as v2 does unless
  ``root-level=true``), so every page but a homepage has a parent.
* Updating a page the caller can read but not edit: 404 on Cloud (what publishers report,
  sphinx-contrib/confluencebuilder#1111), 403 on Data Center (its ``ContentServiceImpl``).
* Checks run in this order: visibility (404), version (400/409), edit permission, title,
  parent, storage format (400), duplicate title (400).
* Trashing a page moves its children up to its parent, as Confluence's trash does.
"""

from __future__ import annotations

from typing import Any

from sandbox.confluence.model import (
    CURRENT,
    TRASHED,
    ConfluenceError,
    Label,
    PageRecord,
    Space,
    content_id_str,
    not_found,
)
from sandbox.confluence.state import ConfluenceState
from sandbox.confluence.storage import StorageError, validate_storage

LABEL_PREFIXES = ("global", "my", "team")
LABEL_FORBIDDEN = set(" \t\r\n:;,?&[]()#^*@!<>\"'|/\\")
MAX_TITLE = 255


def check_title(title: Any) -> str:
    if not isinstance(title, str) or not title.strip():
        raise ConfluenceError(400, "Title is required and cannot be empty")
    if len(title) > MAX_TITLE:
        raise ConfluenceError(400, f"Title cannot be longer than {MAX_TITLE} characters")
    return title


def check_storage(body: str) -> None:
    try:
        validate_storage(body)
    except StorageError as error:
        raise error.as_http() from None


def check_unique(st: ConfluenceState, space: Space, title: str, exclude: str | None) -> None:
    if st.title_owner(space.key, title, exclude) is not None:
        raise ConfluenceError(
            400,
            "A page with this title already exists: A page already exists with the title "
            f"{title} in the space with key {space.key}",
        )


def resolve_parent(st: ConfluenceState, caller: str, space: Space, parent_id: str | None) -> str:
    if parent_id is None:
        return space.homepage_id
    parent = st.visible_page(str(parent_id), caller)
    if parent.space_key != space.key:
        raise ConfluenceError(
            400, f"The parent page {parent.id} is not in the space with key {space.key}"
        )
    return parent.id


def create_page(
    st: ConfluenceState,
    caller: str,
    space_key: str,
    title: Any,
    body: str,
    parent_id: str | None,
    *,
    message: str = "",
) -> PageRecord:
    space = st.space(space_key, caller)
    if not st.can_add_page(caller, space):
        raise ConfluenceError(
            403,
            "com.atlassian.confluence.api.service.exceptions.PermissionException: "
            "Could not create content with type page",
            reason=False,
            read_only_flag=False,
            v2_title="Forbidden",
        )
    title = check_title(title)
    parent = resolve_parent(st, caller, space, parent_id)
    check_storage(body)
    check_unique(st, space, title, None)
    return st.new_page(space, title, body, parent, caller, message)


def check_version(page: PageRecord, number: Any) -> int:
    if number is None:
        raise ConfluenceError(
            400, "Must supply an incremented version when updating Content. No version supplied."
        )
    if not isinstance(number, int) or isinstance(number, bool):
        raise ConfluenceError(400, f"version.number must be a number, not {number!r}")
    if number != page.version.number + 1:
        raise ConfluenceError(
            409,
            f"Version must be incremented on update. Current version is: {page.version.number}",
            reason=False,
            read_only_flag=False,
        )
    return number


def check_can_edit(st: ConfluenceState, caller: str, page: PageRecord) -> None:
    if st.can_edit(caller, page):
        return
    if st.cfg.cloud:
        raise not_found(page.id)
    raise ConfluenceError(
        403,
        "com.atlassian.confluence.api.service.exceptions.PermissionException: Could not update "
        f"Content of type : class com.atlassian.confluence.pages.Page with id {page.id}",
        reason=False,
        read_only_flag=False,
        v2_title="Forbidden",
    )


def update_page(
    st: ConfluenceState,
    caller: str,
    page: PageRecord,
    *,
    title: Any,
    body: str | None,
    number: Any,
    message: str = "",
    minor_edit: bool = False,
    parent_id: str | None = None,
) -> PageRecord:
    """Store a new version; ``body`` None keeps the old body, ``parent_id`` None the parent."""
    check_version(page, number)
    check_can_edit(st, caller, page)
    title = check_title(title)
    space = st.spaces[page.space_key]
    new_parent = page.parent_id
    if parent_id is not None and parent_id != page.parent_id:
        new_parent = resolve_parent(st, caller, space, parent_id)
        if new_parent == page.id or page.id in [p.id for p in st.ancestors(st.pages[new_parent])]:
            raise ConfluenceError(
                400, "Cannot move a page to be a child of itself or of one of its descendants"
            )
    if body is not None:
        check_storage(body)
    check_unique(st, space, title, page.id)
    page.title = title
    if body is not None:
        page.body = body
    page.parent_id = new_parent
    st.add_version(page, caller, message, minor_edit)
    return page


def trash_page(st: ConfluenceState, caller: str, page: PageRecord) -> None:
    check_can_edit(st, caller, page)
    for child in st.children(page.id):
        child.parent_id = page.parent_id
    page.status = TRASHED


def purge_page(st: ConfluenceState, caller: str, page: PageRecord) -> None:
    if page.status != TRASHED:
        raise ConfluenceError(
            400, f"Content {content_id_str(page.id)} must be trashed before it can be purged"
        )
    del st.pages[page.id]


def read_label(item: Any) -> tuple[str, str]:
    if not isinstance(item, dict) or not isinstance(item.get("name"), str):
        raise ConfluenceError(400, "Each label must be an object with a 'name'")
    prefix = item.get("prefix") or "global"
    if prefix not in LABEL_PREFIXES:
        raise ConfluenceError(
            400, f"Invalid label prefix '{prefix}'; use one of {', '.join(LABEL_PREFIXES)}"
        )
    name = item["name"].strip().lower()
    if not name or len(name) > MAX_TITLE or LABEL_FORBIDDEN & set(name):
        raise ConfluenceError(400, f"Label '{item['name']}' contains invalid characters")
    return str(prefix), name


def add_labels(st: ConfluenceState, caller: str, page: PageRecord, items: list[Any]) -> None:
    """Add labels (Confluence lower-cases names); ones the page already has are kept once."""
    check_can_edit(st, caller, page)
    if not items:
        raise ConfluenceError(400, "At least one label is required")
    wanted = [read_label(item) for item in items]
    for prefix, name in wanted:
        if not any(x.prefix == prefix and x.name == name for x in page.labels):
            page.labels.append(st.label(prefix, name))


def remove_label(st: ConfluenceState, caller: str, page: PageRecord, name: str) -> Label:
    check_can_edit(st, caller, page)
    wanted = name.strip().lower()
    found = next((x for x in page.labels if x.name == wanted), None)
    if found is None:
        raise ConfluenceError(
            404,
            f"Label '{name}' is not on content {content_id_str(page.id)}",
            v2_title="Not Found",
        )
    page.labels.remove(found)
    return found


def require_current(page: PageRecord) -> None:
    if page.status != CURRENT:
        raise not_found(page.id)

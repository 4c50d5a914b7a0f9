"""Read-only snapshots of the fake's pages for tests: plain frozen dataclasses, detached from
the live state (so a test can keep one and compare it with a later one)."""

from __future__ import annotations

from dataclasses import dataclass

from sandbox.confluence.model import READ, UPDATE, JsonDict, PageRecord


@dataclass(frozen=True)
class Restrictions:
    """Account ids and group ids allowed to read / update (empty: not restricted)."""

    read_users: tuple[str, ...] = ()
    read_groups: tuple[str, ...] = ()
    update_users: tuple[str, ...] = ()
    update_groups: tuple[str, ...] = ()

    @property
    def read_restricted(self) -> bool:
        return bool(self.read_users or self.read_groups)

    @property
    def update_restricted(self) -> bool:
        return bool(self.update_users or self.update_groups)


@dataclass(frozen=True)
class Page:
    """A page as stored: ``body`` is the storage XML, ``version`` the current version number,
    ``labels`` the label names (global, my and team alike), ``parent_id`` None only for a
    space homepage or a root-level page."""

    id: str
    space_key: str
    title: str
    body: str
    version: int
    labels: tuple[str, ...]
    parent_id: str | None
    restrictions: Restrictions
    status: str
    created_by: str
    last_updated_by: str
    version_message: str
    properties: JsonDict


def snapshot(page: PageRecord) -> Page:
    read, update = page.restrictions[READ], page.restrictions[UPDATE]
    return Page(
        id=page.id,
        space_key=page.space_key,
        title=page.title,
        body=page.body,
        version=page.version.number,
        labels=tuple(label.name for label in page.labels),
        parent_id=page.parent_id,
        restrictions=Restrictions(
            tuple(read.users), tuple(read.groups), tuple(update.users), tuple(update.groups)
        ),
        status=page.status,
        created_by=page.created_by,
        last_updated_by=page.version.by,
        version_message=page.version.message,
        properties=dict(page.properties),
    )

"""One page per incident, current, and never readable by more people than it should be.

1. **Find before creating.** The page id stored on the postmortem; else a page of the space
   carrying the incident's marker label (the bot labels every page it writes); else a page
   with the exact title that the bot's own account created (an earlier attempt whose answer
   was lost before it could label it). Only then is a page created, so however often
   generation runs, retries or crashes, an incident has one page.
2. **Update on Confluence's version numbers.** The page is read back (storage body, version
   N) and the new rendering spliced into it (`bot.confluence.page`); it is saved as N+1. A 409
   means someone saved meanwhile: the page is read again and the splice redone on their
   version (a few times), never written over blindly. An unchanged body is not saved again.
3. **Labels**: `postmortem`, `incident`, `inc-42`, the severity (`sev2`; an older `sevN` is
   removed) and the marker.
4. **Private incidents**: the page is created private (Cloud: v2 `?private=true`, readable
   by the bot alone from its first moment; Data Center: under CONFLUENCE_PRIVATE_PARENT_PAGE_ID,
   a page whose view restrictions already keep it private), then restricted to the readers
   (the channel's members found in Confluence, CONFLUENCE_PRIVATE_GROUP, the bot). Where that
   cannot be done, `PrivateRefused` says why before anything is created.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.confluence.gateway import Account, ConfluenceFailure, ConfluenceGateway, Page
from bot.core.errors import UserError

log = logging.getLogger("postmortem_bot.confluence")
CONFLICT_RETRIES = 4
SEVERITY_LABEL = re.compile(r"sev\d")


class PrivateRefused(UserError):
    """A private incident's page cannot be kept private here; the message says why."""


@dataclass(frozen=True)
class Readers:
    """Who may read a private incident's page (the bot is always added)."""

    users: tuple[Account, ...] = ()
    groups: tuple[str, ...] = ()
    unmatched: tuple[str, ...] = ()  # channel members without a Confluence account found


@dataclass(frozen=True)
class PageSpec:
    title: str
    labels: tuple[str, ...]  # the marker first
    private: bool
    create: Callable[[], str]  # the whole body, for a new page
    refresh: Callable[[str], tuple[str, list[str]]]  # current body → new body, notes
    readers: Callable[[], Readers] | None = None  # private incidents only


@dataclass
class PageResult:
    page: Page
    created: bool = False
    adopted: bool = False  # found by label or title, not by the stored id
    saved: bool = False  # a new version was written
    conflicts: int = 0
    notes: list[str] = field(default_factory=list)


def publish_page(gateway: ConfluenceGateway, spec: PageSpec, page_id: str | None) -> PageResult:
    """Create or update the incident's page (see the module docstring)."""
    notes: list[str] = []
    readers = _readers(gateway, spec) if spec.private else None
    page = gateway.page(page_id) if page_id else None
    adopted = False
    if page_id and page is None:
        notes.append(
            "The earlier Confluence page is gone, or the bot's account can no longer see it, "
            "so I looked for it again."
        )
    if page is None:
        page = _find(gateway, spec)
        adopted = page is not None
    if page is None:
        body = spec.create()
        parent = _parent(gateway, spec)
        page = gateway.create(spec.title, body, parent_id=parent, private=spec.private)
        log.info("Confluence: created page %s (%s)", page.id, spec.title)
        result = PageResult(page, created=True, saved=True, notes=notes)
    else:
        result = _update(gateway, spec, page)
        result.adopted = adopted
        result.notes[:0] = notes
    _label(gateway, result.page.id, spec.labels, fresh=result.created)
    if readers is not None:
        me = gateway.me()
        users = [me, *(u for u in readers.users if u != me)]
        gateway.restrict(result.page.id, users, readers.groups)
        if readers.unmatched:
            result.notes.append(
                "Only people with a Confluence account can read this private page; I found none "
                f"for {', '.join(readers.unmatched)}."
            )
    return result


def _readers(gateway: ConfluenceGateway, spec: PageSpec) -> Readers:
    if not gateway.cloud and not gateway.private_parent_id:
        raise PrivateRefused(
            "This incident's channel is private, and on Confluence Data Center I can't create a "
            "page that only its members can read from the first moment. Set "
            "CONFLUENCE_PRIVATE_PARENT_PAGE_ID to a page whose view restrictions keep pages "
            "under it private (and CONFLUENCE_PRIVATE_GROUP to who may read them), or publish "
            "private incidents as canvases (POSTMORTEM_DESTINATIONS). Nothing was published."
        )
    readers = spec.readers() if spec.readers is not None else Readers()
    if not readers.users and not readers.groups:
        raise PrivateRefused(
            "This incident's channel is private, and I found no Confluence account for any of "
            "its members (matched by the e-mail address of their Slack profile), so nobody "
            "could read the page. Set CONFLUENCE_PRIVATE_GROUP to a Confluence group that may "
            "read private postmortems. Nothing was published."
        )
    return readers


def _parent(gateway: ConfluenceGateway, spec: PageSpec) -> str | None:
    if spec.private and not gateway.cloud:
        return gateway.private_parent_id
    return gateway.parent_page_id


def _find(gateway: ConfluenceGateway, spec: PageSpec) -> Page | None:
    for found in gateway.find_by_label(spec.labels[0]):
        page = gateway.page(found)
        if page is not None:
            return page
    page = gateway.find_by_title(spec.title)
    if page is None:
        return None
    if gateway.owns(page):
        return page
    raise ConfluenceFailure(
        f"Space {gateway.space_key} already has a page titled “{spec.title}” that the bot did "
        "not write. Rename or move that page, then generate again."
    )


def _update(gateway: ConfluenceGateway, spec: PageSpec, page: Page) -> PageResult:
    conflicts = 0
    while True:
        body, notes = spec.refresh(page.body)
        if body == page.body and page.title == spec.title:
            return PageResult(page, conflicts=conflicts, notes=notes)
        try:
            saved = gateway.update(page, spec.title, body, message="Refreshed by postmortem-bot")
            return PageResult(saved, saved=True, conflicts=conflicts, notes=notes)
        except ConfluenceFailure as failure:
            if failure.status != 409 or conflicts >= CONFLICT_RETRIES:
                raise
            conflicts += 1
            log.info("Confluence: page %s changed meanwhile (409); reading it again", page.id)
            fresh = gateway.page(page.id)
            if fresh is None:
                raise ConfluenceFailure(
                    "The Confluence page disappeared while I was updating it; I'll try again.",
                    passing=True,
                ) from None
            page = fresh


def update_page(
    gateway: ConfluenceGateway,
    page_id: str,
    title: str,
    refresh: Callable[[str], tuple[str, list[str]]],
) -> PageResult | None:
    """Apply `refresh` to an existing page (409s handled); None if the page is gone."""
    page = gateway.page(page_id)
    if page is None:
        return None
    spec = PageSpec(title=title, labels=(), private=False, create=lambda: "", refresh=refresh)
    return _update(gateway, spec, page)


def _label(
    gateway: ConfluenceGateway, page_id: str, labels: tuple[str, ...], *, fresh: bool
) -> None:
    have = set() if fresh else gateway.labels(page_id)
    wanted = [name for name in labels if name not in have]
    gateway.add_labels(page_id, wanted)
    for stale in sorted(have):
        if SEVERITY_LABEL.fullmatch(stale) and stale not in labels:
            gateway.remove_label(page_id, stale)

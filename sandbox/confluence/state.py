"""The fake Confluence site: accounts, groups, spaces, pages; who may see and edit what; the
calls made against it, the faults waiting to be served and the rate limiter.

Every method expects the caller to hold ``ConfluenceState.lock`` (the HTTP layer and the
``FakeConfluence`` façade take it); one re-entrant lock guards all state.

Permission model (what Confluence does, reduced to what a bot meets):

* A space is visible to an account unless its ``view`` permission was revoked; pages in a space
  the caller cannot see do not exist for it (404), and creating needs ``add_page`` (403).
* Read restrictions are inherited: a page is readable only if the caller passes the read
  restriction of the page *and of every ancestor* (users listed directly or through a group).
  Update restrictions apply to the page itself only, as in Confluence.
* Title uniqueness ignores visibility: a title taken by a page the caller cannot see still
  conflicts (sphinx-contrib/confluencebuilder#1111 relies on this).
"""

from __future__ import annotations

import base64
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sandbox.confluence.model import (
    ADD_PAGE,
    CLOUD,
    CURRENT,
    READ,
    UPDATE,
    VIEW_SPACE,
    Account,
    Call,
    ConfluenceError,
    Fault,
    Group,
    Label,
    PageRecord,
    Space,
    Version,
    not_found,
)


@dataclass(frozen=True)
class SiteConfig:
    deployment: str  # CLOUD or DATACENTER

    @property
    def cloud(self) -> bool:
        return self.deployment == CLOUD


@dataclass
class RateLimit:
    """At most ``limit`` requests per account in any ``window`` seconds; the rest get 429."""

    limit: int
    window: float
    retry_after: int | None
    seen: dict[str, deque[float]] = field(default_factory=dict)


class ConfluenceState:
    """All data of one fake Confluence site plus the calls made against it."""

    def __init__(self, cfg: SiteConfig, clock: Callable[[], datetime]) -> None:
        self.cfg = cfg
        self.clock = clock
        self.monotonic: Callable[[], float] = time.monotonic
        self.base_url = ""  # http://127.0.0.1:<port>, set when the server starts
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.accounts: dict[str, Account] = {}
        self.groups: dict[str, Group] = {}
        self.spaces: dict[str, Space] = {}  # by key, in creation order
        self.pages: dict[str, PageRecord] = {}  # by id, in creation order
        self.calls: list[Call] = []
        self.faults: list[Fault] = []
        self.rate_limit: RateLimit | None = None
        self.v1_content_gone = False  # newer Cloud sites: 410 on v1 /content and /content/{id}
        self.release = threading.Event()  # set to let hung requests go
        self._content_ids = itertools.count(65540)
        self._space_ids = itertools.count(98306)
        self._label_ids = itertools.count(1376257)
        self.label_ids: dict[tuple[str, str], str] = {}

    # --- basics -------------------------------------------------------------------------------

    def now(self) -> datetime:
        moment = self.clock()
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)

    def next_content_id(self) -> str:
        return str(next(self._content_ids))

    def next_space_id(self) -> int:
        return next(self._space_ids)

    def label(self, prefix: str, name: str) -> Label:
        """Labels are site-wide entities: one id per (prefix, name), shared by every page."""
        key = (prefix, name)
        if key not in self.label_ids:
            self.label_ids[key] = str(next(self._label_ids))
        return Label(self.label_ids[key], prefix, name)

    def record(self, call: Call) -> None:
        self.calls.append(call)
        self.changed.notify_all()

    def take_fault(self, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.matches(method, path):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self.faults.remove(fault)
                return fault
        return None

    def throttle(self, account_id: str) -> int | None:
        """None when the request may go on, else the Retry-After (seconds) of a 429."""
        limiter = self.rate_limit
        if limiter is None:
            return None
        now = self.monotonic()
        seen = limiter.seen.setdefault(account_id, deque())
        while seen and now - seen[0] >= limiter.window:
            seen.popleft()
        if len(seen) < limiter.limit:
            seen.append(now)
            return None
        if limiter.retry_after is not None:
            return limiter.retry_after
        return max(1, int(limiter.window - (now - seen[0]) + 0.999))

    # --- accounts and groups ------------------------------------------------------------------

    def add_account(self, account: Account) -> None:
        self.accounts[account.account_id] = account
        for group in self.groups.values():
            if group.name == "confluence-users":
                group.members.add(account.account_id)

    def display_name(self, account_id: str) -> str:
        account = self.accounts.get(account_id)
        return account.display_name if account else account_id

    def groups_of(self, account_id: str) -> set[str]:
        return {g.id for g in self.groups.values() if account_id in g.members}

    def find_group(self, ref: str) -> Group | None:
        """A group by id (Cloud) or name (Data Center and the deprecated Cloud endpoints)."""
        return self.groups.get(ref) or next(
            (g for g in self.groups.values() if g.name == ref), None
        )

    def find_account(self, ref: str) -> Account | None:
        """An account by accountId, or by username / userKey (Data Center)."""
        return self.accounts.get(ref) or next(
            (a for a in self.accounts.values() if ref in (a.username, a.email)), None
        )

    # --- spaces -------------------------------------------------------------------------------

    def space(self, key: str, account_id: str) -> Space:
        """The space as ``account_id`` sees it (404 when unknown or not visible to it)."""
        space = self.spaces.get(key) or next(
            (s for s in self.spaces.values() if s.key.lower() == key.lower()), None
        )
        if space is None or not space.allows(account_id, VIEW_SPACE):
            raise ConfluenceError(404, f"No space found with key : {key}", v2_title="Not Found")
        return space

    def space_by_id(self, space_id: int) -> Space | None:
        return next((s for s in self.spaces.values() if s.id == space_id), None)

    def can_add_page(self, account_id: str, space: Space) -> bool:
        return space.allows(account_id, ADD_PAGE)

    # --- pages --------------------------------------------------------------------------------

    def ancestors(self, page: PageRecord) -> list[PageRecord]:
        """Root first, parent last."""
        chain: list[PageRecord] = []
        parent_id = page.parent_id
        while parent_id is not None and parent_id in self.pages:
            parent = self.pages[parent_id]
            if parent in chain:
                break
            chain.append(parent)
            parent_id = parent.parent_id
        return list(reversed(chain))

    def passes(self, account_id: str, page: PageRecord, operation: str) -> bool:
        rule = page.restrictions[operation]
        if not rule.restricted:
            return True
        return account_id in rule.users or bool(self.groups_of(account_id) & set(rule.groups))

    def can_read(self, account_id: str, page: PageRecord) -> bool:
        space = self.spaces.get(page.space_key)
        if space is None or not space.allows(account_id, VIEW_SPACE):
            return False
        return all(self.passes(account_id, p, READ) for p in [*self.ancestors(page), page])

    def can_edit(self, account_id: str, page: PageRecord) -> bool:
        return self.can_read(account_id, page) and self.passes(account_id, page, UPDATE)

    def visible_page(
        self, page_id: str, account_id: str, statuses: Iterable[str] = (CURRENT,)
    ) -> PageRecord:
        """The page if it exists in one of ``statuses`` and the caller may read it, else 404."""
        page = self.pages.get(page_id)
        if page is None or page.status not in tuple(statuses):
            raise not_found(page_id)
        if not self.can_read(account_id, page):
            raise not_found(page_id)
        return page

    def visible_pages(
        self, account_id: str, statuses: Iterable[str] = (CURRENT,)
    ) -> list[PageRecord]:
        wanted = tuple(statuses)
        return [
            p for p in self.pages.values() if p.status in wanted and self.can_read(account_id, p)
        ]

    def title_owner(
        self, space_key: str, title: str, exclude: str | None = None
    ) -> PageRecord | None:
        """The current page of the space that already has ``title`` (case-insensitive)."""
        wanted = title.strip().lower()
        return next(
            (
                p
                for p in self.pages.values()
                if p.space_key == space_key
                and p.status == CURRENT
                and p.id != exclude
                and p.title.strip().lower() == wanted
            ),
            None,
        )

    def children(self, page_id: str) -> list[PageRecord]:
        return [p for p in self.pages.values() if p.parent_id == page_id and p.status == CURRENT]

    def new_page(
        self,
        space: Space,
        title: str,
        body: str,
        parent_id: str | None,
        by: str,
        message: str = "",
    ) -> PageRecord:
        now = self.now()
        siblings = [p for p in self.pages.values() if p.parent_id == parent_id]
        page = PageRecord(
            id=self.next_content_id(),
            space_key=space.key,
            title=title,
            body=body,
            created=now,
            created_by=by,
            parent_id=parent_id,
            position=len(siblings) + 1,
            versions=[Version(1, now, by, message)],
        )
        self.pages[page.id] = page
        return page

    def add_version(
        self, page: PageRecord, by: str, message: str = "", minor_edit: bool = False
    ) -> Version:
        version = Version(page.version.number + 1, self.now(), by, message, minor_edit)
        page.versions.append(version)
        return version


def tiny_id(page_id: str) -> str:
    """Confluence's short link id (``/x/<this>``): the id's little-endian bytes in base64."""
    number = int(page_id)
    raw = number.to_bytes(8, "little").rstrip(b"\0") or b"\0"
    return base64.b64encode(raw).decode().rstrip("=").replace("/", "-").replace("+", "_")

"""What people do on the fake site outside the API (and what tests read back): look at pages,
create or edit them in the editor, label, restrict or trash them. ``FakeConfluence`` inherits
these; they take the state lock themselves and never go through HTTP, faults or rate limits.

A person's edit bumps the version exactly as saving in the editor does, so the bot's next
update with a stale ``version.number`` gets the 409 a real site would send. Restrictions set
here are not checked for lock-out (a space admin can restrict a page away from the bot).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from sandbox.confluence import pages as ops
from sandbox.confluence.model import (
    CURRENT,
    READ,
    TRASHED,
    UPDATE,
    Account,
    ConfluenceError,
    PageRecord,
    RestrictionSet,
)
from sandbox.confluence.snapshots import Page, snapshot
from sandbox.confluence.state import ConfluenceState

T = TypeVar("T")


class PersonActions:
    """Page helpers of ``FakeConfluence``; ``by`` defaults to the built-in other person."""

    _state: ConfluenceState
    person: Account

    def _record(self, page_id: str) -> PageRecord:
        try:
            return self._state.pages[str(page_id)]
        except KeyError:
            raise KeyError(f"no page with id {page_id}") from None

    def _by(self, by: str | None) -> str:
        if by is not None and by not in self._state.accounts:
            raise ValueError(f"unknown account {by}: add_account() it first")
        return by or self.person.account_id

    def page(self, page_id: str) -> Page:
        """The page as stored, whoever may see it (KeyError if there is none)."""
        with self._state.lock:
            return snapshot(self._record(page_id))

    def pages_in_space(self, space_key: str, *, include_trashed: bool = False) -> list[Page]:
        """Every page of the space (homepage included), in creation order."""
        with self._state.lock:
            return [
                snapshot(p)
                for p in self._state.pages.values()
                if p.space_key == space_key and (include_trashed or p.status == CURRENT)
            ]

    def find_page(self, space_key: str, title: str) -> Page | None:
        with self._state.lock:
            found = self._state.title_owner(space_key, title)
            return snapshot(found) if found is not None else None

    def create_as_person(
        self,
        space_key: str,
        title: str,
        body: str = "<p></p>",
        *,
        parent_id: str | None = None,
        labels: Iterable[str] = (),
        by: str | None = None,
    ) -> Page:
        """A person creates a page in the editor (same checks as the API: title, storage)."""
        with self._state.lock:
            who = self._by(by)
            page = self._apply(
                lambda: ops.create_page(self._state, who, space_key, title, body, parent_id)
            )
            items = [{"prefix": "global", "name": name} for name in labels]
            if items:
                self._apply(lambda: ops.add_labels(self._state, who, page, items))
            return snapshot(page)

    def edit_as_person(
        self,
        page_id: str,
        new_body: str,
        *,
        title: str | None = None,
        message: str = "",
        by: str | None = None,
    ) -> Page:
        """A person saves the page in the editor: new body (and title), version + 1."""
        with self._state.lock:
            page = self._record(page_id)
            who = self._by(by)
            number = page.version.number + 1
            self._apply(
                lambda: ops.update_page(
                    self._state,
                    who,
                    page,
                    title=title or page.title,
                    body=new_body,
                    number=number,
                    message=message,
                )
            )
            return snapshot(page)

    def label_as_person(self, page_id: str, *names: str, by: str | None = None) -> Page:
        with self._state.lock:
            page = self._record(page_id)
            who = self._by(by)
            items = [{"prefix": "global", "name": name} for name in names]
            self._apply(lambda: ops.add_labels(self._state, who, page, items))
            return snapshot(page)

    def restrict_as_person(
        self,
        page_id: str,
        *,
        read_users: Iterable[str] = (),
        read_groups: Iterable[str] = (),
        update_users: Iterable[str] = (),
        update_groups: Iterable[str] = (),
    ) -> Page:
        """Replace the page's restrictions (account ids, group ids or names); empty lifts them.
        No lock-out check: this is a space admin acting in the UI."""
        st = self._state
        with st.lock:
            page = self._record(page_id)
            for account_id in [*read_users, *update_users]:
                if account_id not in st.accounts:
                    raise ValueError(f"unknown account {account_id}")
            groups: dict[str, list[str]] = {}
            for op, refs in ((READ, read_groups), (UPDATE, update_groups)):
                found = [st.find_group(ref) for ref in refs]
                if any(g is None for g in found):
                    raise ValueError(f"unknown group among {list(refs)}")
                groups[op] = [g.id for g in found if g is not None]
            page.restrictions = {
                READ: RestrictionSet(list(dict.fromkeys(read_users)), groups[READ]),
                UPDATE: RestrictionSet(list(dict.fromkeys(update_users)), groups[UPDATE]),
            }
            return snapshot(page)

    def trash_as_person(self, page_id: str) -> None:
        """A person moves the page to the trash (its children move up to its parent)."""
        with self._state.lock:
            page = self._record(page_id)
            for child in self._state.children(page.id):
                child.parent_id = page.parent_id
            page.status = TRASHED

    def _apply(self, action: Callable[[], T]) -> T:
        try:
            return action()
        except ConfluenceError as error:
            raise ValueError(f"Confluence would refuse this: {error.message}") from None

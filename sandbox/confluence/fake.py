"""A stateful, faithful fake of Confluence's REST API (Cloud v1 + v2; Data Center v1) served
over real HTTP on 127.0.0.1, for tests and the demo::

    with FakeConfluence() as fake:
        client = Confluence(fake.site_url, username=fake.bot.email,
                            password=fake.bot.api_token, cloud=False)   # atlassian-python-api 5.x
        page = client.create_page("OPS", "INC-42 postmortem", "<p>Draft</p>")
        fake.edit_as_person(page["id"], "<p>Edited by a human</p>")    # version 2
        fake.page(page["id"]).version                                    # -> 2

The site starts with one space (``space_key``, default ``OPS``, with a homepage), two accounts
(``fake.bot``, the API user, and ``fake.person``, "another person" with its own credentials)
and the group ``confluence-users`` holding both. See the modules for what each part serves and
what the fake chose where Confluence's behaviour is undocumented: ``storage`` (storage-format
validation), ``cql`` (the CQL subset), ``pages`` (create/update/409), ``restrictions`` (and the
lock-out rule), ``routes_*`` (endpoints and defaults), ``http`` (auth, order of checks),
``controls`` (faults, rate limits, recorded calls), ``people`` (what humans do in the UI).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Self

from sandbox.confluence.controls import Controls, FakeConfluenceTimeout
from sandbox.confluence.http import FakeConfluenceServer
from sandbox.confluence.model import (
    ADD_PAGE,
    CLOUD,
    DATACENTER,
    DEPLOYMENTS,
    VIEW_SPACE,
    Account,
    Group,
    Space,
    utc_now,
)
from sandbox.confluence.people import PersonActions
from sandbox.confluence.state import ConfluenceState, SiteConfig
from sandbox.serving import BackgroundServer, Served

__all__ = ["FakeConfluence", "FakeConfluenceTimeout"]

USERS_GROUP_ID = "a1b2c3d4-0000-4000-8000-000000000001"
BOT_ID = "712020:3f0c9e1a-5b2d-4c7e-8a9f-0b1c2d3e4f5a"
PERSON_ID = "712020:8d6e5f4a-3b2c-4d1e-9f0a-1b2c3d4e5f6a"


class FakeConfluence(PersonActions, Controls, Served):
    """A fake Confluence site; see the module docstring."""

    def __init__(
        self,
        *,
        deployment: str = CLOUD,
        space_key: str = "OPS",
        space_name: str = "Operations",
        email: str = "bot@acme.test",
        api_token: str = "confluence-api-token",
        personal_access_token: str = "confluence-bot-pat",
        bot_account_id: str = BOT_ID,
        bot_display_name: str = "Postmortem Bot",
        clock: Callable[[], datetime] | None = None,
        monotonic: Callable[[], float] | None = None,
    ) -> None:
        if deployment not in DEPLOYMENTS:
            raise ValueError(f"deployment must be one of {DEPLOYMENTS}, not {deployment!r}")
        self.deployment = deployment
        self.space_key = space_key
        cfg = SiteConfig(deployment)
        self._state = ConfluenceState(cfg, clock or utc_now)
        if monotonic is not None:
            self._state.monotonic = monotonic
        self._state.groups[USERS_GROUP_ID] = Group(USERS_GROUP_ID, "confluence-users")
        self.bot = self.add_account(
            bot_account_id,
            email,
            bot_display_name,
            api_token=api_token,
            personal_access_token=personal_access_token,
            username="postmortem-bot",
        )
        self.person = self.add_account(
            PERSON_ID,
            "riley@acme.test",
            "Riley Quinn",
            api_token="riley-api-token",
            personal_access_token="riley-pat",
            username="riley",
        )
        self.add_space(space_key, space_name)
        self._serving = BackgroundServer(
            lambda port: FakeConfluenceServer(self._state, port), "fake-confluence"
        )
        self.url = ""

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> Self:
        """Serve on 127.0.0.1 in a daemon thread (sandbox.serving: an ephemeral port the first
        time, then the same port again)."""
        self.url = self._serving.start()
        with self._state.lock:
            self._state.base_url = self.url
        return self

    def stop(self) -> None:
        self.release_hung()  # a request held open would keep the server from shutting down
        self._serving.stop()

    def go_down(self) -> None:
        """Stop listening: connections to ``url`` are refused (Confluence unreachable)."""
        if not self.url:
            raise RuntimeError("FakeConfluence is not started: call start() first")
        self.stop()

    def come_back(self) -> None:
        """Listen again on the same port, with the same pages, accounts and faults."""
        if not self.url:
            raise RuntimeError("FakeConfluence was never started")
        self.start()

    @property
    def is_up(self) -> bool:
        return self._serving.running

    @property
    def v1_content_gone(self) -> bool:
        """Answer 410 Gone on v1 ``/content`` and ``/content/{id}``, as newer Cloud sites do
        (search, labels and restrictions keep working). Default False."""
        with self._state.lock:
            return self._state.v1_content_gone

    @v1_content_gone.setter
    def v1_content_gone(self, value: bool) -> None:
        if value and self.deployment != CLOUD:
            raise ValueError("only Cloud retires the v1 content endpoints")
        with self._state.lock:
            self._state.v1_content_gone = value

    @property
    def site_url(self) -> str:
        """The base URL to give a client: ``<url>/wiki`` on Cloud, ``<url>`` on Data Center."""
        return self.url + "/wiki" if self.deployment == CLOUD else self.url

    # --- accounts, groups, spaces -------------------------------------------------------------

    def auth_headers(self, account: Account | None = None) -> dict[str, str]:
        """The ``Authorization`` header of ``account`` (default: the bot) for this deployment."""
        who = account or self.bot
        if self.deployment == DATACENTER:
            return {"Authorization": f"Bearer {who.personal_access_token}"}
        token = base64.b64encode(f"{who.email}:{who.api_token}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    def add_account(
        self,
        account_id: str,
        email: str,
        display_name: str,
        *,
        api_token: str,
        personal_access_token: str | None = None,
        username: str | None = None,
        groups: Iterable[str] = (),
    ) -> Account:
        """A user with API credentials; it joins ``confluence-users`` and ``groups`` (ids)."""
        account = Account(
            account_id,
            email,
            display_name,
            api_token,
            personal_access_token or f"pat-{account_id}",
            username or email.split("@", 1)[0],
        )
        with self._state.lock:
            self._state.add_account(account)
            for group_id in groups:
                self._state.groups[group_id].members.add(account_id)
        return account

    def add_group(self, name: str, members: Iterable[str] = (), *, group_id: str = "") -> str:
        """A group (members are account ids); returns its id."""
        with self._state.lock:
            gid = group_id or f"00000000-0000-4000-8000-{len(self._state.groups) + 1:012d}"
            self._state.groups[gid] = Group(gid, name, set(members))
            return gid

    def add_space(self, key: str, name: str | None = None, *, description: str = "") -> int:
        """A space with a homepage ("<name> Home", created by the other person); its id."""
        st = self._state
        with st.lock:
            if key in st.spaces:
                raise ValueError(f"space {key} exists already")
            space = Space(
                st.next_space_id(), key, name or key, "", st.now(), PERSON_ID, description
            )
            st.spaces[key] = space
            home = st.new_page(space, f"{space.name} Home", "<p></p>", None, PERSON_ID)
            space.homepage_id = home.id
            return space.id

    def space_id(self, key: str) -> int:
        with self._state.lock:
            return self._state.spaces[key].id

    def homepage_id(self, key: str | None = None) -> str:
        with self._state.lock:
            return self._state.spaces[key or self.space_key].homepage_id

    def set_space_permission(
        self,
        key: str,
        account_id: str | None = None,
        *,
        view: bool | None = None,
        add_page: bool | None = None,
    ) -> None:
        """Grant (True) or revoke (False) ``view`` / ``add_page`` in a space for an account
        (default: the bot); None leaves a permission as it is. Without ``view`` the space and
        its pages are 404s; without ``add_page`` creating a page there is a 403."""
        who = account_id or self.bot.account_id
        with self._state.lock:
            denied = self._state.spaces[key].denied.setdefault(who, set())
            for permission, value in ((VIEW_SPACE, view), (ADD_PAGE, add_page)):
                if value is True:
                    denied.discard(permission)
                elif value is False:
                    denied.add(permission)

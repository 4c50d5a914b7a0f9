"""A stateful, faithful fake of Slack's Web API served over real HTTP on 127.0.0.1.

Point the real client at it and it behaves like Slack::

    with FakeSlack() as fake:
        fake.add_user("U1", "ada", tz="Europe/London")
        fake.add_channel("incidents", members=["U1"])
        client = WebClient(token=fake.bot_token, base_url=fake.api_url)
        client.chat_postMessage(channel="incidents", text="hi")
        assert fake.messages("incidents")[-1]["text"] == "hi"

Used by the test-suite and by ``postmortem-bot demo``. The handlers live in the
``sandbox.slack`` modules; this module is the public façade (set-up, assertions, errors).
Socket Mode (``apps.connections.open`` with ``app_token``, then a WebSocket) is in
``sandbox.slack.socket_mode``; the ``*socket*`` methods below drive it.
"""

from __future__ import annotations

import copy
import secrets
import time
from collections.abc import Callable, Iterable
from typing import Any, Self

from sandbox.serving import BackgroundServer, Served
from sandbox.slack import channel_events, events, openid
from sandbox.slack.base import Call, Fault, JsonDict, SlackConfig
from sandbox.slack.chat import react
from sandbox.slack.events import EventPusher
from sandbox.slack.http import FakeSlackServer
from sandbox.slack.oauth import DEFAULT_SCOPE, issue_code
from sandbox.slack.ratelimits import RateLimits
from sandbox.slack.signed_requests import SlackRequests
from sandbox.slack.socket_mode import SocketModeHub
from sandbox.slack.state import Channel, SlackState
from sandbox.slack.surfaces import document_of

__all__ = ["Call", "FakeSlack", "FakeSlackTimeout"]

TRIGGER_TTL = 3.0


class FakeSlackTimeout(AssertionError):
    """Raised by the ``wait_for*`` helpers when the expected traffic never arrived."""


class FakeSlack(Served):
    """A fake Slack workspace with one installed bot; see the module docstring."""

    def __init__(
        self,
        *,
        team_id: str = "T0001",
        team_domain: str = "acme",
        bot_token: str = "xoxb-test-token",
        bot_user_id: str = "UBOT0001",
        bot_id: str = "BBOT0001",
        app_id: str = "A0001",
        enterprise_id: str | None = None,
        team_name: str | None = None,
        bot_name: str = "postmortem-bot",
        app_token: str = "xapp-1-A0001-test",
    ) -> None:
        self.bot_token = bot_token
        self.app_token = app_token  # app-level: only opens Socket Mode connections
        self.team_id = team_id
        self.team_domain = team_domain
        self._state = SlackState(
            SlackConfig(
                team_id=team_id,
                team_domain=team_domain,
                team_name=team_name or team_domain.title(),
                bot_token=bot_token,
                bot_user_id=bot_user_id,
                bot_id=bot_id,
                bot_name=bot_name,
                app_id=app_id,
                enterprise_id=enterprise_id,
            )
        )
        self._sockets = SocketModeHub(self._state, app_token=app_token, app_id=app_id)
        self._events: EventPusher | None = None  # deliver_events_to() subscribes the app
        # a fresh port each start: Slack never "comes back" on a port (sandbox.serving)
        self._serving = BackgroundServer(
            lambda _port: FakeSlackServer(self._state, self._sockets), "fake-slack"
        )
        self.url = ""
        self.api_url = ""

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> Self:
        """Serve on an ephemeral 127.0.0.1 port in a daemon thread."""
        if not self._serving.running:
            self.url = self._serving.start()
            self.api_url = f"{self.url}/api/"
            with self._state.lock:
                self._state.base_url = self.url
        return self

    def stop(self) -> None:
        self._serving.stop()
        self._sockets.close()  # after the Web API: clients told to go away can't come back
        if self._events is not None:
            self._events.close()

    def _require_url(self) -> str:
        if not self.url:
            raise RuntimeError("FakeSlack is not started: call start() first")
        return self.url

    # --- state set-up ---------------------------------------------------------------------------

    def add_user(
        self,
        user_id: str,
        name: str,
        *,
        real_name: str | None = None,
        tz: str = "UTC",
        email: str | None = None,
        is_bot: bool = False,
    ) -> dict[str, Any]:
        """Add a workspace member; ``tz`` is an IANA name (tz_label/tz_offset derive from it)."""
        with self._state.lock:
            return self._state.add_user(
                user_id, name, real_name=real_name, tz=tz, email=email, is_bot=is_bot
            )

    def add_channel(
        self,
        name: str,
        *,
        private: bool = False,
        members: Iterable[str] = (),
        bot_is_member: bool = True,
        channel_id: str | None = None,
        archived: bool = False,
        topic: str = "",
        purpose: str = "",
    ) -> dict[str, Any]:
        """Add a channel (ids are ``C…``; private channels are ``C…`` with is_private)."""
        with self._state.lock:
            channel = self._state.add_channel(
                name,
                private=private,
                members=list(members),
                bot_is_member=bot_is_member,
                channel_id=channel_id,
                archived=archived,
                topic=topic,
                purpose=purpose,
            )
            return self._state.channel_obj(channel)

    def post_as_user(
        self,
        channel: str,
        user: str,
        text: str,
        *,
        thread_ts: str | None = None,
        ts: str | None = None,
        files: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """A human posts a message (not an API call). The user joins the channel if needed."""
        st = self._state
        with st.lock:
            ch = st.existing_channel(channel)
            if user not in st.users:
                raise ValueError(f"unknown user {user}: add_user() it first")
            if user not in ch.members:
                ch.members.append(user)
            parent_ts = st.thread_parent_ts(ch, thread_ts)
            if thread_ts is not None and parent_ts is None:
                raise ValueError(f"no message {thread_ts} in {ch.id} to reply to")
            message: JsonDict = {
                "type": "message",
                "user": user,
                "text": text,
                "team": st.cfg.team_id,
                "client_msg_id": secrets.token_hex(16),
            }
            if files:
                message.update(files=copy.deepcopy(files), upload=False)
            st.store_message(ch, message, ts=ts, thread_ts=parent_ts)
            self._emit(ch, lambda: events.message_posted(ch.id, ch.is_private, message))
            return copy.deepcopy(message)

    def seed_history(
        self, channel: str, messages: Iterable[tuple[str, str, str, str | None]]
    ) -> int:
        """Bulk-load a channel's past for benchmarks: (ts, user, text, thread_ts or None) each,
        parents before their replies; no events. How many were stored."""
        st = self._state
        stored = 0
        with st.lock:
            ch = st.existing_channel(channel)
            for ts, user, text, thread_ts in messages:
                message: JsonDict = {"type": "message", "user": user, "text": text}
                message["team"] = st.cfg.team_id
                st.store_message(ch, message, ts=ts)
                if thread_ts is not None:
                    message["thread_ts"] = thread_ts
                    message["parent_user_id"] = ch.messages[thread_ts].get("user", "")
                stored += 1
            st.refresh_threads(ch)
        return stored

    def edit_as_user(self, channel: str, ts: str, text: str) -> dict[str, Any]:
        st = self._state
        with st.lock:
            ch = st.existing_channel(channel)
            message = ch.messages.get(ts)
            if message is None:
                raise ValueError(f"no message {ts} in {ch.id}")
            previous = copy.deepcopy(message)
            message["text"] = text
            message["edited"] = {"user": message.get("user", ""), "ts": f"{time.time():.6f}"}
            self._emit(ch, lambda: events.message_changed(ch.id, ch.is_private, message, previous))
            return copy.deepcopy(message)

    def delete_message(self, channel: str, ts: str) -> None:
        with self._state.lock:
            ch = self._state.existing_channel(channel)
            previous = copy.deepcopy(ch.messages.get(ts) or {"ts": ts})
            self._state.remove_message(ch, ts)
            self._emit(ch, lambda: events.message_deleted(ch.id, ch.is_private, previous))

    def add_reaction(self, channel: str, ts: str, name: str, user: str) -> None:
        """A human reacts to a message."""
        self._human_reaction(channel, ts, name, user, add=True)

    def remove_reaction(self, channel: str, ts: str, name: str, user: str) -> None:
        """A human takes their reaction back."""
        self._human_reaction(channel, ts, name, user, add=False)

    def _human_reaction(self, channel: str, ts: str, name: str, user: str, *, add: bool) -> None:
        st = self._state
        with st.lock:
            ch = st.existing_channel(channel)
            message = ch.messages.get(ts)
            if message is None:
                raise ValueError(f"no message {ts} in {ch.id}")
            react(st, ch, message, name, user, add)
            kind = "reaction_added" if add else "reaction_removed"
            author = message.get("user")
            self._emit(ch, lambda: events.reaction(kind, ch.id, ts, name, user, author))

    # --- channel membership and kind (sandbox.slack.channel_events) ----------------------------

    def join_channel(self, channel: str, user: str, *, inviter: str | None = None) -> None:
        """Someone joins (or is invited to) a channel: `channel_join`, `member_joined_channel`."""
        st = self._state
        with st.lock:
            ch = st.existing_channel(channel)
            if user not in st.users:
                raise ValueError(f"unknown user {user}: add_user() it first")
            if user in ch.members:
                return
            ch.members.append(user)
            join: JsonDict = {"type": "message", "subtype": "channel_join", "user": user}
            join["text"] = f"<@{user}> has joined the channel"
            st.store_message(ch, join)
            team = st.cfg.team_id
            self._emit(ch, lambda: events.message_posted(ch.id, ch.is_private, join))
            self._emit(
                ch, lambda: channel_events.member_joined(ch.id, ch.is_private, user, team, inviter)
            )

    def leave_channel(self, channel: str, user: str, *, actor: str | None = None) -> None:
        """Someone leaves (or is removed): `channel_leave` and `member_left_channel`; the bot
        itself removed gets `channel_left` / `group_left` instead, and nothing after it."""
        st = self._state
        with st.lock:
            ch = st.existing_channel(channel)
            if user not in ch.members:
                return
            team = st.cfg.team_id
            if user == st.cfg.bot_user_id:
                who = actor or ch.creator
                self._emit(ch, lambda: channel_events.bot_removed(ch.id, ch.is_private, who))
                ch.members.remove(user)
                return
            leave: JsonDict = {"type": "message", "subtype": "channel_leave", "user": user}
            leave["text"] = f"<@{user}> has left the channel"
            st.store_message(ch, leave)
            ch.members.remove(user)
            self._emit(ch, lambda: events.message_posted(ch.id, ch.is_private, leave))
            self._emit(ch, lambda: channel_events.member_left(ch.id, ch.is_private, user, team))

    def convert_channel(self, channel: str, user: str, *, private: bool = True) -> None:
        """A channel made private (or public again): the `channel_convert_to_private` /
        `channel_convert_to_public` message, delivered as a `message` event."""
        st = self._state
        with st.lock:
            ch = st.existing_channel(channel)
            ch.is_private = private
            subtype = "channel_convert_to_private" if private else "channel_convert_to_public"
            text = channel_events.MADE_PRIVATE if private else channel_events.MADE_PUBLIC
            note: JsonDict = {"type": "message", "subtype": subtype, "user": user, "text": text}
            st.store_message(ch, note)
            self._emit(ch, lambda: events.message_posted(ch.id, ch.is_private, note))

    def share_channel(self, channel: str, connected_team_id: str) -> None:
        """Another organisation joins the channel (Slack Connect): `channel_shared`."""
        st = self._state
        with st.lock:
            ch = st.existing_channel(channel)
            ch.connected_team_ids.append(connected_team_id)
            self._emit(ch, lambda: channel_events.channel_shared(ch.id, connected_team_id))

    # --- the Events API (what people do, delivered to the app) --------------------------------

    def deliver_events_to(
        self, base_url: str, signing_secret: str, *, path: str = "/slack/events"
    ) -> EventPusher:
        """Subscribe the app: from now on, what people do in channels the bot is in (post,
        edit, delete, react) is delivered to `base_url + path` as Slack's Events API does,
        signed, in order, retried (see sandbox.slack.events)."""
        requests = SlackRequests(
            base_url=base_url,
            signing_secret=signing_secret,
            team_id=self.team_id,
            team_domain=self.team_domain,
            enterprise_id=self._state.cfg.enterprise_id,
            path=path,
        )
        self._events = EventPusher(requests)
        return self._events

    def wait_for_events(self, timeout: float = 10.0) -> None:
        """Until every event queued so far was delivered (and answered, or given up)."""
        if self._events is not None and not self._events.wait_idle(timeout):
            raise FakeSlackTimeout(f"events still being delivered after {timeout}s")

    def _emit(self, channel: Channel, build: Callable[[], JsonDict]) -> None:
        """Queue an event for the app, if subscribed and in the channel (as Slack does)."""
        if self._events is not None and self._state.cfg.bot_user_id in channel.members:
            self._events.push(build())

    def new_trigger_id(self, ttl: float = TRIGGER_TTL) -> str:
        """A trigger id ``views.open``/``views.push`` accept once, within ``ttl`` seconds."""
        with self._state.lock:
            trigger_id = (
                f"{self._state.next_number()}.{self._state.next_number()}.{secrets.token_hex(16)}"
            )
            self._state.triggers[trigger_id] = time.monotonic() + ttl
            return trigger_id

    def new_response_url(self) -> str:
        url = self._require_url()
        with self._state.lock:
            response_id = str(self._state.next_number())
            self._state.response_ids.add(response_id)
        return f"{url}/response/{response_id}"

    # --- multi-workspace install (OAuth; see sandbox.slack.oauth) -------------------------------

    @property
    def client_id(self) -> str:
        return self._state.oauth.client_id

    @property
    def client_secret(self) -> str:
        return self._state.oauth.client_secret

    def new_oauth_code(
        self,
        *,
        team_id: str,
        user_id: str,
        team_name: str | None = None,
        scope: str = DEFAULT_SCOPE,
        redirect_uri: str | None = None,
        enterprise_id: str | None = None,
    ) -> str:
        """The code Slack appends to the app's redirect URL when ``user_id`` of ``team_id``
        allows the install (``scope``: what the authorize URL asked for). ``oauth.v2.access``
        takes it once, within ten minutes, and installs the app in that workspace."""
        with self._state.lock:
            return issue_code(
                self._state,
                team_id=team_id,
                user_id=user_id,
                team_name=team_name,
                scope=scope,
                redirect_uri=redirect_uri,
                enterprise_id=enterprise_id,
            )

    def sign_in_browser_as(self, user_id: str | None, *, team_id: str | None = None) -> None:
        """Who the browser is signed in to Slack as: Sign in with Slack's authorize page then
        sends it straight back to the app with a code for them, as Slack does once they press
        *Allow* (None: the page lists the people to choose from). ``team_id`` is the workspace
        they sign in through (default: the fake's own)."""
        with self._state.lock:
            op = openid.provider(self._state)
            op.browser_user, op.browser_team = user_id, team_id

    @property
    def openid_authorize_url(self) -> str:
        """Where Sign in with Slack's authorize page is (Slack's: slack.com/openid/...)."""
        return self.url + openid.AUTHORIZE_PATH

    def installed_bot(self, team_id: str) -> dict[str, Any] | None:
        """The app's bot in ``team_id`` (token, bot_user_id, bot_id), once installed there."""
        with self._state.lock:
            bot = self._state.oauth.bots.get(team_id)
            if bot is None:
                return None
            return {
                "team_id": bot.team_id,
                "token": bot.bot_token,
                "bot_user_id": bot.bot_user_id,
                "bot_id": bot.bot_id,
            }

    # --- error injection ------------------------------------------------------------------------

    def _inject(self, method: str, fault: Fault) -> None:
        if fault.remaining < 1:
            raise ValueError("times must be at least 1")
        with self._state.lock:
            self._state.faults.setdefault(method, []).append(fault)

    def fail(self, method: str, error: str, *, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` answer HTTP 200 ``{"ok": false, "error"}``."""
        self._inject(method, Fault("fail", times, error=error))

    def rate_limit(self, method: str, retry_after: int = 1, *, times: int = 1) -> None:
        """The next ``times`` calls answer HTTP 429 with ``Retry-After: retry_after``."""
        self._inject(method, Fault("rate_limit", times, retry_after=retry_after, status=429))

    def server_error(self, method: str, status: int = 503, *, times: int = 1) -> None:
        self._inject(method, Fault("server_error", times, status=status))

    def clear_faults(self) -> None:
        """Slack works again: every injected failure still waiting is dropped."""
        with self._state.lock:
            self._state.faults.clear()

    def enforce_rate_limits(
        self,
        *,
        marketplace: bool = True,
        clock: Callable[[], float] | None = None,
        speedup: float = 1.0,
    ) -> RateLimits:
        """From now on, answer as Slack's published rate limits do (sandbox.slack.ratelimits):
        each method's tier per workspace, chat.postMessage once a second per channel, and with
        ``marketplace=False`` the 2025 limits of apps distributed outside the Marketplace
        (conversations.history/replies once a minute, 15 messages a page). Over a limit:
        HTTP 429, ``Retry-After``, ``{"ok": false, "error": "ratelimited"}``. A benchmark may
        run ``clock`` ``speedup`` times faster than real time; Retry-After stays in real seconds."""
        limits = RateLimits(marketplace=marketplace, clock=clock or time.monotonic, speedup=speedup)
        with self._state.lock:
            self._state.rate_limits = limits
        return limits

    def lift_rate_limits(self) -> None:
        with self._state.lock:
            self._state.rate_limits = None

    # --- calls ------------------------------------------------------------------------------------

    @property
    def calls(self) -> list[Call]:
        with self._state.lock:
            return list(self._state.calls)

    def calls_to(self, method: str) -> list[Call]:
        with self._state.lock:
            return [c for c in self._state.calls if c.method == method]

    def reset_calls(self) -> None:
        with self._state.lock:
            self._state.calls.clear()

    def _wait(self, ready: Callable[[], bool], timeout: float, what: Callable[[], str]) -> None:
        deadline = time.monotonic() + timeout
        with self._state.changed:
            while not ready():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise FakeSlackTimeout(f"timed out after {timeout}s waiting for {what()}")
                self._state.changed.wait(remaining)

    def wait_for(self, method: str, count: int = 1, timeout: float = 5.0) -> list[Call]:
        """Block until ``count`` calls of ``method`` were made (work done after an ack)."""
        self._wait(
            lambda: len(self.calls_to(method)) >= count,
            timeout,
            lambda: f"{count} x {method}; saw {[c.method for c in self._state.calls]}",
        )
        return self.calls_to(method)

    def response_posts(self, response_url: str | None = None) -> list[dict[str, Any]]:
        """JSON bodies POSTed to response URLs (to ``response_url`` only, when given)."""
        with self._state.lock:
            return [
                copy.deepcopy(body)
                for url, body in self._state.response_posts
                if response_url is None or url == response_url
            ]

    def wait_for_response(self, count: int = 1, timeout: float = 5.0) -> list[dict[str, Any]]:
        self._wait(
            lambda: len(self._state.response_posts) >= count,
            timeout,
            lambda: f"{count} response_url posts; saw {len(self._state.response_posts)}",
        )
        return self.response_posts()

    # --- Socket Mode (see sandbox.slack.socket_mode) ------------------------------------------

    def socket_mode_connections(self) -> int:
        """How many Socket Mode WebSockets are open now."""
        return self._sockets.open_count()

    def wait_for_socket_connections(self, count: int, timeout: float = 5.0) -> None:
        """Block until exactly ``count`` WebSockets are open (0: until clients have gone)."""
        self._wait(
            lambda: self._sockets.open_count() == count,
            timeout,
            lambda: f"{count} open Socket Mode connections; {self._sockets.open_count()} open",
        )

    def send_socket_envelope(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        accepts_response_payload: bool | None = None,
        retry_attempt: int = 0,
        retry_reason: str = "",
    ) -> str:
        """Deliver a request as Slack does in Socket Mode; its ``envelope_id``.

        ``kind`` is ``events_api`` (payload: the Events API JSON body), ``slash_commands``
        (the command's form fields as an object) or ``interactive`` (the decoded ``payload``).
        ``accepts_response_payload`` defaults as Slack sets it (see ``sandbox.slack.socket_mode``);
        the retry fields exist on ``events_api`` only. Raises RuntimeError with no client
        connected: Slack would queue and retry, a test wants to know.
        """
        return self._sockets.send_envelope(
            kind,
            payload,
            accepts_response_payload=accepts_response_payload,
            retry_attempt=retry_attempt,
            retry_reason=retry_reason,
        )

    def wait_for_socket_ack(self, envelope_id: str, timeout: float = 5.0) -> dict[str, Any]:
        """Block until the app acks ``envelope_id``; the ack's payload (``{}`` when bare)."""
        self._wait(
            lambda: self._sockets.ack(envelope_id) is not None,
            timeout,
            lambda: f"an ack of envelope {envelope_id}; got {sorted(self._sockets.acks)}",
        )
        return self._sockets.ack(envelope_id) or {}

    def disconnect_socket_clients(self, reason: str = "refresh_requested") -> int:
        """Send every open connection a ``disconnect`` message (``warning``,
        ``refresh_requested`` or ``link_disabled``); how many were sent. Sockets stay open."""
        return self._sockets.disconnect_all(reason)

    # --- read access for assertions -------------------------------------------------------------

    def messages(self, channel: str) -> list[dict[str, Any]]:
        """Top-level messages (thread broadcasts included), oldest first."""
        with self._state.lock:
            ch = self._state.existing_channel(channel)
            return copy.deepcopy(self._state.top_level(ch))

    def replies(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        """The thread: parent first, then replies oldest first."""
        with self._state.lock:
            ch = self._state.existing_channel(channel)
            parent = ch.messages.get(thread_ts)
            if parent is None:
                return []
            return copy.deepcopy([parent, *self._state.thread_replies(ch, thread_ts)])

    def ephemerals(self, channel: str, user: str | None = None) -> list[dict[str, Any]]:
        with self._state.lock:
            cid = self._state.existing_channel(channel).id
            return [
                copy.deepcopy(e)
                for e in self._state.ephemerals
                if e["channel"] == cid and (user is None or e["recipient"] == user)
            ]

    def channel(self, channel: str) -> dict[str, Any]:
        """The conversation object (as ``conversations.info`` returns it), members added."""
        with self._state.lock:
            ch = self._state.existing_channel(channel)
            return {**self._state.channel_obj(ch), "members": list(ch.members)}

    def dm_channel_id(self, user_id: str) -> str | None:
        """The id of the bot's DM with ``user_id`` if one was opened."""
        with self._state.lock:
            return self._state.dms.get(frozenset({user_id}))

    def home_view(self, user_id: str) -> dict[str, Any] | None:
        with self._state.lock:
            view_id = self._state.home_views.get(user_id)
            return copy.deepcopy(self._state.views[view_id]) if view_id else None

    def views(self) -> dict[str, dict[str, Any]]:
        with self._state.lock:
            return copy.deepcopy(self._state.views)

    def canvases(self) -> dict[str, dict[str, Any]]:
        """Every canvas: its record, ``markdown`` (as ``canvases.getContent`` reads it) and
        ``sections`` (id, type, text, markdown of each, in order)."""
        with self._state.lock:
            out: dict[str, dict[str, Any]] = {}
            for canvas_id, record in self._state.canvases.items():
                document = document_of(record)
                item = {k: copy.deepcopy(v) for k, v in record.items() if k != "document"}
                item.update(markdown=document.markdown, sections=document.as_dicts())
                out[canvas_id] = item
            return out

    def canvas_markdown(self, canvas_id: str) -> str:
        """The canvas as it reads now (what a person sees, as Markdown)."""
        with self._state.lock:
            return document_of(self._canvas(canvas_id)).markdown

    def canvas_sections(self, canvas_id: str) -> list[dict[str, Any]]:
        """The canvas's sections in order: id, type (h1/h2/h3/paragraph/bullet/...), text."""
        with self._state.lock:
            return document_of(self._canvas(canvas_id)).as_dicts()

    def edit_canvas_as_person(self, canvas_id: str, heading: str, new_markdown: str) -> None:
        """A person types into a canvas: everything under the heading that reads ``heading``
        (up to the next heading) becomes ``new_markdown``. Not an API call."""
        with self._state.lock:
            document_of(self._canvas(canvas_id)).person_edits_under(heading, new_markdown)

    def rename_canvas_heading_as_person(self, canvas_id: str, heading: str, new: str) -> None:
        """A person retitles a heading of a canvas (its section id stays)."""
        with self._state.lock:
            document_of(self._canvas(canvas_id)).person_renames(heading, new)

    def _canvas(self, canvas_id: str) -> dict[str, Any]:
        canvas = self._state.canvases.get(canvas_id)
        if canvas is None:
            raise ValueError(f"no canvas {canvas_id}")
        return canvas

    def files(self) -> dict[str, dict[str, Any]]:
        """Completed uploads: file_id -> file object plus ``content`` (bytes).

        Unlike the API's file object (channels / groups / ims split by kind), ``channels``
        here lists every conversation the file was shared to.
        """
        with self._state.lock:
            out: dict[str, dict[str, Any]] = {}
            for fid, record in self._state.files.items():
                if not record["completed"]:
                    continue
                item = {k: copy.deepcopy(v) for k, v in record.items() if k != "completed"}
                item["channels"] = [*record["channels"], *record["groups"], *record["ims"]]
                out[fid] = item
            return out

    def reactions(self, channel: str, ts: str) -> list[dict[str, Any]]:
        with self._state.lock:
            message = self._state.existing_channel(channel).messages.get(ts)
            return copy.deepcopy(message.get("reactions", [])) if message else []

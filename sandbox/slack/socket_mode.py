"""Socket Mode for the fake Slack: ``apps.connections.open``, the WebSocket server its URL
points at, the open connections, envelope delivery and the acks the app sends back.

It follows docs.slack.dev/apis/events-api/using-socket-mode and
docs.slack.dev/reference/methods/apps.connections.open. Where Slack does not say, the fake chose:

* ``apps.connections.open`` reads the app-level token (``xapp-…``) from
  ``Authorization: Bearer`` only, as the docs insist; a token sent as a parameter counts as
  missing (``not_authed``). A bot token answers ``not_allowed_token_type`` (and so does the
  app token on a bot method); any other token answers ``invalid_auth``.
* The URL is ``ws://127.0.0.1:<port>/link/?ticket=<uuid>&app_id=<app id>`` where Slack answers
  ``wss://wss-primary.slack.com/link/?ticket=…``: plain TCP, no TLS. slack_sdk's builtin client
  chooses TLS by port (443) rather than by scheme, so it connects; the adapters built on
  aiohttp, websockets or websocket-client follow the scheme, for which ``ws://`` is right.
  The listener starts on a thread of its own with the first ``apps.connections.open``.
* A ticket opens one connection and does not expire. The upgrade for an unknown or spent
  ticket is refused with HTTP 403, for another path with 404.
* ``hello`` counts this app's open connections in ``num_connections`` and announces an
  ``approximate_connection_time`` of 18060 s (360 s with ``&debug_reconnects=true``); the fake
  never refreshes a connection by itself.
* Envelopes go to the newest open connection (Slack picks any of up to ten; the fake enforces no
  limit). ``retry_attempt``/``retry_reason`` are sent on ``events_api`` envelopes only.
  ``accepts_response_payload`` defaults to true for ``slash_commands`` and for the interactive
  ``view_submission``/``block_suggestion`` payloads, whose answers Slack reads.
* An ack is a text message naming an envelope the fake sent; the first counts, and its
  ``payload`` is recorded (``{}`` when absent or not an object). Slack's three-second deadline
  and its retries of unacknowledged events are not modelled.
* ``disconnect`` messages are only sent: the socket stays open, and the client is expected to
  reconnect and drop it (Slack closes it some seconds later).
* Client pings are answered with pongs carrying their payload. Slack pings its clients too, at
  an interval it does not document; the fake pings every half second, which also lets
  slack_sdk's builtin client, blocked in ``recv`` for up to 3 s, close promptly. Pongs are not
  checked. A client hanging up with or without a close frame is an ordinary disconnect
  (slack_sdk's builtin client never sends one).

The WebSocket plumbing is ``sandbox.slack.socket_server``; this module is what it means.
"""

from __future__ import annotations

import copy
import json
import secrets
import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode

from sandbox.slack import oauth
from sandbox.slack.base import ApiError, JsonDict
from sandbox.slack.socket_frames import HandshakeError, Upgrade
from sandbox.slack.socket_server import SocketConnection, SocketServer

if TYPE_CHECKING:
    from sandbox.slack.state import SlackState

OPEN_METHOD = "apps.connections.open"
ENVELOPE_KINDS = frozenset({"events_api", "slash_commands", "interactive"})
_ANSWERED_INTERACTIONS = frozenset({"view_submission", "block_suggestion"})
CONNECTION_TIME = 18060
DEBUG_CONNECTION_TIME = 360


class SocketModeHub:
    """The Socket Mode side of the fake's one app: its token, server, connections and acks.

    Its data lives under the fake's one lock (``SlackState.lock``) and each change notifies
    ``SlackState.changed``, so ``FakeSlack``'s ``wait_for*`` helpers work on it unchanged.
    It is the ``socket_server.Endpoint`` its server calls back.
    """

    def __init__(self, st: SlackState, *, app_token: str, app_id: str) -> None:
        self.st = st
        self.app_token = app_token
        self.app_id = app_id
        self._server: SocketServer | None = None
        self._tickets: set[str] = set()
        self._opened = 0
        self._open: dict[int, SocketConnection] = {}
        self.envelopes: dict[str, JsonDict] = {}
        self.acks: dict[str, JsonDict] = {}
        self.strays: list[str] = []  # client messages that acknowledged nothing
        self.closures: list[tuple[int, int, str]] = []  # (connection, close code, reason)

    # --- apps.connections.open (the caller holds the lock) ----------------------------------

    def is_app_token(self, token: str) -> bool:
        return secrets.compare_digest(token.encode("utf-8"), self.app_token.encode("utf-8"))

    def open_connection(self, token: str | None) -> JsonDict:
        if token is None:
            raise ApiError("not_authed")
        if not self.is_app_token(token):
            bot = oauth.config_for_token(self.st, token)
            raise ApiError("invalid_auth" if bot is None else "not_allowed_token_type")
        if self._server is None:
            self._server = SocketServer(self)
        ticket = str(uuid.uuid4())
        self._tickets.add(ticket)
        query = urlencode({"ticket": ticket, "app_id": self.app_id})
        return {"ok": True, "url": f"ws://127.0.0.1:{self._server.port}/link/?{query}"}

    # --- the façade's side (takes the lock itself) --------------------------------------------

    def open_count(self) -> int:
        with self.st.lock:
            return len(self._open)

    def ack(self, envelope_id: str) -> JsonDict | None:
        with self.st.lock:
            found = self.acks.get(envelope_id)
            return copy.deepcopy(found) if found is not None else None

    def send_envelope(
        self,
        kind: str,
        payload: JsonDict,
        *,
        accepts_response_payload: bool | None,
        retry_attempt: int,
        retry_reason: str,
    ) -> str:
        """Deliver one request to the newest open connection; its envelope id."""
        if kind not in ENVELOPE_KINDS:
            raise ValueError(f"kind must be one of {sorted(ENVELOPE_KINDS)}, not {kind!r}")
        if kind != "events_api" and (retry_attempt or retry_reason):
            raise ValueError("only events_api envelopes carry retry_attempt / retry_reason")
        if accepts_response_payload is None:
            accepts_response_payload = kind == "slash_commands" or (
                kind == "interactive" and payload.get("type") in _ANSWERED_INTERACTIONS
            )
        envelope_id = str(uuid.uuid4())
        envelope: JsonDict = {
            "envelope_id": envelope_id,
            "type": kind,
            "accepts_response_payload": accepts_response_payload,
            "payload": copy.deepcopy(payload),
        }
        if kind == "events_api":
            envelope.update(retry_attempt=retry_attempt, retry_reason=retry_reason)
        with self.st.lock:
            newest_first = [self._open[n] for n in sorted(self._open, reverse=True)]
            self.envelopes[envelope_id] = envelope  # before sending: the ack may be quick
        for conn in newest_first:
            try:
                conn.send_json(envelope)
                return envelope_id
            except OSError:
                continue  # going away; its reader thread drops it
        with self.st.lock:
            del self.envelopes[envelope_id]
        raise RuntimeError("no open Socket Mode connection: connect a client first")

    def disconnect_all(self, reason: str) -> int:
        """Send a ``disconnect`` message on every open connection; how many got it."""
        sent = 0
        for conn in self.connections():
            message = {"type": "disconnect", "reason": reason, "debug_info": {"host": conn.host}}
            try:
                conn.send_json(message)
                sent += 1
            except OSError:
                continue
        return sent

    def close(self, timeout: float = 2.0) -> None:
        """Stop the server, close every connection (1001) and wait briefly for the readers.
        The next ``apps.connections.open`` starts a new server."""
        with self.st.lock:
            server, self._server = self._server, None
            self._tickets.clear()
        if server is not None:
            server.stop(timeout)
        deadline = time.monotonic() + timeout
        with self.st.changed:
            while self._open and deadline > time.monotonic():
                self.st.changed.wait(deadline - time.monotonic())

    # --- socket_server.Endpoint (called on connection threads) ----------------------------------

    def connections(self) -> list[SocketConnection]:
        with self.st.lock:
            return list(self._open.values())

    def admit(self, upgrade: Upgrade, conn: SocketConnection) -> JsonDict:
        """Spend the ticket and register the connection; the hello to send. Registering before
        the 101 goes out means a client whose ``connect()`` returned is already deliverable."""
        if upgrade.path != "/link/":
            raise HandshakeError(404, "no such Socket Mode endpoint")
        query = parse_qs(upgrade.query)
        ticket = query.get("ticket", [""])[0]
        debug = query.get("debug_reconnects", [""])[0] == "true"
        with self.st.lock:
            if ticket not in self._tickets:
                raise HandshakeError(403, "invalid or already used ticket")
            self._tickets.discard(ticket)
            self._opened += 1
            conn.number = self._opened
            self._open[conn.number] = conn
            self.st.changed.notify_all()
            started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
            return {
                "type": "hello",
                "num_connections": len(self._open),
                "debug_info": {
                    "host": conn.host,
                    "started": started,
                    "build_number": 1,
                    "approximate_connection_time": DEBUG_CONNECTION_TIME
                    if debug
                    else CONNECTION_TIME,
                },
                "connection_info": {"app_id": self.app_id},
            }

    def receive(self, text: str) -> None:
        """Record an ack of an envelope the fake sent (the first one counts); else a stray."""
        try:
            message: Any = json.loads(text)
        except ValueError:
            message = None
        envelope_id = message.get("envelope_id") if isinstance(message, dict) else None
        with self.st.lock:
            if isinstance(envelope_id, str) and envelope_id in self.envelopes:
                payload = message.get("payload")
                self.acks.setdefault(envelope_id, payload if isinstance(payload, dict) else {})
            else:
                self.strays.append(text)
            self.st.changed.notify_all()

    def drop(self, conn: SocketConnection, code: int, reason: str) -> None:
        with self.st.lock:
            if self._open.pop(conn.number, None) is not None:
                self.closures.append((conn.number, code, reason))
                self.st.changed.notify_all()

"""The fake's Socket Mode, driven by slack_sdk's builtin SocketModeClient, by Bolt's
SocketModeHandler, and by a raw WebSocket client for the protocol edges they never reach."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from slack_bolt import Ack, App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk import WebClient
from slack_sdk.socket_mode.builtin import SocketModeClient
from slack_sdk.socket_mode.client import BaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from sandbox.slack.fake import FakeSlack, FakeSlackTimeout
from tests.slack_fake.support import error_of, post

WAIT = 10.0  # slack_sdk's close() can wait up to 3 s for its receive lock


def until(ready: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    """Poll a client-side condition against a deadline (the fake's own waits cover its side)."""
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.01)


def slash_command(fake: FakeSlack, text: str = "") -> dict[str, Any]:
    """The form fields Slack would POST for ``/pm``, as the JSON object Socket Mode sends."""
    return {
        "token": "verification-token",
        "team_id": fake.team_id,
        "team_domain": fake.team_domain,
        "channel_id": "C0001",
        "channel_name": "incidents",
        "user_id": "U1",
        "user_name": "ada",
        "command": "/pm",
        "text": text,
        "api_app_id": "A0001",
        "is_enterprise_install": "false",
        "response_url": fake.new_response_url(),
        "trigger_id": fake.new_trigger_id(),
    }


def app_mention(fake: FakeSlack) -> dict[str, Any]:
    """An Events API body, as Slack would POST it to a Request URL."""
    return {
        "token": "verification-token",
        "team_id": fake.team_id,
        "api_app_id": "A0001",
        "type": "event_callback",
        "event_id": "Ev0001",
        "event_time": 1_700_000_000,
        "authorizations": [{"team_id": fake.team_id, "user_id": "UBOT0001", "is_bot": True}],
        "event": {
            "type": "app_mention",
            "user": "U1",
            "text": "<@UBOT0001> status",
            "ts": "1700000000.000100",
            "channel": "C0001",
            "event_ts": "1700000000.000100",
        },
    }


class Recorder:
    """A SocketModeClient's raw messages and requests; acks requests as ``answer`` says."""

    def __init__(self, answer: Callable[[SocketModeRequest], dict[str, Any] | None]) -> None:
        self.answer = answer
        self.messages: list[dict[str, Any]] = []
        self.requests: list[SocketModeRequest] = []

    def on_message(self, raw: str) -> None:
        self.messages.append(json.loads(raw))

    def on_request(self, client: BaseSocketModeClient, request: SocketModeRequest) -> None:
        self.requests.append(request)
        response = SocketModeResponse(request.envelope_id, payload=self.answer(request))
        client.send_socket_mode_response(response)

    def hellos(self) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("type") == "hello"]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder(lambda request: {"text": f"pong {request.payload.get('text', '')}"})


@pytest.fixture
def sm_client(fake: FakeSlack, recorder: Recorder) -> Iterator[SocketModeClient]:
    """slack_sdk's builtin client, connected; closed (and seen gone) after the test."""
    client = SocketModeClient(
        app_token=fake.app_token,
        web_client=WebClient(base_url=fake.api_url),
        on_message_listeners=[recorder.on_message],
    )
    client.socket_mode_request_listeners.append(recorder.on_request)
    client.connect()
    yield client
    client.close()
    fake.wait_for_socket_connections(0, timeout=WAIT)


# --- apps.connections.open ----------------------------------------------------------------


def test_connections_open_wants_the_app_token_as_bearer(fake: FakeSlack) -> None:
    web = WebClient(base_url=fake.api_url)
    url = urlsplit(web.apps_connections_open(app_token=fake.app_token)["url"])
    assert (url.scheme, url.hostname, url.path) == ("ws", "127.0.0.1", "/link/")
    query = parse_qs(url.query)
    assert query["app_id"] == ["A0001"] and len(query["ticket"][0]) == 36

    assert error_of(lambda: web.apps_connections_open(app_token=fake.bot_token)) == (
        "not_allowed_token_type"
    )
    assert error_of(lambda: web.apps_connections_open(app_token="xapp-1-A0001-nope")) == (
        "invalid_auth"
    )
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    _, _, missing = post(f"{fake.api_url}apps.connections.open", b"", form)
    in_body = f"token={fake.app_token}".encode()
    _, _, as_param = post(f"{fake.api_url}apps.connections.open", in_body, form)
    assert json.loads(missing)["error"] == json.loads(as_param)["error"] == "not_authed"

    # The app-level token opens sockets and nothing else.
    as_app = WebClient(base_url=fake.api_url, token=fake.app_token)
    assert error_of(lambda: as_app.auth_test()) == "not_allowed_token_type"

    calls = fake.calls_to("apps.connections.open")
    assert [c.response["ok"] for c in calls] == [True, False, False, False, False]
    assert calls[0].headers["Authorization"] == f"Bearer {fake.app_token}"
    assert fake.socket_mode_connections() == 0  # a URL is not a connection


def test_injected_faults_apply_to_connections_open(fake: FakeSlack) -> None:
    fake.fail("apps.connections.open", "access_denied")
    web = WebClient(base_url=fake.api_url)
    assert error_of(lambda: web.apps_connections_open(app_token=fake.app_token)) == (
        "access_denied"
    )
    assert web.apps_connections_open(app_token=fake.app_token)["ok"] is True


# --- slack_sdk's builtin client -------------------------------------------------------------


def test_hello_then_a_slash_command_is_acked_with_a_payload(
    fake: FakeSlack, sm_client: SocketModeClient, recorder: Recorder
) -> None:
    assert sm_client.is_connected() and fake.socket_mode_connections() == 1
    until(lambda: bool(recorder.hellos()), "hello")
    hello = recorder.hellos()[0]
    assert hello["num_connections"] == 1 and hello["connection_info"] == {"app_id": "A0001"}
    assert hello["debug_info"]["approximate_connection_time"] == 18060

    command = slash_command(fake, text="x" * 5000)  # a 16-bit length frame, both directions
    envelope_id = fake.send_socket_envelope("slash_commands", command)
    assert fake.wait_for_socket_ack(envelope_id, timeout=WAIT) == {"text": "pong " + "x" * 5000}
    (request,) = recorder.requests
    assert (request.envelope_id, request.type) == (envelope_id, "slash_commands")
    assert request.payload == command and request.accepts_response_payload is True
    assert request.retry_attempt is None  # retries are an Events API matter
    assert len(fake.calls_to("apps.connections.open")) == 1


def test_events_api_envelope_and_a_bare_ack(fake: FakeSlack, recorder: Recorder) -> None:
    recorder.answer = lambda request: None
    client = SocketModeClient(app_token=fake.app_token, web_client=WebClient(base_url=fake.api_url))
    client.socket_mode_request_listeners.append(recorder.on_request)
    try:
        client.connect()
        body = app_mention(fake)
        envelope_id = fake.send_socket_envelope(
            "events_api", body, retry_attempt=1, retry_reason="timeout"
        )
        assert fake.wait_for_socket_ack(envelope_id, timeout=WAIT) == {}
        (request,) = recorder.requests
        assert request.type == "events_api" and request.payload == body
        assert request.accepts_response_payload is False
        assert (request.retry_attempt, request.retry_reason) == (1, "timeout")
    finally:
        client.close()
    fake.wait_for_socket_connections(0, timeout=WAIT)


def test_client_close_is_seen_by_the_fake(fake: FakeSlack, recorder: Recorder) -> None:
    client = SocketModeClient(app_token=fake.app_token, web_client=WebClient(base_url=fake.api_url))
    client.connect()
    fake.wait_for_socket_connections(1)
    client.close()
    fake.wait_for_socket_connections(0, timeout=WAIT)
    with pytest.raises(RuntimeError, match="no open Socket Mode connection"):
        fake.send_socket_envelope("slash_commands", slash_command(fake))


def test_disconnect_message_makes_the_client_reconnect(
    fake: FakeSlack, sm_client: SocketModeClient, recorder: Recorder
) -> None:
    until(lambda: len(recorder.hellos()) == 1, "the first hello")
    assert fake.disconnect_socket_clients("refresh_requested") == 1

    fake.wait_for("apps.connections.open", 2, timeout=WAIT)
    until(lambda: len(recorder.hellos()) == 2, "a hello on a new connection")
    first, second = recorder.hellos()
    assert first["debug_info"]["host"] != second["debug_info"]["host"]
    fake.wait_for_socket_connections(1, timeout=WAIT)  # the client dropped the old socket
    disconnects = [m for m in recorder.messages if m.get("type") == "disconnect"]
    assert [d["reason"] for d in disconnects] == ["refresh_requested"]

    envelope_id = fake.send_socket_envelope("slash_commands", slash_command(fake, "again"))
    assert fake.wait_for_socket_ack(envelope_id, timeout=WAIT) == {"text": "pong again"}


def test_unanswered_envelope_times_out(fake: FakeSlack, recorder: Recorder) -> None:
    client = SocketModeClient(app_token=fake.app_token, web_client=WebClient(base_url=fake.api_url))
    try:
        client.connect()  # no request listener: nothing acks
        envelope_id = fake.send_socket_envelope("slash_commands", slash_command(fake))
        with pytest.raises(FakeSlackTimeout, match=envelope_id):
            fake.wait_for_socket_ack(envelope_id, timeout=0.3)
    finally:
        client.close()
    fake.wait_for_socket_connections(0, timeout=WAIT)


def test_envelope_arguments_are_checked(fake: FakeSlack) -> None:
    with pytest.raises(ValueError, match="kind must be one of"):
        fake.send_socket_envelope("block_actions", {})
    with pytest.raises(ValueError, match="only events_api"):
        fake.send_socket_envelope("slash_commands", {}, retry_attempt=1)


# --- Bolt ----------------------------------------------------------------------------------


def test_bolt_socket_mode_handler_end_to_end(fake: FakeSlack) -> None:
    app = App(client=WebClient(base_url=fake.api_url, token=fake.bot_token))
    mentioned = threading.Event()

    @app.command("/pm")
    def pm(ack: Ack, command: dict[str, Any]) -> None:
        ack(text="pong" if command["text"] == "ping" else "?")

    @app.event("app_mention")
    def mention(event: dict[str, Any]) -> None:
        if event["text"] == "<@UBOT0001> status":
            mentioned.set()

    handler = SocketModeHandler(app, fake.app_token)
    try:
        handler.connect()  # type: ignore[no-untyped-call]
        envelope_id = fake.send_socket_envelope("slash_commands", slash_command(fake, "ping"))
        assert fake.wait_for_socket_ack(envelope_id, timeout=WAIT) == {"text": "pong"}
        envelope_id = fake.send_socket_envelope("events_api", app_mention(fake))
        assert fake.wait_for_socket_ack(envelope_id, timeout=WAIT) == {}
        assert mentioned.wait(WAIT)
        opened = fake.calls_to("apps.connections.open")
        assert len(opened) == 1 and opened[0].headers["Authorization"].endswith(fake.app_token)
    finally:
        handler.close()  # type: ignore[no-untyped-call]
    fake.wait_for_socket_connections(0, timeout=WAIT)


# --- the protocol, through a raw client -----------------------------------------------------


class RawClient:
    """Just enough of an RFC 6455 client to send what slack_sdk never would."""

    def __init__(self, url: str, *, version: str = "13") -> None:
        parts = urlsplit(url)
        self.key = base64.b64encode(os.urandom(16)).decode()
        self.sock = socket.create_connection((parts.hostname or "", parts.port or 80), timeout=5)
        request = (
            f"GET {parts.path}?{parts.query} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            "Upgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n"
            f"Sec-WebSocket-Key: {self.key}\r\nSec-WebSocket-Version: {version}\r\n\r\n"
        )
        self.sock.sendall(request.encode())
        self.reader = self.sock.makefile("rb")
        self.pings: list[bytes] = []
        self.status = int(self.reader.readline().split()[1])
        self.headers: dict[str, str] = {}
        while line := self.reader.readline().decode().strip():
            name, _, value = line.partition(":")
            self.headers[name.lower()] = value.strip()

    def send(self, opcode: int, payload: bytes, *, fin: bool = True, mask: bool = True) -> None:
        head = bytes([(0x80 if fin else 0) | opcode])
        length = len(payload)
        flag = 0x80 if mask else 0
        if length < 126:
            head += bytes([flag | length])
        else:
            head += struct.pack("!BH", flag | 126, length)
        if mask:
            key = os.urandom(4)
            payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
            head += key
        self.sock.sendall(head + payload)

    def recv(self, *, skip_pings: bool = True) -> tuple[int, bytes]:
        """The next frame, passing over (and keeping) the fake's pings unless told not to."""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            b1, b2 = self.reader.read(2)
            assert b2 & 0x80 == 0, "server frames are never masked"
            length = b2 & 0x7F
            if length == 126:
                length = struct.unpack("!H", self.reader.read(2))[0]
            opcode, data = b1 & 0x0F, self.reader.read(length)
            if opcode != 0x9 or not skip_pings:
                return opcode, data
            self.pings.append(data)
        raise AssertionError("only pings for 5 s")

    def recv_json(self) -> dict[str, Any]:
        opcode, data = self.recv()
        assert opcode == 0x1
        result: dict[str, Any] = json.loads(data)
        return result

    def close(self) -> None:
        self.reader.close()
        self.sock.close()


@pytest.fixture
def raw(fake: FakeSlack) -> Iterator[Callable[..., RawClient]]:
    """Opens raw clients on fresh tickets; closes them and waits for the fake to see it."""
    opened: list[RawClient] = []

    def open_raw(url: str | None = None, **kwargs: Any) -> RawClient:
        web = WebClient(base_url=fake.api_url)
        url = url or web.apps_connections_open(app_token=fake.app_token)["url"]
        client = RawClient(url, **kwargs)
        opened.append(client)
        return client

    yield open_raw
    for client in opened:
        client.close()
    fake.wait_for_socket_connections(0, timeout=WAIT)


def test_handshake_hello_ping_and_close(fake: FakeSlack, raw: Callable[..., RawClient]) -> None:
    client = raw()
    expected = hashlib.sha1((client.key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode())
    assert client.status == 101 and client.headers["upgrade"] == "websocket"
    assert client.headers["sec-websocket-accept"] == base64.b64encode(expected.digest()).decode()
    assert client.recv_json()["type"] == "hello"
    opcode, stamp = client.recv(skip_pings=False)  # nothing else to send: the fake's ping
    assert opcode == 0x9 and stamp.startswith(b"applink-fake-")

    client.send(0x9, b"are you there")
    assert client.recv() == (0xA, b"are you there")
    client.send(0x8, struct.pack("!H", 1000) + b"bye")
    assert client.recv() == (0x8, struct.pack("!H", 1000))  # the code, echoed
    fake.wait_for_socket_connections(0, timeout=WAIT)


def test_raw_ack_records_its_payload_once(fake: FakeSlack, raw: Callable[..., RawClient]) -> None:
    client = raw()
    client.recv_json()  # hello
    envelope_id = fake.send_socket_envelope(
        "interactive", {"type": "view_submission", "view": {"id": "V1"}}
    )
    envelope = client.recv_json()
    assert envelope["envelope_id"] == envelope_id and envelope["accepts_response_payload"]
    assert "retry_attempt" not in envelope
    client.send(0x1, b'{"envelope_id": "not-sent-by-the-fake", "payload": {}}')
    client.send(0x1, json.dumps({"envelope_id": envelope_id, "payload": {"a": 1}}).encode())
    client.send(0x1, json.dumps({"envelope_id": envelope_id, "payload": {"a": 2}}).encode())
    assert fake.wait_for_socket_ack(envelope_id) == {"a": 1}
    with pytest.raises(FakeSlackTimeout):
        fake.wait_for_socket_ack("not-sent-by-the-fake", timeout=0.2)


def test_refused_upgrades(fake: FakeSlack, raw: Callable[..., RawClient]) -> None:
    url = WebClient(base_url=fake.api_url).apps_connections_open(app_token=fake.app_token)["url"]
    assert raw(url, version="8").status == 426  # ticket survives a refused version
    assert raw(url).status == 101
    assert raw(url).status == 403  # a ticket opens one connection
    assert raw(url.replace("/link/", "/other/")).status == 404
    assert raw(url.replace("ticket=", "ticket=x")).status == 403


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ({"opcode": 0x1, "payload": b"{}", "mask": False}, 1002),  # clients must mask
        ({"opcode": 0x1, "payload": b'{"a"', "fin": False}, 1003),  # no fragmentation
        ({"opcode": 0x2, "payload": b"\x00"}, 1003),  # no binary messages
        ({"opcode": 0x1, "payload": b"\xff"}, 1007),  # text must be UTF-8
    ],
)
def test_refused_frames_close_the_connection(
    fake: FakeSlack, raw: Callable[..., RawClient], frame: dict[str, Any], code: int
) -> None:
    client = raw()
    client.recv_json()  # hello
    fake.wait_for_socket_connections(1)
    client.send(**frame)
    opcode, data = client.recv()
    assert opcode == 0x8 and struct.unpack("!H", data[:2])[0] == code and data[2:]
    client.close()
    fake.wait_for_socket_connections(0, timeout=WAIT)

"""The WebSocket plumbing under the fake's Socket Mode: a TCP listener on a thread of its own,
a thread per connection (handshake, then frames until either side closes) and a pinger.

What the traffic means (tickets, ``hello``, envelopes, acks) belongs to
``sandbox.slack.socket_mode``, reached through the ``Endpoint`` protocol; the frames themselves
are ``sandbox.slack.socket_frames``. Writes to one connection go through its own lock, which is
never taken while the fake's state lock is held, so neither thread can deadlock the other.
"""

from __future__ import annotations

import contextlib
import json
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol, cast

from sandbox.slack.base import JsonDict
from sandbox.slack.socket_frames import (
    ABNORMAL,
    GOING_AWAY,
    INVALID_PAYLOAD,
    OP_BINARY,
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    UNSUPPORTED_DATA,
    HandshakeError,
    ProtocolError,
    Upgrade,
    close_payload,
    encode_frame,
    parse_close,
    parse_upgrade,
    read_frame,
    read_request_head,
    switching_protocols,
)

# Slack pings its clients at an interval it does not document. Half a second also wakes
# slack_sdk's builtin client, which otherwise sits in a 3-second recv when it is told to close.
PING_INTERVAL = 0.5

Reader = Callable[[int], bytes]


class SocketConnection:
    """One open WebSocket; its lock orders writes from the reader, the pinger and the tests."""

    def __init__(self, sock: socket.socket) -> None:
        self.number = 0  # given by the endpoint when it admits the connection
        self.sock = sock
        self.send_lock = threading.Lock()
        self.closed_with: tuple[int, str] | None = None  # set when the fake closes it

    @property
    def host(self) -> str:
        return f"applink-fake-{self.number}"

    def send_json(self, message: JsonDict) -> None:
        self.send_frame(OP_TEXT, json.dumps(message).encode("utf-8"))

    def send_frame(self, opcode: int, payload: bytes) -> None:
        with self.send_lock:
            self.sock.sendall(encode_frame(opcode, payload))

    def close(self, code: int, reason: str) -> None:
        """Close from the server side: a close frame, then both directions shut, which ends
        the reader thread (and so drops the connection)."""
        self.closed_with = (code, reason)
        with contextlib.suppress(OSError):
            self.send_frame(OP_CLOSE, close_payload(code, reason))
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)


class Endpoint(Protocol):
    """What the plumbing asks of Socket Mode."""

    def admit(self, upgrade: Upgrade, conn: SocketConnection) -> JsonDict:
        """Register ``conn`` and return the hello for it; HandshakeError to refuse it."""
        ...

    def receive(self, text: str) -> None:
        """One text message from a client."""
        ...

    def drop(self, conn: SocketConnection, code: int, reason: str) -> None:
        """``conn`` is gone (``code`` 1006: without a close frame)."""
        ...

    def connections(self) -> list[SocketConnection]:
        """The open connections, for the pinger."""
        ...


class SocketServer:
    """Listens on an ephemeral 127.0.0.1 port from construction until ``stop()``."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self._listener = _Listener(self)
        self._stopped = threading.Event()
        self._threads = [
            threading.Thread(
                target=self._listener.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="fake-slack-socket-mode",
                daemon=True,
            ),
            threading.Thread(target=self._ping, name="fake-slack-socket-pings", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    @property
    def port(self) -> int:
        return int(self._listener.server_address[1])

    def stop(self, timeout: float = 2.0) -> None:
        """Stop accepting and pinging, then close every open connection with 1001."""
        self._stopped.set()
        self._listener.shutdown()
        self._listener.server_close()
        for thread in self._threads:
            thread.join(timeout)
        for conn in self.endpoint.connections():
            conn.close(GOING_AWAY, "FakeSlack is stopping")

    def _ping(self) -> None:
        while not self._stopped.wait(PING_INTERVAL):
            for conn in self.endpoint.connections():
                with contextlib.suppress(OSError):
                    conn.send_frame(OP_PING, f"{conn.host}:{time.time():.3f}".encode())

    def serve(self, sock: socket.socket, readline: Reader, read: Reader) -> None:
        """One connection: handshake, hello, then frames until the client or the fake closes."""
        endpoint, conn = self.endpoint, SocketConnection(sock)
        try:
            upgrade = parse_upgrade(read_request_head(readline))
            with conn.send_lock:  # nothing may reach the client before the 101 and the hello
                hello = endpoint.admit(upgrade, conn)
                sock.sendall(switching_protocols(upgrade.key))
                sock.sendall(encode_frame(OP_TEXT, json.dumps(hello).encode("utf-8")))
        except HandshakeError as exc:
            with contextlib.suppress(OSError):
                sock.sendall(exc.response())
            return
        except OSError:
            endpoint.drop(conn, ABNORMAL, "lost during the handshake")
            return
        code, reason = ABNORMAL, "closed without a close frame"
        try:
            code, reason = _read_frames(endpoint, conn, read)
        except ProtocolError as exc:
            code, reason = exc.code, exc.reason
            _refuse(conn, read, exc)
        except OSError:
            pass
        finally:
            endpoint.drop(conn, *(conn.closed_with or (code, reason)))


def _read_frames(endpoint: Endpoint, conn: SocketConnection, read: Reader) -> tuple[int, str]:
    """Frames until the client closes: (close code, reason)."""
    while True:
        frame = read_frame(read)
        if frame is None:
            return ABNORMAL, "closed without a close frame"
        if frame.opcode == OP_PING:
            conn.send_frame(OP_PONG, frame.payload)
        elif frame.opcode == OP_CLOSE:
            code, reason = parse_close(frame.payload)
            with contextlib.suppress(OSError):
                conn.send_frame(OP_CLOSE, frame.payload[:2])  # echo the code (RFC 6455 §5.5.1)
            return code, reason
        elif frame.opcode == OP_TEXT:
            try:
                text = frame.payload.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ProtocolError(INVALID_PAYLOAD, "text frame is not UTF-8") from exc
            endpoint.receive(text)
        elif frame.opcode == OP_BINARY:
            raise ProtocolError(UNSUPPORTED_DATA, "Socket Mode messages are text, not binary")
        # OP_PONG answers the fake's pings; pongs are not checked (§5.5.3 allows unsolicited ones)


def _refuse(conn: SocketConnection, read: Reader, error: ProtocolError) -> None:
    """Close with the error's code, then drain until the client hangs up (at most a second),
    so the close frame is not lost to a TCP reset caused by unread data."""
    with contextlib.suppress(OSError):
        conn.send_frame(OP_CLOSE, close_payload(error.code, error.reason))
        conn.sock.shutdown(socket.SHUT_WR)
        conn.sock.settimeout(1.0)
        while read(4096):
            pass


class _Listener(socketserver.ThreadingTCPServer):
    daemon_threads = True

    def __init__(self, server: SocketServer) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.socket_server = server

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # a client hung up; nothing to report
        super().handle_error(request, client_address)


class _Handler(socketserver.StreamRequestHandler):
    disable_nagle_algorithm = True

    def handle(self) -> None:
        server = cast(_Listener, self.server).socket_server
        server.serve(cast(socket.socket, self.request), self.rfile.readline, self.rfile.read)

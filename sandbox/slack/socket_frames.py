"""The server side of RFC 6455, as much of it as Socket Mode needs, on the standard library.

Socket Mode speaks small JSON text messages, so the fake implements the opening handshake,
unfragmented text frames and the close / ping / pong control frames. Everything else is
refused loudly rather than half-supported: a fragmented message or a binary frame closes the
connection with 1003 and a reason saying so, an unmasked client frame or a reserved bit with
1002 (RFC 6455 §5.1, §5.2), a message over ``MAX_MESSAGE`` bytes with 1009. No extension or
subprotocol is ever negotiated, so permessage-deflate offers are simply not accepted.

Pure functions and value types only; ``sandbox.slack.socket_mode`` owns the sockets.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3

OP_CONTINUATION = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA
_DATA_OPCODES = frozenset({OP_CONTINUATION, OP_TEXT, OP_BINARY})
_CONTROL_OPCODES = frozenset({OP_CLOSE, OP_PING, OP_PONG})

# Close codes (RFC 6455 §7.4.1).
NORMAL = 1000
GOING_AWAY = 1001
PROTOCOL_ERROR = 1002
UNSUPPORTED_DATA = 1003
NO_STATUS = 1005  # never sent: what a close frame without a payload means
ABNORMAL = 1006  # never sent: what a connection dropped without a close frame means
INVALID_PAYLOAD = 1007
TOO_BIG = 1009
_RESERVED_CLOSE_CODES = frozenset({1004, 1005, 1006, 1015})

MAX_MESSAGE = 1 << 20  # Socket Mode acks are a few KB at most
MAX_LINE = 8192
MAX_HEADER_LINES = 100


class HandshakeError(Exception):
    """An upgrade request the fake refuses, answered with a plain HTTP error response."""

    def __init__(self, status: int, reason: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason
        self.headers = headers or {}

    def response(self) -> bytes:
        return http_response(self.status, self.headers, self.reason.encode("utf-8"))


class ProtocolError(Exception):
    """A frame the fake refuses; the connection is closed with ``code`` and ``reason``."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"{code} {reason}")
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class Upgrade:
    """A valid opening handshake: the request target and the client's key."""

    path: str
    query: str
    key: str
    headers: dict[str, str]  # names lower-cased, repeated headers joined with ", "


@dataclass(frozen=True)
class Frame:
    opcode: int
    payload: bytes  # unmasked


def accept_key(key: str) -> str:
    """``Sec-WebSocket-Accept`` for a client's ``Sec-WebSocket-Key`` (RFC 6455 §4.2.2)."""
    digest = hashlib.sha1((key + GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


def read_request_head(readline: Callable[[int], bytes]) -> list[str]:
    """The request line and header lines, up to the blank line; ConnectionError on EOF."""
    lines: list[str] = []
    while True:
        raw = readline(MAX_LINE + 1)
        if not raw:
            raise ConnectionError("connection closed during the opening handshake")
        if len(raw) > MAX_LINE:
            raise HandshakeError(431, "request header line too long")
        line = raw.decode("latin-1").rstrip("\r\n")
        if not line:
            if lines:
                return lines
            continue  # RFC 9112 §2.2: ignore empty lines before the request line
        lines.append(line)
        if len(lines) > MAX_HEADER_LINES:
            raise HandshakeError(431, "too many request header lines")


def parse_upgrade(lines: list[str]) -> Upgrade:
    """Check a client's opening handshake (RFC 6455 §4.2.1); HandshakeError when it is not one."""
    parts = lines[0].split(" ")
    if len(parts) != 3:
        raise HandshakeError(400, "malformed request line")
    method, target, version = parts
    if method != "GET":
        raise HandshakeError(405, "a WebSocket upgrade is a GET", {"Allow": "GET"})
    if version != "HTTP/1.1":
        raise HandshakeError(400, "a WebSocket upgrade needs HTTP/1.1")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise HandshakeError(400, "malformed header line")
        key = name.strip().lower()
        headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    if "host" not in headers:
        raise HandshakeError(400, "missing Host header")
    if "websocket" not in _tokens(headers.get("upgrade", "")):
        raise HandshakeError(400, "missing Upgrade: websocket")
    if "upgrade" not in _tokens(headers.get("connection", "")):
        raise HandshakeError(400, "missing Connection: Upgrade")
    if headers.get("sec-websocket-version") != "13":
        raise HandshakeError(426, "only WebSocket version 13", {"Sec-WebSocket-Version": "13"})
    key = headers.get("sec-websocket-key", "")
    try:
        valid_key = len(base64.b64decode(key, validate=True)) == 16
    except (binascii.Error, ValueError):
        valid_key = False
    if not valid_key:
        raise HandshakeError(400, "Sec-WebSocket-Key must be 16 bytes in base64")
    path, _, query = target.partition("?")
    return Upgrade(path=path, query=query, key=key, headers=headers)


def _tokens(value: str) -> set[str]:
    return {token.strip().lower() for token in value.split(",")}


def http_response(status: int, headers: dict[str, str], body: bytes = b"") -> bytes:
    """A complete HTTP/1.1 response that also ends the connection."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Unknown"
    head = [f"HTTP/1.1 {status} {phrase}"]
    if status != 101:
        head += [
            "Content-Type: text/plain; charset=utf-8",
            f"Content-Length: {len(body)}",
            "Connection: close",
        ]
    head += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


def switching_protocols(key: str) -> bytes:
    """The 101 answer that completes the handshake for ``key``."""
    return http_response(
        101,
        {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Accept": accept_key(key)},
    )


def encode_frame(opcode: int, payload: bytes) -> bytes:
    """One unfragmented server frame: FIN set and, as servers must (§5.1), unmasked."""
    if opcode in _CONTROL_OPCODES and len(payload) > 125:
        raise ValueError("control frame payloads are limited to 125 bytes")
    length = len(payload)
    head = bytes([0x80 | opcode])
    if length <= 125:
        head += bytes([length])
    elif length <= 0xFFFF:
        head += struct.pack("!BH", 126, length)
    else:
        head += struct.pack("!BQ", 127, length)
    return head + payload


def read_frame(read: Callable[[int], bytes], max_size: int = MAX_MESSAGE) -> Frame | None:
    """The next client frame, unmasked. None on EOF between frames (the peer hung up);
    ConnectionError on EOF inside one; ProtocolError for frames the fake refuses."""
    head = read(2)
    if not head:
        return None
    if len(head) < 2:
        raise ConnectionError("connection closed inside a frame header")
    fin, reserved, opcode = head[0] & 0x80, head[0] & 0x70, head[0] & 0x0F
    masked, length = head[1] & 0x80, head[1] & 0x7F
    if reserved:
        raise ProtocolError(PROTOCOL_ERROR, "reserved bits set but no extension was negotiated")
    if opcode in _CONTROL_OPCODES:
        if not fin:
            raise ProtocolError(PROTOCOL_ERROR, "control frames must not be fragmented")
        if length > 125:
            raise ProtocolError(PROTOCOL_ERROR, "control frame payload over 125 bytes")
    elif opcode not in _DATA_OPCODES:
        raise ProtocolError(PROTOCOL_ERROR, f"unknown opcode {opcode:#x}")
    elif not fin or opcode == OP_CONTINUATION:
        raise ProtocolError(UNSUPPORTED_DATA, "fragmented messages are not supported by FakeSlack")
    if not masked:
        raise ProtocolError(PROTOCOL_ERROR, "client frames must be masked")
    if length == 126:
        length = struct.unpack("!H", _exact(read, 2))[0]
    elif length == 127:
        length = struct.unpack("!Q", _exact(read, 8))[0]
    if length > max_size:
        raise ProtocolError(TOO_BIG, f"message over {max_size} bytes")
    mask = _exact(read, 4)
    return Frame(opcode, unmask(_exact(read, length), mask))


def _exact(read: Callable[[int], bytes], size: int) -> bytes:
    data = read(size) if size else b""
    if len(data) < size:
        raise ConnectionError("connection closed inside a frame")
    return data


def unmask(data: bytes, mask: bytes) -> bytes:
    """XOR ``data`` with the repeating 4-byte ``mask`` (§5.3), as one big-integer operation."""
    if not data:
        return data
    key = (mask * (len(data) // 4 + 1))[: len(data)]
    value = int.from_bytes(data, "big") ^ int.from_bytes(key, "big")
    return value.to_bytes(len(data), "big")


def close_payload(code: int, reason: str = "") -> bytes:
    """A close frame's body: the code, then a UTF-8 reason cut to fit in 125 bytes."""
    text = reason.encode("utf-8")[:123].decode("utf-8", "ignore")
    return struct.pack("!H", code) + text.encode("utf-8")


def parse_close(payload: bytes) -> tuple[int, str]:
    """(code, reason) of a client's close frame; 1005 when it carried no code (§7.1.5)."""
    if not payload:
        return NO_STATUS, ""
    if len(payload) == 1:
        raise ProtocolError(PROTOCOL_ERROR, "close payload of a single byte")
    (code,) = struct.unpack("!H", payload[:2])
    if code < 1000 or code in _RESERVED_CLOSE_CODES or 1016 <= code < 3000 or code >= 5000:
        raise ProtocolError(PROTOCOL_ERROR, f"invalid close code {code}")
    try:
        return code, payload[2:].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError(INVALID_PAYLOAD, "close reason is not UTF-8") from exc

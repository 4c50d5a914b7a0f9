"""A TCP proxy for tests that need a sick dependency: it forwards a loopback port to a real
server (PostgreSQL, say) and can stop doing so in the two ways a real outage looks.

- `stall()`: the server "stops answering". Every byte either way is held back, and connections
  stay open, old and new alike (new ones are accepted and then hear nothing). This is a frozen
  host, a saturated server or a network path that swallows packets: nothing fails, nothing
  answers, which is what timeouts exist for.
- `refuse()`: the server is down. Open connections are reset and new ones are refused
  (ECONNREFUSED), as when the process has died or is restarting.
- `resume()`: back to forwarding. Bytes held by a stall are delivered then, so a connection
  that waited through it carries on; after `refuse()` the port listens again.

One thread accepts, two per connection pump bytes. A pump holds what it read while stalled and
sends it on resume, so whatever the kernel had accepted is neither lost nor forwarded early. A
connection accepted while stalled is connected upstream only on resume, so a stalled proxy in
front of nothing at all is a server that accepts connections and never answers.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType

from sqlalchemy.engine import make_url

_CHUNK = 65536


class TcpProxy:
    def __init__(self, target_host: str, target_port: int, *, host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.host = host
        self._forwarding = threading.Event()
        self._forwarding.set()
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._held: set[socket.socket] = set()  # accepted while stalled, not yet connected on
        self._listener: socket.socket | None = None
        self._closed = False
        self.port = 0
        self._listen()

    @classmethod
    def for_database(cls, database_url: str) -> TcpProxy:
        """A proxy in front of the server of `database_url` (host and port from the URL)."""
        url = make_url(database_url)
        return cls(url.host or "127.0.0.1", url.port or 5432)

    def database_url(self, database_url: str) -> str:
        """`database_url` pointed at this proxy instead (every other part kept)."""
        url = make_url(database_url).set(host=self.host, port=self.port)
        return url.render_as_string(hide_password=False)

    # -- the faults ---------------------------------------------------------------------------

    def stall(self) -> None:
        """Stop forwarding bytes both ways; keep every socket open; accept new connections."""
        self._forwarding.clear()

    def resume(self) -> None:
        """Forward again (held bytes first); after `refuse()`, listen again on the same port."""
        with self._lock:
            if self._listener is None and not self._closed:
                self._listen()
        self._forwarding.set()

    def refuse(self) -> None:
        """Refuse new connections and reset the open ones: the server is down."""
        with self._lock:
            listener, self._listener = self._listener, None
            pairs, self._pairs = self._pairs, []
            held, self._held = self._held, set()
        if listener is not None:
            _close(listener)
        for client in held:
            _reset(client)
        for client, upstream in pairs:
            _reset(client)
            _close(upstream)
        self._forwarding.set()  # release held pumps: their sockets are closed now

    def close(self) -> None:
        self._closed = True
        self.refuse()

    @property
    def connections(self) -> int:
        """Client connections currently open through the proxy (forwarded or held)."""
        with self._lock:
            return len(self._pairs) + len(self._held)

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- plumbing -----------------------------------------------------------------------------

    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(
            target=self._accept, args=(listener,), name=f"proxy-{self.port}", daemon=True
        ).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed by refuse() or close()
            with self._lock:
                if self._listener is not listener:  # refused meanwhile
                    _reset(client)
                    return
                self._held.add(client)
            threading.Thread(target=self._open, args=(client,), daemon=True).start()

    def _open(self, client: socket.socket) -> None:
        """Connect upstream once forwarding (a stalled proxy needs no server behind it)."""
        self._forwarding.wait()
        try:
            upstream = socket.create_connection(self.target, timeout=5)
            upstream.settimeout(None)
        except OSError:
            upstream = None
        with self._lock:
            held = client in self._held
            self._held.discard(client)
            if held and upstream is not None:
                self._pairs.append((client, upstream))
        if not held or upstream is None:  # refused meanwhile, or the server refused: so do we
            _reset(client)
            if upstream is not None:
                _close(upstream)
            return
        for source, sink in ((client, upstream), (upstream, client)):
            threading.Thread(
                target=self._pump, args=(source, sink, client, upstream), daemon=True
            ).start()

    def _pump(
        self,
        source: socket.socket,
        sink: socket.socket,
        client: socket.socket,
        upstream: socket.socket,
    ) -> None:
        try:
            while True:
                self._forwarding.wait()  # stalled: read nothing more; the kernel buffers it
                data = source.recv(_CHUNK)
                if not data:
                    break
                self._forwarding.wait()  # stalled while reading: hold this chunk until resume
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                if (client, upstream) in self._pairs:
                    self._pairs.remove((client, upstream))
            _close(client)
            _close(upstream)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


def _reset(sock: socket.socket) -> None:
    """Close with a RST, as a dead server's kernel answers (SHUT_RD wakes a blocked reader
    without sending a FIN; closing with a zero linger sends the RST)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.shutdown(socket.SHUT_RD)
    except OSError:
        pass
    sock.close()


@contextmanager
def proxied(database_url: str) -> Iterator[tuple[TcpProxy, str]]:
    """A proxy in front of `database_url`'s server, and the URL that goes through it."""
    with TcpProxy.for_database(database_url) as proxy:
        yield proxy, proxy.database_url(database_url)

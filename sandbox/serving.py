"""Serving a fake from a daemon thread, the same way for Slack, Jira and Confluence.

A fake listens on 127.0.0.1: an ephemeral port the first time, and the same port again after
`stop()`, so a service that "went down" comes back where the bot's settings point (a port just
freed may take a moment to be bound again, hence the short retry).
"""

from __future__ import annotations

import socketserver
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Self

BIND_RETRY_SECONDS = 5.0


class BackgroundServer:
    """One fake's server and the thread serving it. `make(port)` builds the server (port 0:
    any free one)."""

    def __init__(self, make: Callable[[int], socketserver.BaseServer], name: str) -> None:
        self._make = make
        self._name = name
        self._server: socketserver.BaseServer | None = None
        self._thread: threading.Thread | None = None
        self._port = 0

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> str:
        """Serve (if not already serving); the base URL."""
        if self._server is None:
            deadline = time.monotonic() + BIND_RETRY_SECONDS
            while True:
                try:
                    server = self._make(self._port)
                    break
                except OSError:
                    if not self._port or time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            address = server.server_address
            self._port = int(address[1]) if isinstance(address, tuple) else 0
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=self._name,
                daemon=True,
            )
            thread.start()
            self._server, self._thread = server, thread
        return f"http://127.0.0.1:{self._port}"

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)


class Served:
    """`with fake:` starts it and stops it, whatever happens inside."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

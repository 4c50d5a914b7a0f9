"""A local HTTP server that records every request it gets: where a forged `response_url` points,
so a test can prove the bot never contacted it (or did, for a verified request)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Hit:
    method: str
    path: str  # with the query string
    host: str  # the Host header: which name the caller used for this server
    body: bytes


class Recorder:
    """Answers 200 "ok" to anything and remembers it."""

    def __init__(self) -> None:
        self._hits: list[Hit] = []
        self._lock = threading.Lock()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length > 0 else b""
                hit = Hit(self.command, self.path, self.headers.get("Host", ""), body)
                with recorder._lock:
                    recorder._hits.append(hit)
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            do_GET = do_POST = do_PUT = _record

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass  # quiet: tests read hits, not stderr

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def hits(self) -> list[Hit]:
        with self._lock:
            return list(self._hits)

    def start(self) -> Recorder:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@contextmanager
def recording() -> Iterator[Recorder]:
    recorder = Recorder().start()
    try:
        yield recorder
    finally:
        recorder.stop()

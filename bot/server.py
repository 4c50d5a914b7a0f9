"""The bot's HTTP surface as one WSGI app, served by waitress, with a graceful stop.

Routes: `POST /slack/events` (commands, interactivity and events, all signed by Slack),
`GET /healthz`, and the public status page (`GET /status`, `/status.json`,
`/status/incidents/INC-N`; see bot.status_page).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, cast

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from waitress.server import create_server

from bot.status_page import is_status_path, serve_status
from storage.db import Database

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

log = logging.getLogger("postmortem_bot.server")

MAX_REQUEST_BYTES = 5 * 1024 * 1024  # Slack payloads are far smaller; refuse anything silly
WsgiApp = Callable[..., Iterable[bytes]]


class WebApp:
    def __init__(self, bolt_app: App, db: Database, *, status_page_title: str = "Status") -> None:
        self._slack = SlackRequestHandler(bolt_app, path="/slack/events")
        self._db = db
        self._status_title = status_page_title

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == "/healthz" and method in ("GET", "HEAD"):
            return self._healthz(start_response)
        if path == "/slack/events":
            if method != "POST":
                return _json(start_response, "405 Method Not Allowed", {"error": "POST only"})
            return self._slack(environ, start_response)
        if is_status_path(path):
            return serve_status(environ, start_response, db=self._db, title=self._status_title)
        return _json(start_response, "404 Not Found", {"error": "not found"})

    def _healthz(self, start_response: StartResponse) -> Iterable[bytes]:
        if self._db.ping():
            return _json(start_response, "200 OK", {"status": "ok"})
        return _json(start_response, "503 Service Unavailable", {"status": "database unreachable"})


def _json(start_response: StartResponse, status: str, payload: dict[str, Any]) -> list[bytes]:
    body = json.dumps(payload).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]


class HttpServer:
    """A waitress server that can stop gracefully: no new connections, in-flight requests and
    the work they started after their ack finish, then the sockets close."""

    def __init__(
        self,
        app: WsgiApp,
        *,
        host: str,
        port: int,
        threads: int = 8,
        on_drained: Callable[[], None] | None = None,
    ) -> None:
        self._server: Any = cast(
            Any,
            create_server(
                app, host=host, port=port, threads=threads, max_request_body_size=MAX_REQUEST_BYTES
            ),
        )
        self._on_drained = on_drained
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()
        self.url = f"http://{host}:{self._server.effective_port}"

    def serve_forever(self) -> None:
        log.info("listening on %s", self.url)
        self._server.run()

    def start_in_background(self) -> HttpServer:
        self._thread = threading.Thread(
            target=self._server.run, name="postmortem-bot-http", daemon=True
        )
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        deadline = time.monotonic() + timeout
        server = self._server
        server.accepting = False  # readable() turns false: no new connections are accepted
        dispatcher = server.task_dispatcher
        while (dispatcher.queue or dispatcher.active_count > 0) and time.monotonic() < deadline:
            time.sleep(0.01)
        if self._on_drained is not None:
            self._on_drained()  # work that requests started after their ack

        # Sockets must be closed by the thread running waitress's select loop (closing them from
        # here races select() into EBADF); the trigger runs this in that thread.
        def close_everything() -> None:
            for channel in list(server._map.values()):
                if channel is not server and channel is not server.trigger:
                    channel.handle_close()
            server.close()  # the listening socket and the trigger: the loop then ends

        server.trigger.pull_trigger(close_everything)
        dispatcher.shutdown(timeout=max(0.1, deadline - time.monotonic()))
        if self._thread is not None:
            self._thread.join(timeout=max(0.1, deadline - time.monotonic()))

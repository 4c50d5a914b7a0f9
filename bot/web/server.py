"""The bot's HTTP surface as one WSGI app, served by waitress, with a graceful stop.

Routes: `POST /slack/events` (commands, interactivity and events, all signed by Slack),
`GET /slack/install` and `GET /slack/oauth_redirect` (multi-workspace install only, see
bot.oauth), `POST /jira/webhook` (Jira's signed deliveries, when Jira is
configured), `GET /healthz`, `GET /metrics` (Prometheus, unsigned; see bot.metrics), and the
public status page (`GET /status`, `/status.json`, `/status/incidents/INC-N`; see
bot.status_page), and the private web view under `/app/` (bot.webapp, behind Sign in with
Slack; 404 while it is not configured).
"""

from __future__ import annotations

import json
import logging
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, cast

from slack_bolt import App, BoltRequest
from slack_bolt.adapter.wsgi import SlackRequestHandler
from waitress import wasyncore
from waitress.server import create_server

from bot.core import metrics
from bot.status.page import is_status_path, serve_status
from bot.web.observability import ObservabilityMiddleware
from bot.web.slack_events import Answer, Dispatch, SlackEvents
from bot.web.verify import VERIFIED_CONTEXT_KEY
from storage.db import Database

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

log = logging.getLogger("postmortem_bot.server")

MAX_REQUEST_BYTES = 5 * 1024 * 1024  # Slack payloads are far smaller; refuse anything silly
WsgiApp = Callable[..., Iterable[bytes]]
WEB_VIEW_MOUNT = "/app"  # bot.webapp
# (raw body, lower-cased headers) → (HTTP status, JSON answer); see bot.jira_sync.service
JiraWebhook = Callable[[bytes, Mapping[str, str]], tuple[int, dict[str, Any]]]


class WebApp:
    """`signing_secret` verifies Slack's requests (bot.web.slack_events; without it every one
    gets 401); `clock` is Unix seconds, for their timestamps."""

    def __init__(
        self,
        bolt_app: App,
        db: Database,
        *,
        signing_secret: str | None = None,
        status_page_title: str = "Status",
        metrics_enabled: bool = True,
        jira_webhook: JiraWebhook | None = None,
        clock: Callable[[], float] = time.time,
        web_view: WsgiApp | None = None,
    ) -> None:
        self._events = SlackEvents(
            signing_secret=signing_secret, db=db, dispatch=bolt_dispatch(bolt_app), clock=clock
        )
        # Bolt's own adapter serves the OAuth pages only (browser GETs, not signed by Slack).
        self._slack = SlackRequestHandler(bolt_app, path="/slack/events")
        self._jira_webhook = jira_webhook  # POST /jira/webhook, when Jira is configured
        flow = bolt_app.oauth_flow  # set in multi-workspace (OAuth) mode only
        self._oauth_paths = {flow.install_path, flow.redirect_uri_path} if flow else set()
        self._web_view = web_view  # /app/: its own WSGI app (Flask), mounted there
        self._db = db
        self._status_title = status_page_title
        self._metrics_enabled = metrics_enabled  # GET /metrics, unsigned: keep it private
        # Request ids (X-Request-Id, on every log line) and request metrics, for every route.
        self._observed = ObservabilityMiddleware(self._route)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        return self._observed(environ, start_response)

    def _route(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == "/metrics" and self._metrics_enabled and method in ("GET", "HEAD"):
            return _metrics(start_response)
        if path == "/healthz" and method in ("GET", "HEAD"):
            return self._healthz(start_response)
        if path == "/slack/events":
            if method != "POST":
                return _json(start_response, "405 Method Not Allowed", {"error": "POST only"})
            return self._events(environ, start_response)
        if path in self._oauth_paths:
            if method != "GET":
                return _json(start_response, "405 Method Not Allowed", {"error": "GET only"})
            return self._slack(environ, start_response)  # Bolt's install page and OAuth callback
        if path == "/jira/webhook":
            return self._jira(environ, start_response, method)
        if path == WEB_VIEW_MOUNT or path.startswith(WEB_VIEW_MOUNT + "/"):
            return self._app(environ, start_response, path)
        if is_status_path(path):
            return serve_status(environ, start_response, db=self._db, title=self._status_title)
        return _json(start_response, "404 Not Found", {"error": "not found"})

    def _jira(
        self, environ: WSGIEnvironment, start_response: StartResponse, method: str
    ) -> Iterable[bytes]:
        if self._jira_webhook is None:
            return _json(start_response, "404 Not Found", {"error": "Jira is not configured"})
        if method != "POST":
            return _json(start_response, "405 Method Not Allowed", {"error": "POST only"})
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        headers = {
            key[5:].replace("_", "-").lower(): str(value)
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        try:
            status, payload = self._jira_webhook(body, headers)
        except Exception:
            log.exception("Jira webhook delivery failed; Jira will retry it")
            return _json(start_response, "500 Internal Server Error", {"error": "retry later"})
        reason = {200: "OK", 400: "Bad Request", 401: "Unauthorized"}.get(status, "Error")
        return _json(start_response, f"{status} {reason}", payload)

    def _app(
        self, environ: WSGIEnvironment, start_response: StartResponse, path: str
    ) -> Iterable[bytes]:
        if self._web_view is None:
            return _json(
                start_response, "404 Not Found", {"error": "the web view is not configured"}
            )
        mounted = dict(environ)
        mounted["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + WEB_VIEW_MOUNT
        mounted["PATH_INFO"] = path[len(WEB_VIEW_MOUNT) :] or "/"
        return self._web_view(mounted, start_response)

    def _healthz(self, start_response: StartResponse) -> Iterable[bytes]:
        if self._db.ping():
            return _json(start_response, "200 OK", {"status": "ok"})
        return _json(start_response, "503 Service Unavailable", {"status": "database unreachable"})


def bolt_dispatch(app: App) -> Dispatch:
    """Hand a verified request to Bolt as the body our boundary parsed and checked (Bolt never
    re-parses the raw text), its context marked verified (handlers.middleware requires it)."""

    def dispatch(
        data: dict[str, Any], raw_body: str, headers: Mapping[str, str], query: str
    ) -> Answer:
        # Bolt takes an already parsed body only in its Socket Mode form; it is an HTTP request.
        request = BoltRequest(
            body=data,
            query=query,
            headers=dict(headers),
            context={VERIFIED_CONTEXT_KEY: True},
            mode="socket_mode",
        )
        request.mode, request.raw_body = "http", raw_body
        response = app.dispatch(request)
        headers_out = [
            (name, value) for name, values in response.headers.items() for value in values
        ]
        return Answer(response.status, response.body.encode("utf-8", "replace"), headers_out)

    return dispatch


def _metrics(start_response: StartResponse) -> list[bytes]:
    body, content_type = metrics.exposition()
    start_response("200 OK", [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]


def _json(start_response: StartResponse, status: str, payload: dict[str, Any]) -> list[bytes]:
    body = json.dumps(payload).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]


# How long a thread may keep the interpreter while another waits for it (Python's default is
# 5 ms). A thread holding SQLite's write turn lets go of the interpreter during each SQLite
# call (its COMMIT too) and then waits to get it back from threads busy parsing other requests;
# meanwhile every other writer waits for the turn. At 50 clients `/timeline help` served about
# 430-500 requests a second with the default and 690-830 with 1 ms (bare Bolt: 740-760, the
# same with either), `/timeline <text>` 360-380 and 410-440 (bench/ack.py, in turn).
SWITCH_INTERVAL_SECONDS = 0.001


class HttpServer:
    """A waitress server that can stop gracefully, within a bound: new connections are refused,
    requests already sent finish, then the work they started after their ack, then the sockets
    close.

    `threads` serve requests; bodies over `max_request_bytes` are refused (413); a connection
    idle for `channel_timeout` seconds is closed; `stop()` takes at most `shutdown_timeout`
    seconds (the settings HTTP_THREADS, HTTP_MAX_REQUEST_BYTES, HTTP_CHANNEL_TIMEOUT_SECONDS and
    SHUTDOWN_TIMEOUT_SECONDS).
    """

    def __init__(
        self,
        app: WsgiApp,
        *,
        host: str,
        port: int,
        threads: int = 8,
        max_request_bytes: int = MAX_REQUEST_BYTES,
        channel_timeout: int = 120,
        shutdown_timeout: float = 20.0,
        on_drained: Callable[[], object] | None = None,
    ) -> None:
        self._server: Any = cast(
            Any,
            create_server(
                app,
                host=host,
                port=port,
                threads=threads,
                max_request_body_size=max_request_bytes,
                channel_timeout=channel_timeout,
            ),
        )
        self._threads = threads
        self._shutdown_timeout = shutdown_timeout
        self._on_drained = on_drained
        self._thread: threading.Thread | None = None
        self._stopping = threading.Lock()
        self._stopped = threading.Event()
        self._finished_in_time = True
        self.url = f"http://{host}:{self._server.effective_port}"

    def serve_forever(self) -> None:
        """Serve in this thread until `stop()`; the process is the server's (see
        SWITCH_INTERVAL_SECONDS)."""
        sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
        log.info("listening on %s with %d threads", self.url, self._threads)
        self._server.run()

    def start_in_background(self) -> HttpServer:
        self._thread = threading.Thread(
            target=self._server.run, name="postmortem-bot-http", daemon=True
        )
        self._thread.start()
        return self

    def stop(self, timeout: float | None = None) -> bool:
        """Stop gracefully in at most `timeout` seconds (default: `shutdown_timeout`).

        1. The listening socket closes: new connections are refused (a load balancer moves on
           at once); connections the kernel had already accepted are taken first, so every
           request sent before the stop is served.
        2. Every request received or arriving on an open connection is answered.
        3. `on_drained` runs: the work those requests started after their ack.
        4. The remaining (idle) connections close and the serving loop ends.

        True when all of it finished in time. False when the bound cut it short: the work still
        running is abandoned, so the caller should exit the process (its threads may hang).
        """
        with self._stopping:
            if self._stopped.is_set():
                return self._finished_in_time
            bound = self._shutdown_timeout if timeout is None else timeout
            deadline = time.monotonic() + bound
            self._finished_in_time = self._stop(deadline)
            self._stopped.set()
            return self._finished_in_time

    def _stop(self, deadline: float) -> bool:
        finished = False
        try:
            finished = self._drain(deadline)
        except Exception:  # never leave the process serving half-stopped
            log.exception("graceful stop failed; closing the server anyway")
        finally:
            self._close(deadline)
        return finished

    def _drain(self, deadline: float) -> bool:
        server = self._server
        listener_closed = threading.Event()

        # Sockets must be opened and closed by the thread running waitress's select loop (doing
        # it from here races select() into EBADF); the trigger runs these in that thread.
        def close_listener() -> None:
            server.accepting = False
            while len(server._map) < server.adj.connection_limit:
                before = len(server._map)
                server.handle_accept()  # a connection still queued in the kernel, if any
                if len(server._map) == before:
                    break
            wasyncore.dispatcher.close(server)  # the listening socket only
            listener_closed.set()

        server.trigger.pull_trigger(close_listener)
        finished = listener_closed.wait(max(0.0, deadline - time.monotonic()))
        while finished and self._busy():
            if time.monotonic() >= deadline:
                finished = False
                log.warning("requests still running at the shutdown deadline; closing anyway")
            time.sleep(0.01)
        if self._on_drained is not None:
            # The work requests started after their ack, bounded too: a stuck Slack call must
            # not keep the process alive past SHUTDOWN_TIMEOUT_SECONDS.
            worker = threading.Thread(target=self._on_drained, name="drain", daemon=True)
            worker.start()
            worker.join(max(0.0, deadline - time.monotonic()))
            if worker.is_alive():
                finished = False
                log.warning("work started by requests is still running at the shutdown deadline")
        return finished

    def _close(self, deadline: float) -> None:
        server = self._server

        def close_everything() -> None:
            for channel in list(server._map.values()):
                if channel is not server and channel is not server.trigger:
                    channel.handle_close()
            server.close()  # the trigger (and the listener, if still open): the loop then ends

        server.trigger.pull_trigger(close_everything)
        server.task_dispatcher.shutdown(timeout=max(0.1, deadline - time.monotonic()))
        if self._thread is not None:
            self._thread.join(timeout=max(0.1, deadline - time.monotonic()))

    def _busy(self) -> bool:
        """A request is queued, running, partly received, unread, or its answer is unsent."""
        dispatcher = self._server.task_dispatcher
        if dispatcher.queue or dispatcher.active_count > 0:
            return True
        for channel in tuple(self._server.active_channels.values()):
            if channel.requests or channel.request is not None or channel.total_outbufs_len:
                return True
            sock = channel.socket  # None once the loop has closed the channel
            if sock is None:
                continue
            try:  # bytes the loop has not read yet (the socket is non-blocking)
                if sock.recv(1, socket.MSG_PEEK):
                    return True
            except OSError:
                pass  # nothing to read (BlockingIOError), or closed meanwhile
        return False

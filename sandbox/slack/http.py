"""The HTTP side of the fake: routing, body parsing, auth, fault injection and recording.

Routes (all on one ``ThreadingHTTPServer``):

* ``POST|GET /api/<method>`` — the Web API, form or JSON bodies, token as a Bearer header
  or a ``token`` parameter;
* ``POST /upload/<file_id>`` — raw bytes of a ``files_upload_v2`` upload (no auth);
* ``POST /response/<n>`` — a ``response_url`` (answers ``ok`` as hooks.slack.com does);
* ``GET /files-pri/<team>-<file_id>/...`` — ``url_private`` downloads (Bearer auth);
* ``GET /openid/connect/authorize`` — Sign in with Slack's page (``sandbox.slack.openid``).

``apps.connections.open`` takes the app-level token instead of a bot token; its WebSocket server
is ``sandbox.slack.socket_mode``.
"""

from __future__ import annotations

import json
import sys
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import parse_qsl

from sandbox.slack import (
    chat,
    conversations,
    files,
    oauth,
    openid,
    socket_mode,
    surfaces,
)
from sandbox.slack.base import (
    ApiError,
    Call,
    Handler,
    JsonDict,
    Params,
    decode_json_params,
)
from sandbox.slack.files import receive_upload
from sandbox.slack.state import SlackState

HANDLERS: dict[str, Handler] = {
    **chat.HANDLERS,
    **conversations.HANDLERS,
    **surfaces.HANDLERS,
    **files.HANDLERS,
}


def parse_params(content_type: str, raw: bytes, query: str) -> dict[str, Any]:
    """Merge query string and body (JSON or form); raises ValueError on a bad JSON body."""
    params: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
    kind = content_type.split(";", 1)[0].strip().lower()
    if raw and kind == "application/json":
        data = json.loads(raw.decode("utf-8"))
        if not isinstance(data, dict):
            raise ValueError("JSON body must be an object")
        params.update({k: v for k, v in data.items() if v is not None})
    elif raw:
        params.update(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
    return decode_json_params(params)


def _bearer(headers: dict[str, str]) -> str | None:
    for key, value in headers.items():
        if key.lower() == "authorization" and value.startswith("Bearer "):
            return value[len("Bearer ") :].strip() or None
    return None


def answer(
    st: SlackState,
    method: str,
    params: dict[str, Any],
    headers: dict[str, str],
    bad_json: bool,
    sockets: socket_mode.SocketModeHub | None = None,
) -> tuple[int, JsonDict, dict[str, str]]:
    """(HTTP status, JSON body, extra headers) for one API call; caller holds the lock."""
    fault = st.take_fault(method)
    if fault is not None:
        if fault.kind == "rate_limit":
            retry = {"Retry-After": str(fault.retry_after)}
            return 429, {"ok": False, "error": "ratelimited"}, retry
        if fault.kind == "server_error":
            return fault.status, {"ok": False, "error": "fatal_error"}, {}
        return 200, {"ok": False, "error": fault.error}, {}
    if method == socket_mode.OPEN_METHOD and sockets is not None:  # the app-level token
        try:
            return 200, sockets.open_connection(_bearer(headers)), {}
        except ApiError as exc:
            return 200, exc.body(), {}
    cfg = st.cfg  # the workspace answering: the one whose bot token was used
    handler = chat.UNAUTHENTICATED.get(method)
    if method in oauth.HANDLERS:  # client id and secret instead of a token
        handler = oauth.HANDLERS[method]
        params = oauth.with_basic_auth(params, headers)
    if method in openid.HANDLERS:  # the app's credentials, or a Sign in with Slack user token
        handler = openid.HANDLERS[method]
        params = oauth.with_basic_auth(params, headers)
        user_token = _bearer(headers)
        if user_token is not None:
            params = {**params, "token": user_token}
    if handler is None:
        handler = HANDLERS.get(method)
        if handler is None:
            return 200, {"ok": False, "error": "unknown_method", "req_method": method}, {}
        token = _bearer(headers) or (str(params["token"]) if params.get("token") else None)
        if token is None:
            return 200, {"ok": False, "error": "not_authed"}, {}
        found = oauth.config_for_token(st, token)
        if found is None:
            app_token = sockets is not None and sockets.is_app_token(token)
            error = "not_allowed_token_type" if app_token else "invalid_auth"
            return 200, {"ok": False, "error": error}, {}
        cfg = found
    if bad_json:
        return 200, {"ok": False, "error": "invalid_json"}, {}
    limits = st.rate_limits  # None unless FakeSlack.enforce_rate_limits() was called
    if limits is not None:
        retry_after = limits.admit(cfg.team_id, method, params)
        if retry_after is not None:
            return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after)}
        params = limits.shape(method, params)
    try:
        with oauth.acting_as(st, cfg):
            return 200, handler(st, Params(params)), {}
    except ApiError as exc:
        return 200, exc.body(), {}
    except Exception as exc:  # a bug in the fake: answer like Slack's 500 and say why
        traceback.print_exc(file=sys.stderr)
        detail = f"{type(exc).__name__}: {exc}"
        return 500, {"ok": False, "error": "internal_error", "detail": detail}, {}


class FakeSlackServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # socketserver's 5 reset connections under a benchmark's bursts

    def __init__(self, state: SlackState, sockets: socket_mode.SocketModeHub | None = None) -> None:
        super().__init__(("127.0.0.1", 0), FakeSlackHandler)
        self.state = state
        self.sockets = sockets

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # a client hung up; nothing to report
        super().handle_error(request, client_address)


class FakeSlackHandler(BaseHTTPRequestHandler):
    server_version = "FakeSlack/1.0"

    @property
    def state(self) -> SlackState:
        return cast(FakeSlackServer, self.server).state

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_POST(self) -> None:
        self._route("POST")

    def do_GET(self) -> None:
        self._route("GET")

    # --- plumbing ------------------------------------------------------------------------------

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str,
        extra_headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (extra_headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _route(self, verb: str) -> None:
        path, _, query = self.path.partition("?")
        if path.startswith("/api/"):
            self._api(path[len("/api/") :], query)
        elif path.startswith("/upload/") and verb == "POST":
            self._upload(path[len("/upload/") :])
        elif path.startswith("/response/") and verb == "POST":
            self._response_url(path)
        elif path.startswith("/files-pri/") and verb == "GET":
            self._download(path)
        elif path == openid.AUTHORIZE_PATH and verb == "GET":
            self._openid_authorize(query)
        else:
            self._body()
            self._send(404, b"Not Found", "text/plain; charset=utf-8")

    # --- routes --------------------------------------------------------------------------------

    def _api(self, method: str, query: str) -> None:
        raw = self._body()
        headers = {key: value for key, value in self.headers.items()}
        bad_json = False
        try:
            params = parse_params(self.headers.get("Content-Type", ""), raw, query)
        except (ValueError, UnicodeDecodeError):
            params, bad_json = {}, True
        st = self.state
        with st.lock:
            sockets = cast(FakeSlackServer, self.server).sockets
            status, body, extra = answer(st, method, params, headers, bad_json, sockets)
            st.record(Call(method, params, headers, status, json.loads(json.dumps(body))))
        payload = json.dumps(body).encode("utf-8")
        self._send(status, payload, "application/json; charset=utf-8", extra)

    def _openid_authorize(self, query: str) -> None:
        """Slack's Sign in with Slack page (sandbox.slack.openid)."""
        self._body()
        st = self.state
        with st.lock:
            status, page, headers = openid.authorize(st, query)
        self._send(status, page.encode("utf-8"), "text/html; charset=utf-8", headers)

    def _upload(self, file_id: str) -> None:
        data = self._body()
        st = self.state
        with st.lock:
            stored = receive_upload(st, file_id, data)
            st.changed.notify_all()
        if stored:
            self._send(200, f"OK - {len(data)}".encode(), "text/plain; charset=utf-8")
        else:
            self._send(404, b"file_not_found", "text/plain; charset=utf-8")

    def _response_url(self, path: str) -> None:
        raw = self._body()
        response_id = path[len("/response/") :]
        st = self.state
        with st.lock:
            known = response_id in st.response_ids
        if not known:
            self._send(404, b"no_service", "text/html")
            return
        body = _response_payload(raw)
        if body is None:
            self._send(400, b"invalid_payload", "text/html")
            return
        with st.lock:
            st.response_posts.append((f"{st.base_url}{path}", body))
            st.changed.notify_all()
        self._send(200, b"ok", "text/html")

    def _download(self, path: str) -> None:
        parts = path.split("/")
        file_ref = parts[2] if len(parts) > 2 else ""
        st = self.state
        headers = {key: value for key, value in self.headers.items()}
        with st.lock:
            authorised = _bearer(headers) == st.cfg.bot_token
            record = st.files.get(file_ref.split("-", 1)[-1])
            content = bytes(record["content"]) if record is not None else None
            mimetype = str(record["mimetype"]) if record is not None else ""
        if not authorised:
            self._send(403, b"Forbidden", "text/plain; charset=utf-8")
        elif content is None:
            self._send(404, b"Not Found", "text/plain; charset=utf-8")
        else:
            self._send(200, content, mimetype)


def _response_payload(raw: bytes) -> JsonDict | None:
    """A response_url body: JSON, or a form with a JSON ``payload`` field."""
    try:
        text = raw.decode("utf-8")
        if text.lstrip().startswith("{"):
            data = json.loads(text)
        else:
            data = json.loads(dict(parse_qsl(text)).get("payload", ""))
    except (UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, dict) else None

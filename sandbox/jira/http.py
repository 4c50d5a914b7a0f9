"""The HTTP side of the fake Jira: body parsing, faults, authentication, routing, recording.

Order of checks for every request, as a real site behind its edge would answer:
injected fault (429/5xx...) -> credentials (401) -> route (404/405) -> body (400/415) -> handler.
Every request is recorded in ``JiraState.calls`` with the status it got, rejected ones too.
"""

from __future__ import annotations

import base64
import binascii
import json
import sys
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import parse_qs, unquote, urlsplit

from sandbox.jira.model import (
    AUTH_401,
    Call,
    JiraConfig,
    JiraError,
    JsonDict,
    error_body,
)
from sandbox.jira.request import NotFound, Reply, Request
from sandbox.jira.routes import route
from sandbox.jira.state import JiraState

JSON_TYPE = "application/json;charset=UTF-8"
AUTH_HEADERS = {
    "WWW-Authenticate": 'Basic realm="protected-area"',
    "X-Seraph-LoginReason": "AUTHENTICATED_FAILED",
}


def normalise(path: str) -> str:
    path = unquote(path).rstrip("/") or "/"
    if path.startswith("/rest/api/latest/"):
        path = "/rest/api/2/" + path[len("/rest/api/latest/") :]
    return path


def canonical(header: str) -> str:
    """Header names as recorded in ``Call.headers``: ``authorization`` -> ``Authorization``."""
    return "-".join(part.capitalize() for part in header.split("-"))


def authenticate(cfg: JiraConfig, headers: dict[str, str]) -> str | None:
    """The caller's account id, or None when the credentials are missing or wrong."""
    value = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
    scheme, _, credentials = value.partition(" ")
    if scheme.lower() == "basic":
        try:
            user, _, secret = base64.b64decode(credentials.strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        names = {cfg.email.lower()} | (set() if cfg.cloud else {cfg.bot_account_id.lower()})
        if user.lower() in names and secret == cfg.api_token:
            return cfg.bot_account_id
    if scheme.lower() == "bearer" and cfg.personal_access_token:
        if credentials.strip() == cfg.personal_access_token:
            return cfg.bot_account_id
    return None


def not_found(st: JiraState, path: str) -> JsonDict:
    """Jira's (Jersey's) answer for a REST path it does not serve."""
    return {"message": f"null for uri: {st.base_url}{path}", "status-code": 404}


def answer(
    st: JiraState,
    method: str,
    raw_path: str,
    query: dict[str, list[str]],
    headers: dict[str, str],
    raw: bytes,
) -> tuple[int, Any, dict[str, str], Any]:
    """(status, JSON body or None, extra headers, parsed request body); caller holds the lock."""
    parsed: Any = None
    bad_json = False
    if raw:
        try:
            parsed = json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            bad_json = True
    fault = st.take_fault(method, raw_path)
    if fault is not None:
        extra = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
        if fault.status == 429 and fault.retry_after is None:
            extra["Retry-After"] = "1"
        if fault.status == 401:
            extra.update(AUTH_HEADERS)
        return fault.status, fault.body or error_body(fault.status), extra, parsed
    caller = authenticate(st.cfg, headers)
    if caller is None:
        return 401, dict(AUTH_401), dict(AUTH_HEADERS), parsed
    path = normalise(raw_path)
    found = route(method, path)
    if found == []:
        return 404, not_found(st, raw_path), {}, parsed
    if isinstance(found, list):
        return 405, None, {"Allow": ", ".join(found)}, parsed
    handler, match = found
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    if raw and method in ("POST", "PUT") and "json" not in content_type.lower():
        return 415, {"errorMessages": ["Unsupported Media Type"], "errors": {}}, {}, parsed
    if bad_json:
        message = "Unexpected character in the JSON body: it could not be parsed."
        return 400, {"errorMessages": [message], "errors": {}}, {}, parsed
    try:
        reply: Reply = handler(st, Request(method, path, query, parsed, caller), match)
    except JiraError as error:
        return error.status, error.body(), error.headers, parsed
    except NotFound:
        return 404, not_found(st, raw_path), {}, parsed
    except Exception as exc:  # a bug in the fake: answer 500 and say why
        traceback.print_exc(file=sys.stderr)
        body = {
            "errorMessages": [f"Internal server error: {type(exc).__name__}: {exc}"],
            "errors": {},
        }
        return 500, body, {}, parsed
    return reply.status, reply.body, reply.headers, parsed


class FakeJiraServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, state: JiraState, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), FakeJiraHandler)
        self.state = state

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # a client hung up; nothing to report
        super().handle_error(request, client_address)


class FakeJiraHandler(BaseHTTPRequestHandler):
    server_version = "FakeJira/1.0"

    @property
    def state(self) -> JiraState:
        return cast(FakeJiraServer, self.server).state

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        split = urlsplit(self.path)
        query = parse_qs(split.query, keep_blank_values=True)
        headers = {canonical(key): value for key, value in self.headers.items()}
        st = self.state
        with st.lock:
            status, body, extra, parsed = answer(st, method, split.path, query, headers, raw)
            response = json.loads(json.dumps(body)) if body is not None else None
            st.record(Call(method, split.path, query, parsed, headers, status, response))
        payload = json.dumps(body).encode("utf-8") if body is not None else b""
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", JSON_TYPE)
        self.send_header("Content-Length", str(len(payload)))
        for key, value in extra.items():
            self.send_header(key, value)
        self.end_headers()
        if payload:
            self.wfile.write(payload)

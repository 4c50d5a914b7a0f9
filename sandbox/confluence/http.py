"""The HTTP side of the fake Confluence: faults, authentication, rate limiting, routing, body
parsing, recording.

Order of checks for every request, as a real site behind Atlassian's edge would answer:
injected fault (dropped / hung connection, 429, 5xx...) -> credentials (401) -> rate limit
(429) -> route (404/405) -> body (415/400) -> handler. Every request is recorded in
``ConfluenceState.calls`` with the status it got, rejected ones too (0: no answer was sent).

401s: on Cloud a ``text/plain`` body, Cloud's recorded answer to a rejected Basic login
(kovetskiy/mark#102), with its headers (``Server: AtlassianProxy/...``); missing credentials get
the same answer (a real site would treat the caller as anonymous; with anonymous access off, the
bot cannot tell the difference that matters). On Data Center a JSON v1 envelope (composed).
429s carry ``Retry-After`` and ``X-RateLimit-*`` headers, as Cloud's do. With
``v1_content_gone`` set, v1 ``/content`` and ``/content/{id}`` answer 410 Gone (a 2026 report
of newer Cloud sites; the message is composed), while search, labels and restrictions still work.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import sys
import threading
import traceback
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import parse_qs, unquote, urlsplit

from sandbox.confluence.model import (
    CLOUD_401_TEXT,
    DROP,
    HANG,
    Account,
    Call,
    ConfluenceError,
    Fault,
    phrase,
)
from sandbox.confluence.render_v1 import View
from sandbox.confluence.request import V1, V2, Reply, Request
from sandbox.confluence.routes import locate, route
from sandbox.confluence.state import ConfluenceState

JSON_TYPE = "application/json;charset=UTF-8"
# v1 endpoints a newer Cloud site retires (veryfront/veryfront-code#1787): content create, get,
# update, delete and list; search, labels and restrictions keep working there.
RETIRED = re.compile(r"/content(/\d+)?/?")
GONE = "This endpoint has been removed. Use the REST API v2 (/wiki/api/v2) instead."


@dataclass
class Outcome:
    """What to send back (or that nothing is sent: ``kind`` DROP / HANG)."""

    reply: Reply
    kind: str = ""
    hold: float = 0.0
    release: threading.Event | None = None
    account_id: str | None = None
    parsed: Any = None
    extra: dict[str, str] = field(default_factory=dict)


def canonical(header: str) -> str:
    """Header names as recorded in ``Call.headers``: ``authorization`` -> ``Authorization``."""
    return "-".join(part.capitalize() for part in header.split("-"))


def authenticate(st: ConfluenceState, headers: dict[str, str]) -> Account | None:
    """The calling account: Basic email + API token on Cloud, Bearer PAT on Data Center."""
    scheme, _, credentials = headers.get("Authorization", "").partition(" ")
    if st.cfg.cloud and scheme.lower() == "basic":
        try:
            user, _, secret = base64.b64decode(credentials.strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return next(
            (
                a
                for a in st.accounts.values()
                if a.email.lower() == user.lower() and secrets.compare_digest(a.api_token, secret)
            ),
            None,
        )
    if not st.cfg.cloud and scheme.lower() == "bearer":
        token = credentials.strip()
        return next(
            (
                a
                for a in st.accounts.values()
                if secrets.compare_digest(a.personal_access_token, token)
            ),
            None,
        )
    return None


def unauthorized(st: ConfluenceState) -> Reply:
    if st.cfg.cloud:
        headers = {
            "Server": "AtlassianProxy/1.19.3.1",
            "Atl-Traceid": secrets.token_hex(8),
            "X-Content-Type-Options": "nosniff",
        }
        return Reply(401, headers=headers, text=CLOUD_401_TEXT)
    error = ConfluenceError(401, "Client must be authenticated to access this resource.")
    return Reply(401, error.v1(), {"WWW-Authenticate": 'Basic realm="Confluence"'})


def error_reply(api: str, error: ConfluenceError) -> Reply:
    return Reply(error.status, error.v2() if api == V2 else error.v1(), dict(error.headers))


def fault_reply(api: str, fault: Fault) -> Reply:
    headers = dict(fault.headers)
    retry_after = fault.retry_after
    if fault.status == 429 and retry_after is None:
        retry_after = 1
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    if isinstance(fault.body, str):
        return Reply(fault.status, headers=headers, text=fault.body)
    if fault.body is not None:
        return Reply(fault.status, fault.body, headers)
    message = "Rate limit exceeded." if fault.status == 429 else phrase(fault.status)
    return Reply(
        fault.status, error_reply(api, ConfluenceError(fault.status, message)).body, headers
    )


def answer(
    st: ConfluenceState,
    method: str,
    raw_path: str,
    query: dict[str, list[str]],
    headers: dict[str, str],
    raw: bytes,
) -> Outcome:
    """Decide the answer to one request; the caller holds the lock."""
    parsed: Any = None
    bad_json = False
    if raw:
        try:
            parsed = json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            bad_json = True
    target = locate(raw_path, cloud=st.cfg.cloud)
    api = target.api if target is not None else V1
    fault = st.take_fault(method, raw_path)
    if fault is not None and fault.kind in (DROP, HANG):
        return Outcome(Reply(0), fault.kind, fault.hold, st.release, parsed=parsed)
    if fault is not None:
        return Outcome(fault_reply(api, fault), parsed=parsed)
    account = authenticate(st, headers)
    if account is None:
        return Outcome(unauthorized(st), parsed=parsed)
    outcome = Outcome(Reply(500), account_id=account.account_id, parsed=parsed)
    retry_after = st.throttle(account.account_id)
    if retry_after is not None:
        limiter = st.rate_limit
        reply = error_reply(api, ConfluenceError(429, "Rate limit exceeded."))
        reply.headers.update(
            {
                "Retry-After": str(retry_after),
                "X-RateLimit-Limit": str(limiter.limit if limiter else 0),
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Interval-Seconds": str(int(limiter.window if limiter else 0)),
            }
        )
        outcome.reply = reply
        return outcome
    if target is None:
        outcome.reply = error_reply(
            V1, ConfluenceError(404, f"null for uri: {st.base_url}{raw_path}")
        )
        return outcome
    found = route(target.api, method, target.path)
    if found == []:
        error = ConfluenceError(404, f"null for uri: {st.base_url}{raw_path}", v2_title="Not Found")
        outcome.reply = error_reply(api, error)
        return outcome
    if isinstance(found, list):
        outcome.reply = Reply(405, None, {"Allow": ", ".join(found)})
        return outcome
    handler, match = found
    if st.v1_content_gone and target.api == V1 and RETIRED.fullmatch(target.path):
        outcome.reply = error_reply(V1, ConfluenceError(410, GONE))
        return outcome
    content_type = headers.get("Content-Type", "")
    if raw and method in ("POST", "PUT") and "json" not in content_type.lower():
        outcome.reply = error_reply(api, ConfluenceError(415, "Unsupported Media Type"))
        return outcome
    if bad_json:
        error = ConfluenceError(400, "Could not parse the request body: it is not valid JSON")
        outcome.reply = error_reply(api, error)
        return outcome
    view = View(st, st.base_url + target.prefix, target.prefix, account.account_id)
    request = Request(method, target.api, target.path, query, parsed, account.account_id, view)
    try:
        outcome.reply = handler(st, request, match)
    except ConfluenceError as error:
        outcome.reply = error_reply(api, error)
    except Exception as exc:  # a bug in the fake: answer 500 and say why
        traceback.print_exc(file=sys.stderr)
        bug = ConfluenceError(500, f"Internal error in the fake: {type(exc).__name__}: {exc}")
        outcome.reply = error_reply(api, bug)
    return outcome


class FakeConfluenceServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, state: ConfluenceState, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), FakeConfluenceHandler)
        self.state = state

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # a client hung up; nothing to report
        super().handle_error(request, client_address)


class FakeConfluenceHandler(BaseHTTPRequestHandler):
    server_version = "FakeConfluence/1.0"

    @property
    def state(self) -> ConfluenceState:
        return cast(FakeConfluenceServer, self.server).state

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
        path = unquote(split.path)
        query = parse_qs(split.query, keep_blank_values=True)
        headers = {canonical(key): value for key, value in self.headers.items()}
        st = self.state
        with st.lock:
            outcome = answer(st, method, path, query, headers, raw)
            reply = outcome.reply
            recorded = json.loads(json.dumps(reply.body)) if reply.body is not None else reply.text
            status = 0 if outcome.kind else reply.status
            st.record(
                Call(
                    method,
                    path,
                    query,
                    outcome.parsed,
                    headers,
                    status,
                    recorded,
                    outcome.account_id,
                )
            )
        if outcome.kind:
            if outcome.kind == HANG and outcome.release is not None:
                outcome.release.wait(outcome.hold)
            self.close_connection = True
            return
        self._send(reply)

    def _send(self, reply: Reply) -> None:
        if reply.text is not None:
            payload, content_type = reply.text.encode("utf-8"), "text/plain"
        elif reply.body is not None:
            payload, content_type = json.dumps(reply.body).encode("utf-8"), JSON_TYPE
        else:
            payload, content_type = b"", ""
        headers = dict(reply.headers)
        self.send_response_only(reply.status)
        self.send_header("Server", headers.pop("Server", self.version_string()))
        self.send_header("Date", self.date_time_string())
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if payload:
            self.wfile.write(payload)

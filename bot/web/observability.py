"""Request ids and request metrics for the WSGI app, and an executor that keeps the request id.

`ObservabilityMiddleware` wraps the whole WSGI app: every request gets an id (a sane incoming
`X-Request-Id` is kept, otherwise a new one), returned as `X-Request-Id` and put in a ContextVar
(bot.logs.request_id_var) for every log line written while the request is handled. Requests to
/slack/events are classified by kind from their body (buffered, then handed on to Bolt intact),
counted with their HTTP status, and timed until the response is ready: the ack Slack waits for.

Bolt runs listeners on its `listener_executor`, in pool threads that do not inherit the
submitting thread's ContextVars; `ContextPreservingExecutor` runs each task in a copy of the
submitter's context, so the request id follows the listener work done after the ack.
"""

from __future__ import annotations

import contextvars
import io
import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar
from urllib.parse import parse_qs

from bot.core import metrics
from bot.core.logs import request_id_var
from bot.status.page import is_status_path

if TYPE_CHECKING:
    from types import TracebackType
    from wsgiref.types import StartResponse, WSGIEnvironment

log = logging.getLogger("postmortem_bot.http")

P = ParamSpec("P")
T = TypeVar("T")
WsgiApp = Callable[..., Iterable[bytes]]

REQUEST_ID_HEADER = "X-Request-Id"
SLACK_PATH = "/slack/events"
# Routes counted under their own path; anything else is "status_page" or "other" (no raw paths
# as label values: a scanner must not be able to create series).
KNOWN_ROUTES = frozenset(
    {SLACK_PATH, "/healthz", "/metrics", "/jira/webhook", "/slack/install", "/slack/oauth_redirect"}
)
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")

# Events API types by class (label values stay few whatever Slack, or a forger, sends).
EVENT_CLASSES = {
    "message": "message",
    "reaction_added": "reaction",
    "reaction_removed": "reaction",
    "app_home_opened": "app_home",
    "app_mention": "mention",
    "app_uninstalled": "app_lifecycle",
    "tokens_revoked": "app_lifecycle",
}
_CHANNEL_EVENT = re.compile(r"(channel|group|member)_[a-z_]+")
INTERACTIVE_KINDS = {
    "shortcut": "shortcut",
    "message_action": "shortcut",
    "block_actions": "block_action",
    "view_submission": "view_submission",
    "view_closed": "view_closed",
    "block_suggestion": "options",
}


class ContextPreservingExecutor(ThreadPoolExecutor):
    """A ThreadPoolExecutor whose tasks run in a copy of the submitting thread's context
    (ContextVars such as the request id), as asyncio does for its callbacks."""

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        context = contextvars.copy_context()

        def in_context() -> T:
            return context.run(fn, *args, **kwargs)

        return super().submit(in_context)


def new_request_id() -> str:
    return uuid.uuid4().hex


def request_id_from(environ: WSGIEnvironment) -> str:
    """The caller's X-Request-Id when it is sane (1-128 of A-Z a-z 0-9 . _ : -), else a new id."""
    incoming = str(environ.get("HTTP_X_REQUEST_ID", "")).strip()
    return incoming if _SANE_REQUEST_ID.fullmatch(incoming) else new_request_id()


def route_label(path: str) -> str:
    if path in KNOWN_ROUTES:
        return path
    return "status_page" if is_status_path(path) else "other"


def buffer_body(environ: WSGIEnvironment) -> bytes:
    """Read the request body and put an unread copy back in wsgi.input for the app."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    stream = environ.get("wsgi.input")
    body = stream.read(length) if stream is not None and length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    return body


def classify_slack_body(body: bytes, content_type: str) -> str:
    """What a /slack/events request is: slash_command, shortcut, block_action, view_submission,
    view_closed, options, event_<class>, url_verification, or other. Never raises."""
    try:
        if content_type.split(";")[0].strip().lower() == "application/json":
            return _classify_json(json.loads(body))
        form = parse_qs(body.decode("utf-8", "replace"))
        if "command" in form:
            return "slash_command"
        if "payload" in form:
            payload = json.loads(form["payload"][0])
            kind = payload.get("type") if isinstance(payload, dict) else None
            return INTERACTIVE_KINDS.get(kind, "other") if isinstance(kind, str) else "other"
    except (ValueError, RecursionError):  # RecursionError: JSON nested deeper than the stack
        pass
    return "other"


def _classify_json(envelope: Any) -> str:
    if not isinstance(envelope, dict):
        return "other"
    kind = envelope.get("type")
    if kind == "url_verification":
        return "url_verification"
    if kind != "event_callback":
        return "other"
    event = envelope.get("event")
    event_type = event.get("type") if isinstance(event, dict) else None
    if not isinstance(event_type, str):
        return "event_other"
    if event_type in EVENT_CLASSES:
        return "event_" + EVENT_CLASSES[event_type]
    return "event_channel" if _CHANNEL_EVENT.fullmatch(event_type) else "event_other"


class ObservabilityMiddleware:
    """WSGI middleware: request id (header, ContextVar, logs) and request metrics."""

    def __init__(self, app: WsgiApp) -> None:
        self._app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request_id = request_id_from(environ)
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        path = str(environ.get("PATH_INFO", ""))
        method = str(environ.get("REQUEST_METHOD", "GET"))
        slack_kind: str | None = None
        if path == SLACK_PATH and method == "POST":
            body = buffer_body(environ)
            slack_kind = classify_slack_body(body, str(environ.get("CONTENT_TYPE", "")))
        statuses: list[str] = []

        def start_with_id(
            status: str,
            headers: list[tuple[str, str]],
            exc_info: tuple[type[BaseException], BaseException, TracebackType]
            | tuple[None, None, None]
            | None = None,
        ) -> Callable[[bytes], object]:
            statuses.append(status.split(" ", 1)[0])
            kept = [(k, v) for k, v in headers if k.lower() != REQUEST_ID_HEADER.lower()]
            return start_response(status, [*kept, (REQUEST_ID_HEADER, request_id)], exc_info)

        try:
            result = self._app(environ, start_with_id)
            if not statuses:  # a lazy body: produce it here, inside the request's context
                result = _drain(result)
        except BaseException:
            statuses.append("500")
            raise
        finally:
            seconds = time.perf_counter() - started
            status = statuses[-1] if statuses else "500"
            metrics.observe_http_request(
                route_label(path), status, slack_kind=slack_kind, seconds=seconds
            )
            _log_request(method, path, slack_kind, status, seconds)
            request_id_var.reset(token)
        return result


def _drain(result: Iterable[bytes]) -> list[bytes]:
    try:
        return list(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()


def _log_request(method: str, path: str, kind: str | None, status: str, seconds: float) -> None:
    """One line per request: Slack requests at INFO (kind, status, time; never the body),
    the rest (health checks, scrapes, the status page) at DEBUG."""
    millis = round(seconds * 1000, 1)
    if kind is not None:
        log.info(
            "%s %s %s -> %s in %.1f ms",
            method,
            path,
            kind,
            status,
            millis,
            extra={"kind": kind, "status": int(status), "duration_ms": millis},
        )
    elif log.isEnabledFor(logging.DEBUG):
        route = route_label(path)
        log.debug(
            "%s %s -> %s in %.1f ms",
            method,
            route,
            status,
            millis,
            extra={"route": route, "status": int(status), "duration_ms": millis},
        )

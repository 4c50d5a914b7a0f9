"""Prometheus metrics: defined once at import on the default registry, served at `GET /metrics`.

Label values are always from small fixed sets (request kinds, HTTP statuses, API method names,
Slack error codes, reminder kinds, template names): never ids, user text or raw paths.
Tests build many bots in one process, so nothing here is ever registered twice; they read
deltas (before/after) because the values are process-wide.

Public API: `observe_api_call`, `instrument_requests_session`, `reminder_sent`,
`postmortem_generated`, `slow_work_exited` (plus what bot.observability uses for HTTP
requests).
"""

from __future__ import annotations

import os
import re
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
    multiprocess,
)

if TYPE_CHECKING:
    import requests

PREFIX = "postmortem_bot_"

# Slack wants the HTTP answer within 3 s: fine resolution up to and around the deadline.
ACK_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 5.0, 10.0)
API_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0, 60.0)

HTTP_REQUESTS = Counter(
    PREFIX + "http_requests",
    "HTTP requests served, by route and HTTP status.",
    ["route", "status"],
)
SLACK_REQUESTS = Counter(
    PREFIX + "slack_requests",
    "Requests to /slack/events, by kind (slash_command, shortcut, block_action, "
    "view_submission, event_<class>, ...) and HTTP status.",
    ["kind", "status"],
)
SLACK_ACK_SECONDS = Histogram(
    PREFIX + "slack_ack_duration_seconds",
    "Time from receiving a /slack/events request to its HTTP response (Slack's limit: 3 s).",
    ["kind"],
    buckets=ACK_BUCKETS,
)
API_CALLS = Counter(
    PREFIX + "api_calls",
    "Outgoing API calls (service: slack or jira), successful or not, by method.",
    ["service", "method"],
)
API_ERRORS = Counter(
    PREFIX + "api_errors",
    "Outgoing API calls that failed, by method and error (Slack error code, HTTP status, or "
    "exception class).",
    ["service", "method", "error"],
)
API_SECONDS = Histogram(
    PREFIX + "api_call_duration_seconds",
    "Duration of outgoing API calls, retries included, by method.",
    ["service", "method"],
    buckets=API_BUCKETS,
)
REMINDERS_SENT = Counter(
    PREFIX + "reminders_sent",
    "Reminders delivered by DM, by reminder kind (overdue, due_soon, draft_stale, ...).",
    ["kind"],
)
SLOW_WORK_EXITS = Counter(
    PREFIX + "slow_work_exits",
    "Times the slow-work process (generation, backfill, Jira exports) ended unexpectedly and "
    "was started again.",
)
POSTMORTEMS_GENERATED = Counter(
    PREFIX + "postmortems_generated",
    "Postmortems generated and published, by template.",
    ["template"],
)


# -- public API ---------------------------------------------------------------------------


def observe_api_call(service: str, method: str, error: str | None, seconds: float) -> None:
    """Count one outgoing API call (and its error, when `error` is not None) and time it."""
    API_CALLS.labels(service, method).inc()
    API_SECONDS.labels(service, method).observe(max(0.0, seconds))
    if error is not None:
        API_ERRORS.labels(service, method, error).inc()


def observe_http_request(
    route: str, status: str, *, slack_kind: str | None, seconds: float
) -> None:
    """Count one HTTP request; for /slack/events (`slack_kind` set) also its kind and ack time."""
    HTTP_REQUESTS.labels(route, status).inc()
    if slack_kind is not None:
        SLACK_REQUESTS.labels(slack_kind, status).inc()
        SLACK_ACK_SECONDS.labels(slack_kind).observe(max(0.0, seconds))


def reminder_sent(kind: str) -> None:
    REMINDERS_SENT.labels(kind).inc()


def postmortem_generated(template: str) -> None:
    POSTMORTEMS_GENERATED.labels(template).inc()


def slow_work_exited() -> None:
    SLOW_WORK_EXITS.inc()


_INSTRUMENTED = "_postmortem_bot_instrumented"


def instrument_requests_session(session: requests.Session, service: str = "jira") -> None:
    """Count and time every request `session` sends, labelled "GET /rest/api/2/issue/{key}".

    Wraps the session's `send` (every request, redirect and retry goes through it): a response
    with status >= 400 counts as an error labelled with its status, a request that raised
    (connection refused, timeout) with the exception's class name. Calling it twice on one
    session is harmless.
    """
    if getattr(session, _INSTRUMENTED, False):
        return
    send = session.send

    def counted_send(request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        method = f"{request.method or 'GET'} {path_template(request.url or '')}"
        started = time.perf_counter()
        try:
            response = send(request, **kwargs)
        except Exception as error:
            observe_api_call(service, method, type(error).__name__, time.perf_counter() - started)
            raise
        status = int(response.status_code)
        error_label = str(status) if status >= 400 else None
        observe_api_call(service, method, error_label, time.perf_counter() - started)
        return response

    setattr(session, "send", counted_send)  # noqa: B010 (mypy refuses assigning to a method)
    setattr(session, _INSTRUMENTED, True)  # noqa: B010


_ISSUE_KEY = re.compile(r"[A-Z][A-Z0-9_]+-\d+")
_WORD = re.compile(r"[A-Za-z][A-Za-z_-]*")
_VERSION = re.compile(r"\d+(\.\d+)*|latest")
_VERSIONED = {"api", "agile", "auth", "servicedeskapi", "greenhopper"}


def path_template(url: str) -> str:
    """A URL's path with its variable parts replaced: issue keys by {key}, anything else that
    is not a plain word (ids, account ids, file names) by {id}; API versions are kept.

    "https://x.atlassian.net/rest/api/2/issue/PM-12/transitions?expand=x"
        → "/rest/api/2/issue/{key}/transitions"
    """
    segments = urlsplit(url).path.split("/")
    out: list[str] = []
    for segment in segments:
        previous = out[-1] if out else ""
        if segment == "" or (previous in _VERSIONED and _VERSION.fullmatch(segment)):
            out.append(segment)
        elif _ISSUE_KEY.fullmatch(segment):
            out.append("{key}")
        elif _WORD.fullmatch(segment) and len(segment) <= 40:
            out.append(segment)
        else:
            out.append("{id}")
    return "/".join(out) or "/"


def exposition() -> tuple[bytes, str]:
    """The metrics in Prometheus text format, and its content type: this process's registry;
    or, when the slow work runs in a process of its own (bot.slow_work.share_metrics), every
    process's counters added up, with this process's own metrics (CPU, memory, GC)."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return generate_latest(registry), CONTENT_TYPE_LATEST


__all__ = [
    "observe_api_call",
    "observe_http_request",
    "instrument_requests_session",
    "reminder_sent",
    "postmortem_generated",
    "slow_work_exited",
    "path_template",
    "exposition",
]

"""The public status page: `GET /status` (HTML), `GET /status.json`, `GET /status/incidents/INC-N`.

Rendering is pure (a `StatusView` in, HTML or JSON out) through a Jinja2 environment with
autoescape on; `serve_status` is the small WSGI part the server's router dispatches to. The page
has no JavaScript, fits a phone, and is cached briefly. While the database does not answer,
every status path answers 503 at once with a short "temporarily unavailable" page (or JSON),
never an error page: a status page is read precisely when things are going wrong.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, PackageLoader, select_autoescape

from bot.core.clock import Clock, utc_now
from bot.core.formatting import format_duration, utc_label
from bot.status.service import PublicIncident, StatusView, public_summary, status_view
from storage.db import Database, is_unavailable

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

log = logging.getLogger("postmortem_bot.status_page")

CACHE_CONTROL = "public, max-age=30"
RETRY_AFTER_SECONDS = 30  # while the database is not answering
STATUS_PATHS = ("/status", "/status/", "/status.json")
_SUMMARY_PATH = re.compile(r"^/status/incidents/(INC-\d{1,9})$", re.IGNORECASE)

_env = Environment(
    loader=PackageLoader("templates", ""),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["when"] = utc_label
_env.filters["duration"] = format_duration
# While the database does not answer: a small page that says so, not an error page.
_UNAVAILABLE_HTML = _env.from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}: temporarily unavailable</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 2rem auto">
<h1>{{ title }}</h1>
<p>This status page is temporarily unavailable. Please try again in a minute.</p>
</body></html>
"""
)


def is_status_path(path: str) -> bool:
    return path in STATUS_PATHS or _SUMMARY_PATH.match(path) is not None


def render_html(view: StatusView) -> str:
    return _env.get_template("status.html.j2").render(view=view, summary=None)


def render_summary_html(title: str, incident: PublicIncident, now: datetime) -> str:
    view = StatusView(title=title, generated_at=now, components=(), active=(), recently_resolved=())
    return _env.get_template("status.html.j2").render(view=view, summary=incident)


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


def _incident_json(incident: PublicIncident) -> dict[str, Any]:
    return {
        "key": incident.key,
        "title": incident.title,
        "status": incident.status,
        "severity": incident.severity,
        "impact": incident.state.value,
        "components": list(incident.components),
        "declared_at": _time(incident.declared_at),
        "mitigated_at": _time(incident.mitigated_at),
        "resolved_at": _time(incident.resolved_at),
        "summary_url": incident.summary_path,
        "updates": [
            {"text": u.text, "components": list(u.components), "posted_at": _time(u.posted_at)}
            for u in incident.updates
        ],
    }


def render_json(view: StatusView) -> dict[str, Any]:
    return {
        "title": view.title,
        "generated_at": _time(view.generated_at),
        "status": view.overall.value,
        "components": [{"name": c.name, "status": c.state.value} for c in view.components],
        "active_incidents": [_incident_json(i) for i in view.active],
        "recently_resolved": [_incident_json(i) for i in view.recently_resolved],
    }


def _respond(
    start_response: StartResponse,
    status: str,
    content_type: str,
    body: str,
    *,
    head: bool,
    extra_headers: tuple[tuple[str, str], ...] = (),
) -> list[bytes]:
    data = body.encode("utf-8")
    start_response(
        status,
        [
            ("Content-Type", content_type),
            ("Content-Length", str(len(data))),
            ("Cache-Control", CACHE_CONTROL if status.startswith("200") else "no-store"),
            ("X-Content-Type-Options", "nosniff"),
            ("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'"),
            *extra_headers,
        ],
    )
    return [] if head else [data]


def _unavailable(
    start_response: StartResponse, path: str, title: str, *, head: bool
) -> list[bytes]:
    """503 with a short explanation (and Retry-After): the page is fine, its database is not."""
    retry = (("Retry-After", str(RETRY_AFTER_SECONDS)),)
    status = "503 Service Unavailable"
    if path == "/status.json":
        payload = {
            "title": title,
            "status": "unavailable",
            "message": "The status page is temporarily unavailable; please try again in a minute.",
        }
        body = json.dumps(payload, indent=2)
        return _respond(
            start_response, status, "application/json", body, head=head, extra_headers=retry
        )
    html = _UNAVAILABLE_HTML.render(title=title)
    return _respond(
        start_response, status, "text/html; charset=utf-8", html, head=head, extra_headers=retry
    )


def serve_status(
    environ: WSGIEnvironment,
    start_response: StartResponse,
    *,
    db: Database,
    title: str,
    clock: Clock = utc_now,
) -> Iterable[bytes]:
    """Answer a GET/HEAD on one of the status paths (`is_status_path`)."""
    path = environ.get("PATH_INFO", "")
    head = environ.get("REQUEST_METHOD", "GET") == "HEAD"
    html = "text/html; charset=utf-8"
    if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
        return _respond(start_response, "405 Method Not Allowed", html, "GET only", head=False)
    now = clock()
    match = _SUMMARY_PATH.match(path)
    incident: PublicIncident | None = None
    view: StatusView | None = None
    try:
        with db.session() as session:
            if match is not None:
                incident = public_summary(session, match.group(1))
            else:
                view = status_view(session, title=title, now=now)
    except Exception as error:
        if not is_unavailable(error):
            raise
        # INFO, one line: a public page may be asked often during an outage, and the outage
        # itself is logged (WARNING) where it is found out, in storage.health.
        log.info("status page unavailable: %s", db.explain(error))
        return _unavailable(start_response, path, title, head=head)
    if match is not None:
        if incident is None:
            body = "No public summary for that incident."
            return _respond(start_response, "404 Not Found", html, body, head=head)
        return _respond(
            start_response, "200 OK", html, render_summary_html(title, incident, now), head=head
        )
    assert view is not None
    if path == "/status.json":
        body = json.dumps(render_json(view), indent=2)
        return _respond(start_response, "200 OK", "application/json", body, head=head)
    return _respond(start_response, "200 OK", html, render_html(view), head=head)

"""The Flask app of the web view, which `bot.web.server.WebApp` mounts at `/app/`.

Every answer carries a strict Content-Security-Policy (nothing but this site's own stylesheet;
no script at all, no frames, forms only to this site), `no-store` (private pages stay out of
shared caches) and `Referrer-Policy: same-origin` (the sign-in callback's code never leaks in a
Referer).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import Flask, render_template
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

import templates
from bot.core.formatting import format_duration, utc_label
from bot.slack.mrkdwn import plain_text
from bot.webapp import auth, views
from bot.webapp.slack_access import SignIn, SlackAccess
from storage.db import Database, explain, is_unavailable

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger("postmortem_bot.webapp")

MOUNT = "/app"
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


def _headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def _when(moment: datetime | None) -> str:
    return utc_label(moment) if moment is not None else "—"


def _duration(span: timedelta | None) -> str:
    return format_duration(span) if span is not None else "—"


def _on_error(error: Exception) -> HTTPException | tuple[str, int, dict[str, str]]:
    """While the database does not answer: a short 503 that says so (like the status page),
    never a traceback; anything else unexpected: a plain 500, logged with its traceback."""
    if isinstance(error, HTTPException):
        return error
    if is_unavailable(error):
        log.info("web view unavailable: %s", explain(error))
        page = render_template(
            "webapp/message.html.j2",
            title="Temporarily unavailable",
            message="The incident database isn't answering right now. Please try again in a "
            "minute.",
        )
        return page, 503, {"Retry-After": "30"}
    log.exception("web view request failed")
    page = render_template(
        "webapp/message.html.j2",
        title="Something went wrong",
        message="This page could not be shown. Please try again; if it keeps happening, tell "
        "whoever runs the bot.",
    )
    return page, 500, {}


class WebView(Flask):
    def select_jinja_autoescape(self, filename: str | None) -> bool:
        return True  # every template (`.html.j2` too): people's text is never markup


def create_web_view(services: Services) -> WebView | None:
    """The web view, or None while it is not configured (README, "Web view")."""
    settings = services.settings
    credentials = settings.web_client_credentials
    if settings.web_session_secret is None or not credentials:
        return None
    client_id, client_secret = credentials

    def client_for(team_id: str) -> Any:
        return services.client_for(team_id)

    sign_in = SignIn(
        client_id=client_id,
        client_secret=client_secret,
        authorize_url=settings.openid_authorize_url,
        api_url=settings.slack_api_url,
    )
    access = SlackAccess(client_for)
    return build(
        db=services.db,
        sign_in=sign_in,
        access=access,
        secret=settings.web_session_secret.get_secret_value(),
        lifetime=timedelta(hours=settings.web_session_hours),
        clock=services.clock,
        base_url=settings.web_base_url,
        client_for=client_for,
    )


def build(
    *,
    db: Database,
    sign_in: SignIn,
    access: SlackAccess,
    secret: str,
    lifetime: timedelta,
    clock: Callable[[], Any],
    base_url: str | None = None,
    client_for: Callable[[str], Any] = lambda team_id: None,
) -> WebView:
    app = WebView(
        __name__,
        template_folder=str(Path(templates.__file__).parent),
        static_folder=None,
    )
    app.config.update(
        SECRET_KEY=secret,
        SESSION_COOKIE_NAME="postmortem_bot_session",
        SESSION_COOKIE_PATH=MOUNT + "/",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SECURE=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=lifetime,
        SESSION_REFRESH_EACH_REQUEST=False,  # a session ends `lifetime` after sign-in
        MAX_CONTENT_LENGTH=64 * 1024,
    )
    app.extensions["postmortem_bot"] = {
        "db": db,
        "sign_in": sign_in,
        "access": access,
        "clock": clock,
        "now": lambda: clock().timestamp(),
        "base_url": base_url,  # None: the URL each request came to
        "client_for": client_for,  # team id → the bot's WebClient there (None: not installed)
    }
    app.jinja_env.filters["when"] = _when
    app.jinja_env.filters["duration"] = _duration
    app.jinja_env.filters["slack"] = plain_text  # text as Slack delivers it → what was typed
    app.before_request(auth.require_sign_in)
    app.after_request(_headers)
    app.register_error_handler(Exception, _on_error)
    app.register_blueprint(auth.blueprint)
    app.register_blueprint(views.blueprint)
    return app

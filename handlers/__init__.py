"""Slack listeners only: parse the request, call one flow, reply.

Each module holds module-level listener functions, each taking one `handlers.request.Request`,
and a `register(app)`; no listener module imports another (`handlers.request` and
`handlers.errors` are the shared boundary, not listener modules). `register` puts the bot's
`Services` in every request's context, where `Request` finds them.
"""

from __future__ import annotations

from collections.abc import Callable

from slack_bolt import App, BoltContext

from bot.services import Services
from handlers import (
    capture,
    channels,
    errors,
    followups,
    home,
    incident,
    knowledge,
    postmortem,
    reminders,
    timeline,
)
from handlers.middleware import checked_replies, clean_request_text


def provide_services(services: Services) -> Callable[..., None]:
    """A global middleware that hands `services` to every listener through the context."""

    def services_middleware(context: BoltContext, next: Callable[[], None]) -> None:  # noqa: A002
        context["services"] = services
        next()

    return services_middleware


def register(app: App, services: Services) -> None:
    """Register the boundary middleware that runs before anything else of ours (text cleaning,
    checked replies: handlers.middleware; the refusal of unverified requests runs earlier
    still, in bot.app's `before_authorize`), then every listener."""
    app.use(clean_request_text)
    app.use(checked_replies(services.settings.response_url_policy))
    app.use(provide_services(services))
    errors.register(app)
    incident.register(app)
    capture.register(app)
    channels.register(app)
    timeline.register(app)
    followups.register(app)
    home.register(app)
    postmortem.register(app)
    reminders.register(app)
    knowledge.register(app)

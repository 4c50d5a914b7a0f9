"""Slack listeners only: parse the request, call `bot` code, reply."""

from __future__ import annotations

from collections.abc import Callable

from slack_bolt import App

from bot.services import Services
from handlers import capture, errors, followups, home, incident, postmortem, reminders, timeline

SHUTDOWN_FLUSH_SECONDS = 30

Closer = Callable[[], object]


def register(app: App, services: Services) -> list[Closer]:
    """Register every listener; returns what must run when the bot stops (after in-flight
    listeners finish): today, flushing the queue of captured messages to the database."""
    errors.register(app)
    incident.register(app, services)
    writer = capture.register(app, services)
    timeline.register(app, services)
    followups.register(app, services)
    home.register(app, services)
    postmortem.register(app, services)
    reminders.register(app, services)
    return [lambda: writer.flush(timeout=SHUTDOWN_FLUSH_SECONDS)]

"""`/incident`: declare, status, severity, mitigated, resolved, update, components, help."""

from __future__ import annotations

from slack_bolt import App

from bot.incidents import flows
from bot.incidents.commands import (
    USAGE,
    Declare,
    Help,
    SetComponents,
    SetSeverity,
    SetStatus,
    ShowStatus,
    Update,
    parse_incident_command,
)
from bot.incidents.service import NO_INCIDENT_HINT
from handlers.request import Request, listener


def incident_command(request: Request) -> None:
    """Everything is recorded before the ack, which carries the private answer if any."""
    parsed = parse_incident_command(request.payload.get("text", ""))
    if isinstance(parsed, Help):
        request.answer(USAGE)
        return
    services, origin, reply_to = request.services, request.origin, request.response_url
    note: str | None = None
    if isinstance(parsed, Declare):
        flows.declare(
            services, request.client, origin, parsed.title, parsed.severity, reply_to=reply_to
        )
    elif isinstance(parsed, ShowStatus):
        summary = flows.status_summary(services, origin)
        if summary is not None:
            request.answer(*summary)
            return
        note = NO_INCIDENT_HINT
    elif isinstance(parsed, Update | SetComponents):
        trigger = request.trigger_id
        note = flows.update(services, origin, parsed, trigger_id=trigger, reply_to=reply_to)
    else:
        assert isinstance(parsed, SetSeverity | SetStatus)
        note = flows.change(services, origin, parsed, reply_to=reply_to)
    if note:
        request.answer(note)
    else:
        request.ack()


def register(app: App) -> None:
    app.command("/incident")(listener(incident_command))

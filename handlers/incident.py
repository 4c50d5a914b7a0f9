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
    # Parsing is pure and instant: usage and parse errors go back in the ack itself.
    parsed = parse_incident_command(request.payload.get("text", ""))
    if isinstance(parsed, Help):
        request.ack(text=USAGE, response_type="ephemeral")
        return
    request.ack()
    services, client, origin = request.services, request.client, request.origin
    note: str | None
    if isinstance(parsed, Declare):
        note = flows.declare(services, client, origin, parsed.title, parsed.severity)
    elif isinstance(parsed, ShowStatus):
        summary = flows.status_summary(services, origin)
        if summary is not None:
            request.reply(*summary)
            return
        note = NO_INCIDENT_HINT
    elif isinstance(parsed, Update | SetComponents):
        note = flows.update(services, client, origin, parsed)
    else:
        assert isinstance(parsed, SetSeverity | SetStatus)
        note = flows.change(services, client, origin, parsed)
    if note:
        request.reply(note)


def register(app: App) -> None:
    app.command("/incident")(listener(incident_command))

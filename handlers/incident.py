"""`/incident`: declare, status, severity, mitigated, resolved, key times, reopen, update,
components, help; and the *Edit key times* modal."""

from __future__ import annotations

from slack_bolt import App

from bot.core.errors import UserError
from bot.incidents import flows
from bot.incidents.blocks import KEY_TIMES_VIEW_CALLBACK
from bot.incidents.commands import (
    USAGE,
    Declare,
    EditKeyTimes,
    Help,
    Reopen,
    SetComponents,
    SetKeyTime,
    SetSeverity,
    SetStatus,
    ShowStatus,
    Update,
    parse_incident,
    read_key_times_edit,
)
from bot.incidents.service import NO_INCIDENT_HINT
from bot.knowledge import flows as knowledge
from bot.knowledge.commands import (
    ListIncidents,
    ListTags,
    SearchIncidents,
    TagIncident,
    UntagIncident,
)
from handlers.request import Request, listener


def incident_command(request: Request) -> None:
    """Everything is recorded before the ack, which carries the private answer if any."""
    parsed = parse_incident(request.payload.get("text", ""))
    if isinstance(parsed, Help):
        request.answer(USAGE)
        return
    services, client, origin = request.services, request.client, request.origin
    reply_to = request.response_url
    note: str | None = None
    if isinstance(parsed, SearchIncidents):
        request.answer(*knowledge.search(services, client, origin, parsed))
        return
    if isinstance(parsed, ListIncidents):
        request.answer(*knowledge.list_(services, client, origin, parsed))
        return
    if isinstance(parsed, ListTags):
        note = knowledge.show_team_tags(services, client, origin)
    elif isinstance(parsed, TagIncident | UntagIncident):
        note = knowledge.tag(services, client, origin, parsed)
    elif isinstance(parsed, Declare):
        flows.declare(services, client, origin, parsed.title, parsed.severity, reply_to=reply_to)
    elif isinstance(parsed, ShowStatus):
        summary = flows.status_summary(services, origin)
        if summary is not None:
            request.answer(*summary)
            return
        note = NO_INCIDENT_HINT
    elif isinstance(parsed, EditKeyTimes):
        view = flows.key_times_view(services, origin)
        if not request.trigger_id:
            raise UserError("Slack didn't send what opens a form; run `/incident times` again.")
        client.views_open(trigger_id=request.trigger_id, view=view)  # the trigger lasts 3 s
    elif isinstance(parsed, SetKeyTime):
        note = flows.set_key_time_by_command(services, client, origin, parsed)
    elif isinstance(parsed, Reopen):
        flows.reopen(services, origin, reply_to=reply_to)
    elif isinstance(parsed, Update | SetComponents):
        trigger = request.trigger_id
        note = flows.update(services, origin, parsed, trigger_id=trigger, reply_to=reply_to)
    else:
        assert isinstance(parsed, SetSeverity | SetStatus)
        note = flows.change(services, client, origin, parsed, reply_to=reply_to)
    if note:
        request.answer(note)
    else:
        request.ack()


def key_times_submission(request: Request) -> None:
    """The *Edit key times* modal: all fields saved at once, or errors shown next to them
    (nothing saved); after the ack, the person is told privately what changed."""
    view, services = request.payload, request.services
    edit = read_key_times_edit(
        view["state"]["values"], view.get("private_metadata"), now=services.clock()
    )
    saved = flows.save_key_times_from_modal(services, request.origin, edit)
    if isinstance(saved, dict):
        request.ack(response_action="errors", errors=saved)
        return
    request.ack()  # after the commit: once the modal closes, the key times are stored
    request.confirm(saved, channel_id=edit.channel_id)


def register(app: App) -> None:
    app.command("/incident")(listener(incident_command))
    app.view(KEY_TIMES_VIEW_CALLBACK)(listener(key_times_submission))

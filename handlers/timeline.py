"""`/timeline`, the "Add to timeline" shortcut, reaction capture, and list edit/delete."""

from __future__ import annotations

from slack_bolt import App

from bot.timeline import blocks, flows
from bot.timeline.commands import (
    USAGE,
    Help,
    ListEvents,
    LogEvent,
    parse_timeline_command,
    read_event_edit,
)
from handlers.request import Request, listener


def timeline_command(request: Request) -> None:
    parsed = parse_timeline_command(request.payload.get("text", ""))
    if isinstance(parsed, Help):
        request.answer(USAGE)
        return
    if isinstance(parsed, ListEvents):
        request.answer(*flows.timeline_list(request.services, request.origin))
        return
    assert isinstance(parsed, LogEvent)
    flows.log_event(
        request.services,
        request.client,
        request.origin,
        parsed,
        trigger_id=request.trigger_id,
        reply_to=request.response_url,
    )
    request.ack()


def add_to_timeline_shortcut(request: Request) -> None:
    message = request.payload["message"]
    flows.add_from_shortcut(
        request.services, request.origin, message, reply_to=request.response_url
    )
    request.ack()


def timeline_reaction_added(request: Request) -> None:
    flows.reaction(
        request.services,
        team_id=request.team_id,
        event_id=request.body["event_id"],
        event=request.payload,
        added=True,
    )


def timeline_reaction_removed(request: Request) -> None:
    flows.reaction(
        request.services,
        team_id=request.team_id,
        event_id=request.body["event_id"],
        event=request.payload,
        added=False,
    )


def timeline_event_menu(request: Request) -> None:
    verb, _, raw_id = request.payload["selected_option"]["value"].partition(":")
    if verb == "edit":
        trigger = request.body["trigger_id"]
        flows.open_edit(request.services, request.client, request.origin, int(raw_id), trigger)
        request.ack()
        return
    text, message = flows.delete(request.services, request.origin, int(raw_id))
    request.ack()
    request.reply(text, message, replace_original=True)


def timeline_event_edit_submission(request: Request) -> None:
    view, services = request.payload, request.services
    edit = read_event_edit(
        view["state"]["values"], view.get("private_metadata"), now=services.clock()
    )
    saved = flows.save_edit(services, request.origin, edit)
    if isinstance(saved, dict):
        request.ack(response_action="errors", errors=saved)
        return
    request.ack()  # after the commit: once the modal closes, the edit is stored
    if edit.channel_id:
        services.replies.ephemeral(
            request.client,
            channel=edit.channel_id,
            user=request.user_id,
            text=f"Timeline event updated: {saved}",
        )


def register(app: App) -> None:
    app.command("/timeline")(listener(timeline_command))
    app.shortcut("add_to_timeline")(listener(add_to_timeline_shortcut))
    app.event("reaction_added")(listener(timeline_reaction_added))
    app.event("reaction_removed")(listener(timeline_reaction_removed))
    app.action(blocks.EVENT_MENU_ACTION)(listener(timeline_event_menu))
    app.view(blocks.EDIT_VIEW_CALLBACK)(listener(timeline_event_edit_submission))

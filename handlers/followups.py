"""`/followup`, the "Create follow-up" shortcut and modal, and the announcement's controls."""

from __future__ import annotations

import re

from slack_bolt import App

from bot.core.dates import warm_up
from bot.followups import blocks, flows, modal
from bot.followups.commands import (
    USAGE,
    Export,
    Help,
    ListFollowUps,
    MarkDone,
    parse_followup_command,
)
from handlers.request import Request, listener


def followup_command(request: Request) -> None:
    # Parsing is pure and instant: usage and grammar errors go back in the ack itself.
    command = request.payload
    parsed = parse_followup_command(command.get("text", ""))
    if isinstance(parsed, Help):
        request.ack(text=USAGE, response_type="ephemeral")
        return
    request.ack()
    services, client, origin = request.services, request.client, request.origin
    if isinstance(parsed, MarkDone):
        request.reply(flows.mark_done(services, client, origin, parsed.ref))
    elif isinstance(parsed, Export):
        request.reply(flows.export(services, client, origin, parsed))
    elif isinstance(parsed, ListFollowUps):
        request.reply(*flows.list_answer(services, client, origin, parsed.scope))
    else:
        key = f"command:{command['trigger_id']}" if command.get("trigger_id") else None
        flows.create_from_command(services, client, origin, parsed, request_key=key)


def create_followup_shortcut(request: Request) -> None:
    request.ack()
    message, trigger = request.payload.get("message") or {}, request.payload["trigger_id"]
    flows.open_create_modal(request.services, request.client, request.origin, message, trigger)


def create_followup_submission(request: Request) -> None:
    saved = flows.save_from_modal(request.services, request.client, request.origin, request.payload)
    if isinstance(saved, dict):
        request.ack(response_action="errors", errors=saved)
        return
    request.ack()
    if saved is not None:
        flows.announce(request.services, request.client, saved)


def followup_status_button(request: Request) -> None:
    request.ack()
    value = request.payload.get("value", "")
    flows.set_status(request.services, request.client, request.origin, value)


def followup_owner_select(request: Request) -> None:
    request.ack()
    block, owner = request.payload.get("block_id", ""), request.payload.get("selected_user")
    flows.set_owner(request.services, request.client, request.origin, block, owner or None)


def followup_due_picker(request: Request) -> None:
    request.ack()
    block, selected = request.payload.get("block_id", ""), request.payload.get("selected_date")
    flows.set_due_date(request.services, request.client, request.origin, block, selected)


def followup_export_button(request: Request) -> None:
    request.ack()
    value = request.payload.get("value")
    request.reply(flows.export_button(request.services, request.client, request.origin, value))


def register(app: App) -> None:
    warm_up()  # dateparser's first call is slow; pay it before the first request
    app.command("/followup")(listener(followup_command))
    app.shortcut("create_followup")(listener(create_followup_shortcut))
    app.view(modal.MODAL_CALLBACK)(listener(create_followup_submission))
    app.action(re.compile(f"^{blocks.STATUS_ACTION}:"))(listener(followup_status_button))
    app.action(blocks.OWNER_ACTION)(listener(followup_owner_select))
    app.action(blocks.DUE_ACTION)(listener(followup_due_picker))
    app.action(blocks.EXPORT_ACTION)(listener(followup_export_button))

"""`/followup`, the "Create follow-up" shortcut and modal, and the announcement's controls."""

from __future__ import annotations

import re

from slack_bolt import App

from bot.core.dates import warm_up
from bot.followups import blocks, flows, modal
from bot.followups.commands import (
    USAGE,
    Assign,
    ChangeStatus,
    Export,
    Help,
    ListFollowUps,
    MarkDone,
    SetDue,
    parse_followup,
)
from handlers.request import Request, listener


def followup_command(request: Request) -> None:
    """Everything is recorded before the ack, which carries the private answer if any."""
    command = request.payload
    parsed = parse_followup(command.get("text", ""))
    if isinstance(parsed, Help):
        request.answer(USAGE)
        return
    services, client, origin = request.services, request.client, request.origin
    if isinstance(parsed, MarkDone):
        request.answer(flows.mark_done(services, origin, parsed.ref))
    elif isinstance(parsed, ChangeStatus):
        request.answer(flows.change_status_by_command(services, origin, parsed.ref, parsed.status))
    elif isinstance(parsed, Assign):
        request.answer(flows.assign_by_command(services, client, origin, parsed))
    elif isinstance(parsed, SetDue):
        request.answer(flows.set_due_by_command(services, client, origin, parsed))
    elif isinstance(parsed, Export):
        request.answer(flows.export(services, origin, parsed, reply_to=request.response_url))
    elif isinstance(parsed, ListFollowUps):
        request.answer(*flows.list_answer(services, client, origin, parsed.scope))
    else:
        key = f"command:{command['trigger_id']}" if command.get("trigger_id") else None
        flows.create_from_command(services, client, origin, parsed, request_key=key)
        request.ack()


def create_followup_shortcut(request: Request) -> None:
    message, trigger = request.payload.get("message") or {}, request.payload["trigger_id"]
    flows.open_create_modal(request.services, request.client, request.origin, message, trigger)
    request.ack()


def create_followup_submission(request: Request) -> None:
    errors = flows.save_from_modal(
        request.services, request.client, request.origin, request.payload
    )
    if errors:
        request.ack(response_action="errors", errors=errors)
    else:
        request.ack()


def followup_status_button(request: Request) -> None:
    done = flows.set_status(request.services, request.origin, request.payload.get("value", ""))
    request.ack()
    request.confirm(done)


def followup_owner_select(request: Request) -> None:
    block, owner = request.payload.get("block_id", ""), request.payload.get("selected_user")
    done = flows.set_owner(request.services, request.origin, block, owner or None)
    request.ack()
    request.confirm(done)


def followup_due_picker(request: Request) -> None:
    block, selected = request.payload.get("block_id", ""), request.payload.get("selected_date")
    done = flows.set_due_date(request.services, request.client, request.origin, block, selected)
    request.ack()
    request.confirm(done)


def followup_export_button(request: Request) -> None:
    value = request.payload.get("value")
    flows.export_button(request.services, request.origin, value, request.response_url)
    request.ack()


def register(app: App) -> None:
    warm_up()  # dateparser's first call is slow; pay it before the first request
    app.command("/followup")(listener(followup_command))
    app.shortcut("create_followup")(listener(create_followup_shortcut))
    app.view(modal.MODAL_CALLBACK)(listener(create_followup_submission))
    app.action(re.compile(f"^{blocks.STATUS_ACTION}:"))(listener(followup_status_button))
    app.action(blocks.OWNER_ACTION)(listener(followup_owner_select))
    app.action(blocks.DUE_ACTION)(listener(followup_due_picker))
    app.action(blocks.EXPORT_ACTION)(listener(followup_export_button))

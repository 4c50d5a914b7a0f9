"""`/postmortem`: generate, status, owner, attach, remove, show; and the message's buttons."""

from __future__ import annotations

import re

from slack_bolt import App

from bot.postmortem import blocks, flows
from bot.postmortem.commands import (
    USAGE,
    Attach,
    Generate,
    Help,
    Remove,
    SetOwner,
    SetStatus,
    Show,
    parse_postmortem_command,
)
from handlers.request import Request, listener
from storage.models import PostmortemStatus


def postmortem_command(request: Request) -> None:
    """Everything is recorded before the ack, which carries the private answer if any."""
    parsed = parse_postmortem_command(request.payload.get("text", ""))
    if isinstance(parsed, Help):
        request.answer(USAGE)
        return
    services, origin = request.services, request.origin
    if isinstance(parsed, Generate):
        request.answer(
            flows.request_generation(
                services,
                origin,
                template=parsed.template,
                force=parsed.force,
                reply_to=request.response_url,
            )
        )
        return
    if isinstance(parsed, Show):
        request.answer(flows.show(services, origin))
        return
    if isinstance(parsed, Remove):
        request.answer(flows.remove_document(services, origin))
    elif isinstance(parsed, SetStatus):
        request.answer(flows.change_status(services, origin, parsed.status))
    elif isinstance(parsed, SetOwner):
        request.answer(flows.change_owner(services, request.client, origin, parsed.user_id))
    else:
        assert isinstance(parsed, Attach)
        request.answer(flows.attach_document(services, origin, parsed.url))


def postmortem_status_button(request: Request) -> None:
    raw_id, _, status = request.payload["value"].partition(":")
    done = flows.change_status(
        request.services, request.origin, PostmortemStatus(status), postmortem_id=int(raw_id)
    )
    request.ack()
    request.confirm(done)


def postmortem_owner_select(request: Request) -> None:
    action = request.payload
    postmortem_id = int(action.get("block_id", "").removeprefix("postmortem-"))
    done = flows.change_owner(
        request.services,
        request.client,
        request.origin,
        action["selected_user"],
        postmortem_id=postmortem_id,
    )
    request.ack()
    request.confirm(done)


def register(app: App) -> None:
    app.command("/postmortem")(listener(postmortem_command))
    app.action(re.compile(f"^{blocks.STATUS_ACTION}_"))(listener(postmortem_status_button))
    app.action(blocks.OWNER_ACTION)(listener(postmortem_owner_select))

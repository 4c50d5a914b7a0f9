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
    parsed = parse_postmortem_command(request.payload.get("text", ""))
    if isinstance(parsed, Help):
        request.ack(text=USAGE, response_type="ephemeral")
        return
    request.ack()
    services, client, origin = request.services, request.client, request.origin
    if isinstance(parsed, Generate):
        flows.check(services, origin, force=parsed.force)
        request.reply(flows.GENERATING)
        note = flows.generate(
            services, client, origin, template=parsed.template, force=parsed.force
        )
        if note:
            request.reply(note)
    elif isinstance(parsed, SetStatus):
        flows.change_status(services, client, origin, parsed.status)
    elif isinstance(parsed, SetOwner):
        flows.change_owner(services, client, origin, parsed.user_id)
    elif isinstance(parsed, Attach):
        flows.attach_document(services, client, origin, parsed.url)
    elif isinstance(parsed, Show):
        request.reply(flows.show(services, origin))
    else:
        assert isinstance(parsed, Remove)
        request.reply(flows.remove_document(services, client, origin))


def postmortem_status_button(request: Request) -> None:
    request.ack()
    raw_id, _, status = request.payload["value"].partition(":")
    flows.change_status(
        request.services,
        request.client,
        request.origin,
        PostmortemStatus(status),
        postmortem_id=int(raw_id),
    )


def postmortem_owner_select(request: Request) -> None:
    request.ack()
    action = request.payload
    postmortem_id = int(action.get("block_id", "").removeprefix("postmortem-"))
    flows.change_owner(
        request.services,
        request.client,
        request.origin,
        action["selected_user"],
        postmortem_id=postmortem_id,
    )


def register(app: App) -> None:
    app.command("/postmortem")(listener(postmortem_command))
    app.action(re.compile(f"^{blocks.STATUS_ACTION}_"))(listener(postmortem_status_button))
    app.action(blocks.OWNER_ACTION)(listener(postmortem_owner_select))

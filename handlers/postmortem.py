"""`/postmortem`: generate, status, owner, attach, remove, show; and the message's buttons."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_bolt.context.respond import Respond
from slack_sdk import WebClient

from bot.core.errors import UserError
from bot.incidents.service import incident_for_timeline
from bot.postmortem import blocks
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
from bot.postmortem.generate import check_generation, generate_postmortem
from bot.postmortem.service import attach, remove, require_postmortem, set_owner, set_status
from bot.services import Services
from handlers.errors import replies_on_error
from storage.models import Postmortem, PostmortemStatus


def register(app: App, services: Services) -> None:
    db, clock, settings = services.db, services.clock, services.settings

    def refresh_message(client: WebClient, postmortem_id: int) -> None:
        """Post the postmortem's message in the incident channel, or update it in place."""
        with db.session() as session:
            postmortem = session.get_one(Postmortem, postmortem_id)
            incident = postmortem.incident
            text, message = blocks.postmortem_message(incident, postmortem)
            channel, ts = incident.channel_id, postmortem.message_ts
        if ts:
            client.chat_update(channel=channel, ts=ts, text=text, blocks=message)
            return
        posted = client.chat_postMessage(channel=channel, text=text, blocks=message)
        with db.session() as session:
            saved = session.get_one(Postmortem, postmortem_id)
            saved.message_channel_id, saved.message_ts = channel, posted["ts"]

    def announce(client: WebClient, postmortem_id: int, text: str) -> None:
        """A change, told in the thread of the postmortem's message."""
        with db.session() as session:
            postmortem = session.get_one(Postmortem, postmortem_id)
            channel, ts = postmortem.incident.channel_id, postmortem.message_ts
        client.chat_postMessage(channel=channel, thread_ts=ts, text=text)

    def change_status(
        client: WebClient,
        team: str,
        channel: str,
        user: str,
        status: PostmortemStatus,
        postmortem_id: int | None = None,
    ) -> None:
        with db.session() as session:
            if postmortem_id is None:
                incident = incident_for_timeline(session, team, channel)
                postmortem = require_postmortem(session, incident)
            else:
                postmortem = session.get_one(Postmortem, postmortem_id)
                if postmortem.team_id != team:
                    raise UserError("That postmortem belongs to another workspace.")
            previous = set_status(
                session, postmortem, status, by=user, admins=settings.admins, now=clock()
            )
            pid, key = postmortem.id, postmortem.incident.key
        refresh_message(client, pid)
        announce(
            client, pid, f"{key} postmortem: {previous.label} → *{status.label}* (by <@{user}>)"
        )

    def change_owner(
        client: WebClient,
        team: str,
        channel: str,
        user: str,
        owner: str,
        postmortem_id: int | None = None,
    ) -> None:
        with db.session() as session:
            if postmortem_id is None:
                postmortem = require_postmortem(
                    session, incident_for_timeline(session, team, channel)
                )
            else:
                postmortem = session.get_one(Postmortem, postmortem_id)
            set_owner(session, postmortem, owner, by=user, now=clock())
            dm_text = blocks.owner_dm(postmortem.incident, postmortem, by=user)
            pid, key = postmortem.id, postmortem.incident.key
        refresh_message(client, pid)
        announce(client, pid, f"{key} postmortem owner is now <@{owner}> (set by <@{user}>)")
        dm = client.conversations_open(users=owner)["channel"]["id"]
        client.chat_postMessage(channel=dm, text=dm_text)

    def postmortem_command(
        ack: Ack, command: dict[str, Any], client: WebClient, respond: Respond, context: BoltContext
    ) -> None:
        parsed = parse_postmortem_command(command.get("text", ""))
        if isinstance(parsed, Help):
            ack(text=USAGE, response_type="ephemeral")
            return
        ack()
        team, channel, user = context.team_id or "", command["channel_id"], command["user_id"]
        if isinstance(parsed, Generate):
            check_generation(db, team_id=team, channel_id=channel, force=parsed.force)
            respond(
                text="Writing the postmortem: reading the channel, the timeline and the "
                "follow-ups… it will appear here in a moment.",
                response_type="ephemeral",
            )
            result = generate_postmortem(
                db=db,
                client=client,
                settings=settings,
                clock=clock,
                team_id=team,
                channel_id=channel,
                user_id=user,
                template=parsed.template,
                force=parsed.force,
            )
            refresh_message(client, result.postmortem_id)
            if result.published.fallback_reason:
                respond(
                    text=f"Canvases aren't available here (Slack said "
                    f"`{result.published.fallback_reason}`), so I uploaded the postmortem as a "
                    "Markdown file instead.",
                    response_type="ephemeral",
                )
            return
        if isinstance(parsed, SetStatus):
            change_status(client, team, channel, user, parsed.status)
            return
        if isinstance(parsed, SetOwner):
            change_owner(client, team, channel, user, parsed.user_id)
            return
        if isinstance(parsed, Attach):
            with db.session() as session:
                incident = incident_for_timeline(session, team, channel)
                postmortem_id = attach(session, incident, parsed.url, by=user, now=clock()).id
            refresh_message(client, postmortem_id)
            return
        with db.session() as session:
            incident = incident_for_timeline(session, team, channel)
            postmortem = require_postmortem(session, incident)
            if isinstance(parsed, Show):
                respond(text=blocks.summary_line(incident, postmortem), response_type="ephemeral")
                return
            assert isinstance(parsed, Remove)
            url = remove(session, postmortem, by=user, now=clock())
            postmortem_id = postmortem.id
        refresh_message(client, postmortem_id)
        kept = f" The document is untouched: {url}" if url else ""
        respond(
            text=f"Unlinked the postmortem from {incident.key}.{kept} "
            "`/postmortem generate` writes a new one.",
            response_type="ephemeral",
        )

    def postmortem_status_button(
        ack: Ack,
        action: dict[str, Any],
        body: dict[str, Any],
        client: WebClient,
        context: BoltContext,
    ) -> None:
        ack()
        raw_id, _, status = action["value"].partition(":")
        user = body["user"]["id"]
        change_status(
            client,
            context.team_id or "",
            "",
            user,
            PostmortemStatus(status),
            postmortem_id=int(raw_id),
        )

    def postmortem_owner_select(
        ack: Ack,
        action: dict[str, Any],
        body: dict[str, Any],
        client: WebClient,
        context: BoltContext,
    ) -> None:
        ack()
        block_id = action.get("block_id", "")
        postmortem_id = int(block_id.removeprefix("postmortem-"))
        change_owner(
            client,
            context.team_id or "",
            "",
            body["user"]["id"],
            action["selected_user"],
            postmortem_id=postmortem_id,
        )

    app.command("/postmortem")(replies_on_error(postmortem_command))
    app.action(re.compile(f"^{blocks.STATUS_ACTION}_"))(replies_on_error(postmortem_status_button))
    app.action(blocks.OWNER_ACTION)(replies_on_error(postmortem_owner_select))

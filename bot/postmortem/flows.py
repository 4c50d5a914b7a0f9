"""`/postmortem` orchestration: generate, status, owner, attach, remove, show; the postmortem's
message in the incident channel and the notes in its thread (no Bolt). Slack is never called
inside a transaction."""

from __future__ import annotations

from slack_sdk import WebClient

from bot.core.errors import UserError
from bot.incidents.service import incident_for_timeline
from bot.postmortem import blocks
from bot.postmortem.generate import check_generation, generate_postmortem
from bot.postmortem.service import attach, remove, require_postmortem, set_owner, set_status
from bot.services import Services
from bot.slack.origin import Origin
from storage.models import Postmortem, PostmortemStatus

GENERATING = (
    "Writing the postmortem: reading the channel, the timeline and the follow-ups… it will "
    "appear here in a moment."
)


def refresh_message(services: Services, client: WebClient, postmortem_id: int) -> None:
    """Post the postmortem's message in the incident channel, or update it in place."""
    with services.db.session() as session:
        postmortem = session.get_one(Postmortem, postmortem_id)
        incident = postmortem.incident
        text, message = blocks.postmortem_message(incident, postmortem)
        channel, ts = incident.channel_id, postmortem.message_ts
    if ts:
        client.chat_update(channel=channel, ts=ts, text=text, blocks=message)
        return
    posted = client.chat_postMessage(channel=channel, text=text, blocks=message)
    with services.db.session() as session:
        saved = session.get_one(Postmortem, postmortem_id)
        saved.message_channel_id, saved.message_ts = channel, posted["ts"]


def note_in_thread(services: Services, client: WebClient, postmortem_id: int, text: str) -> None:
    """A change, told in the thread of the postmortem's message."""
    with services.db.session() as session:
        postmortem = session.get_one(Postmortem, postmortem_id)
        channel, ts = postmortem.incident.channel_id, postmortem.message_ts
    client.chat_postMessage(channel=channel, thread_ts=ts, text=text)


def check(services: Services, origin: Origin, *, force: bool) -> None:
    """Refuse a generation early (no incident here, Completed without --force)."""
    check_generation(services.db, team_id=origin.team_id, channel_id=origin.channel_id, force=force)


def generate(
    services: Services, client: WebClient, origin: Origin, *, template: str | None, force: bool
) -> str | None:
    """Generate and publish; the private note when it had to fall back to a Markdown file."""
    result = generate_postmortem(
        db=services.db,
        client=client,
        settings=services.settings,
        clock=services.clock,
        team_id=origin.team_id,
        channel_id=origin.channel_id,
        user_id=origin.user_id,
        template=template,
        force=force,
    )
    refresh_message(services, client, result.postmortem_id)
    if result.published.fallback_reason:
        return (
            f"Canvases aren't available here (Slack said `{result.published.fallback_reason}`), "
            "so I uploaded the postmortem as a Markdown file instead."
        )
    return None


def change_status(
    services: Services,
    client: WebClient,
    origin: Origin,
    status: PostmortemStatus,
    postmortem_id: int | None = None,
) -> None:
    """Draft → In Review → Completed, by command (this channel's) or button (`postmortem_id`)."""
    user = origin.user_id
    with services.db.session() as session:
        if postmortem_id is None:
            incident = incident_for_timeline(session, origin.team_id, origin.channel_id)
            postmortem = require_postmortem(session, incident)
        else:
            postmortem = session.get_one(Postmortem, postmortem_id)
            if postmortem.team_id != origin.team_id:
                raise UserError("That postmortem belongs to another workspace.")
        previous = set_status(
            session,
            postmortem,
            status,
            by=user,
            admins=services.settings.admins,
            now=services.clock(),
        )
        pid, key = postmortem.id, postmortem.incident.key
    refresh_message(services, client, pid)
    note_in_thread(
        services,
        client,
        pid,
        f"{key} postmortem: {previous.label} → *{status.label}* (by <@{user}>)",
    )


def change_owner(
    services: Services,
    client: WebClient,
    origin: Origin,
    owner: str,
    postmortem_id: int | None = None,
) -> None:
    """A new owner, by command or the message's picker; the owner gets a DM."""
    user = origin.user_id
    with services.db.session() as session:
        if postmortem_id is None:
            incident = incident_for_timeline(session, origin.team_id, origin.channel_id)
            postmortem = require_postmortem(session, incident)
        else:
            postmortem = session.get_one(Postmortem, postmortem_id)
        set_owner(session, postmortem, owner, by=user, now=services.clock())
        dm_text = blocks.owner_dm(postmortem.incident, postmortem, by=user)
        pid, key = postmortem.id, postmortem.incident.key
    refresh_message(services, client, pid)
    note_in_thread(
        services, client, pid, f"{key} postmortem owner is now <@{owner}> (set by <@{user}>)"
    )
    dm = client.conversations_open(users=owner)["channel"]["id"]
    client.chat_postMessage(channel=dm, text=dm_text)


def attach_document(services: Services, client: WebClient, origin: Origin, url: str) -> None:
    """`/postmortem attach <url>`: link a postmortem written elsewhere."""
    with services.db.session() as session:
        incident = incident_for_timeline(session, origin.team_id, origin.channel_id)
        postmortem_id = attach(session, incident, url, by=origin.user_id, now=services.clock()).id
    refresh_message(services, client, postmortem_id)


def show(services: Services, origin: Origin) -> str:
    """`/postmortem show`: status, owner and link."""
    with services.db.session() as session:
        incident = incident_for_timeline(session, origin.team_id, origin.channel_id)
        postmortem = require_postmortem(session, incident)
        return blocks.summary_line(incident, postmortem)


def remove_document(services: Services, client: WebClient, origin: Origin) -> str:
    """`/postmortem remove`: unlink (the document itself is never deleted); the private answer."""
    with services.db.session() as session:
        incident = incident_for_timeline(session, origin.team_id, origin.channel_id)
        postmortem = require_postmortem(session, incident)
        url = remove(session, postmortem, by=origin.user_id, now=services.clock())
        postmortem_id, key = postmortem.id, incident.key
    refresh_message(services, client, postmortem_id)
    kept = f" The document is untouched: {url}" if url else ""
    return f"Unlinked the postmortem from {key}.{kept} `/postmortem generate` writes a new one."

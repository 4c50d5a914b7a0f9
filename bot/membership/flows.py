"""Channel events that change who may see an incident, each recorded before its ack (write,
then ack), once per Slack event id; and the job that reads a channel's members from Slack
(no Bolt).

What each event does (README, "Security and privacy"):
- `member_joined_channel` / `member_left_channel`: the person is recorded in / out of the
  channel, so a private incident's content follows them (Home, DMs, lists).
- `group_left` / `channel_left` (the bot was removed): the bot can no longer follow who is in
  the channel, so its members are forgotten and its private incidents are shown to nobody
  outside it, until the bot is back (its own `member_joined_channel` reads the members again).
- message subtype `channel_convert_to_private` / `channel_convert_to_public`: every incident
  of the channel becomes private / public, and the members are read again.
- `channel_shared` / `channel_unshared` (Slack Connect): while another organisation is in the
  channel, no other incident's content is written there (its postmortem's Recurrence lists
  none).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.orm import Session

from bot.core import outbox
from bot.core.outbox_worker import JobRun, JobSpec
from bot.membership import service
from bot.services import Services
from bot.slack.event_claims import claim_event
from bot.slack.posting import client_or_fail

log = logging.getLogger("postmortem_bot.membership")

SEED = "membership.seed"
MEMBERS_PAGE = 200  # Slack recommends no more than 200 per page
CONVERSIONS = {"channel_convert_to_private": True, "channel_convert_to_public": False}
JOINED = "member_joined_channel"
LEFT = "member_left_channel"
BOT_REMOVED = frozenset({"group_left", "channel_left"})
SHARING = {"channel_shared": True, "channel_unshared": False}
EVENTS = (JOINED, LEFT, *sorted(BOT_REMOVED), *SHARING)


def enqueue_seed(session: Session, team_id: str, channel_id: str) -> None:
    """Read the channel's members from Slack once this transaction commits."""
    try:
        outbox.enqueue(
            session,
            SEED,
            {"channel": channel_id},
            team_id=team_id,
            ordering_key=f"members:{team_id}:{channel_id}",
            dedupe_key=f"members:{team_id}:{channel_id}",
        )
    except outbox.Busy:
        pass  # a read of this channel is already waiting: it will see the same members


def fetch_members(client: WebClient, channel_id: str) -> list[str]:
    """Every member, page by page (conversations.members' cursor)."""
    members: list[str] = []
    cursor: str | None = None
    while True:
        page = client.conversations_members(channel=channel_id, limit=MEMBERS_PAGE, cursor=cursor)
        members.extend(str(m) for m in page.get("members") or [])
        cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
        if not cursor:
            return members


def members_now(client: WebClient, channel_id: str) -> list[str] | None:
    """The channel's members, read before a declaration's transaction (None: Slack did not
    answer; the outbox job `enqueue_seed` reads them later instead)."""
    try:
        return fetch_members(client, channel_id)
    except SlackApiError as error:
        log.warning(
            "members of %s not read at declare (%s)", channel_id, error.response.get("error")
        )
        return None


def record_members(
    session: Session,
    team_id: str,
    channel_id: str,
    members: list[str] | None,
    *,
    read_at: datetime,
) -> None:
    """In the declaration's transaction: what `members_now` read, or a job to read it."""
    if members is None:
        enqueue_seed(session, team_id, channel_id)
    else:
        service.seed_members(session, team_id, channel_id, members, read_at=read_at)


def run_seed(services: Services, run: JobRun) -> None:
    job = run.job
    channel_id = str(job.payload["channel"])
    client = client_or_fail(services.client_for, job.team_id)
    read_at = services.clock()
    members = fetch_members(client, channel_id)
    with services.db.session() as session:
        service.seed_members(session, job.team_id, channel_id, members, read_at=read_at)
        run.finish_in(session)


def _first_time(session: Session, team_id: str, event_id: str | None, services: Services) -> bool:
    if not event_id:
        return True
    return claim_event(session, team_id=team_id, event_id=event_id, now=services.clock())


def channel_event(
    services: Services,
    *,
    team_id: str,
    event_id: str | None,
    event: dict[str, Any],
    bot_user_id: str | None,
) -> None:
    """One membership or sharing event of an incident channel (other channels: nothing)."""
    kind = str(event.get("type") or "")
    channel_id = str(event.get("channel") or "")
    user_id = str(event.get("user") or "")
    if not channel_id:
        return
    with services.db.session() as session:
        if not services.channels.contains(session, team_id, channel_id):
            return
        if not _first_time(session, team_id, event_id, services):
            return
        if kind == JOINED and user_id:
            service.add_member(session, team_id, channel_id, user_id, now=services.clock())
            if bot_user_id and user_id == bot_user_id:
                enqueue_seed(session, team_id, channel_id)  # back in: who is here now?
        elif kind == LEFT and user_id:
            service.remove_member(session, team_id, channel_id, user_id)
            if bot_user_id and user_id == bot_user_id:
                service.forget_channel(session, team_id, channel_id)
        elif kind in BOT_REMOVED:
            service.forget_channel(session, team_id, channel_id)
        elif kind in SHARING:
            shared = SHARING[kind] or bool(event.get("is_ext_shared"))
            service.set_channel_shared(session, team_id, channel_id, shared)
        log.info("channel event %s in %s recorded", kind, channel_id)


def channel_converted(
    services: Services, *, team_id: str, event_id: str | None, event: dict[str, Any]
) -> None:
    """A channel made private (or public): every incident of it follows."""
    channel_id = str(event.get("channel") or "")
    private = CONVERSIONS[str(event.get("subtype"))]
    with services.db.session() as session:
        if not channel_id or not services.channels.contains(session, team_id, channel_id):
            return
        if not _first_time(session, team_id, event_id, services):
            return
        service.set_channel_private(session, team_id, channel_id, private)
        enqueue_seed(session, team_id, channel_id)
        log.info("channel %s made %s", channel_id, "private" if private else "public")


def jobs(services: Services) -> list[JobSpec]:
    return [JobSpec(SEED, outbox.Lane.FAST, lambda run: run_seed(services, run))]

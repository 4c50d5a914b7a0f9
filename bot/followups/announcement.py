"""A follow-up's message in its incident channel: post it, keep it current, note changes in
its thread. Used by the handlers and by Jira sync (changes made in Jira)."""

from __future__ import annotations

from slack_sdk import WebClient

from bot.followups import blocks
from bot.followups.service import Change, set_announcement
from bot.slack.messages import permalink
from storage.db import Database
from storage.models import FollowUp


def announce(client: WebClient, db: Database, followup: FollowUp, *, jira_enabled: bool) -> None:
    """Post a new follow-up in its incident's channel and remember where (for later updates)."""
    text, message = blocks.announcement(followup, jira_enabled=jira_enabled)
    channel = followup.incident.channel_id
    posted = client.chat_postMessage(channel=channel, text=text, blocks=message)
    link = permalink(client, channel, posted["ts"])
    followup.announcement_channel_id, followup.announcement_ts = channel, posted["ts"]
    followup.announcement_permalink = link
    with db.session() as session:
        set_announcement(session, followup.id, channel_id=channel, ts=posted["ts"], permalink=link)


def refresh(client: WebClient, followup: FollowUp, *, jira_enabled: bool) -> None:
    """Re-render the announcement (new status, owner, due date or Jira link)."""
    if not followup.announcement_ts or not followup.announcement_channel_id:
        return
    text, message = blocks.announcement(followup, jira_enabled=jira_enabled)
    client.chat_update(
        channel=followup.announcement_channel_id,
        ts=followup.announcement_ts,
        text=text,
        blocks=message,
    )


def note(client: WebClient, followup: FollowUp, text: str) -> None:
    """Say something in the announcement's thread (or the incident channel, if none)."""
    channel = followup.announcement_channel_id or followup.incident.channel_id
    client.chat_postMessage(channel=channel, thread_ts=followup.announcement_ts, text=text)


def publish_change(
    client: WebClient, followup: FollowUp, change: Change | None, *, jira_enabled: bool
) -> None:
    """Refresh the announcement and say what changed in its thread."""
    if change is None or not followup.announcement_ts or not followup.announcement_channel_id:
        return
    refresh(client, followup, jira_enabled=jira_enabled)
    note(client, followup, blocks.change_note(followup, change))

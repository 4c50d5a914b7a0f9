"""Looking up one Slack message and its permalink (for the shortcut and reaction capture)."""

from __future__ import annotations

from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import select

from bot.timeline.service import SlackMessage
from storage.captured import message_is
from storage.db import Database
from storage.models import CapturedMessage


def message_ref(channel_id: str, message: dict[str, Any]) -> SlackMessage:
    text = message.get("text") or ""
    if not text and message.get("files"):
        text = "(shared " + ", ".join(f.get("name", "a file") for f in message["files"]) + ")"
    return SlackMessage(
        channel_id=channel_id,
        ts=message["ts"],
        text=text or "(a message with no text)",
        author_id=message.get("user") or message.get("bot_id"),
    )


def find_message(
    db: Database, client: WebClient, *, team_id: str, channel_id: str, ts: str
) -> SlackMessage | None:
    """The message at `ts`: from live capture when we have it, else from Slack.

    A top-level message comes from conversations.history (latest=ts, inclusive, limit=1); a
    thread reply is not in history, so conversations.replies is asked for it.
    """
    with db.session() as session:
        captured = session.scalar(
            select(CapturedMessage).where(*message_is(team_id, channel_id, ts))
        )
    if captured is not None:
        if captured.deleted_at is not None:
            return None
        return SlackMessage(channel_id, ts, captured.text, captured.user_id or captured.bot_id)
    history = client.conversations_history(channel=channel_id, latest=ts, inclusive=True, limit=1)
    for message in history.get("messages") or []:
        if message.get("ts") == ts:
            return message_ref(channel_id, message)
    try:
        replies = client.conversations_replies(channel=channel_id, ts=ts, limit=1)
    except SlackApiError as error:
        if error.response.get("error") == "thread_not_found":
            return None
        raise
    for message in replies.get("messages") or []:
        if message.get("ts") == ts:
            return message_ref(channel_id, message)
    return None


def permalink(client: WebClient, channel_id: str, ts: str) -> str | None:
    """A link to the message, or None when Slack won't give one (never fails the caller)."""
    try:
        link = client.chat_getPermalink(channel=channel_id, message_ts=ts).get("permalink")
    except SlackApiError:
        return None
    return link if isinstance(link, str) else None


def still_reacted(client: WebClient, channel_id: str, ts: str, emoji: str) -> bool:
    """Whether anyone still has `emoji` on the message."""
    try:
        message = client.reactions_get(channel=channel_id, timestamp=ts, full=True)["message"]
    except SlackApiError:
        return False
    return any(
        r.get("name") == emoji and r.get("count", 0) > 0 for r in message.get("reactions") or []
    )

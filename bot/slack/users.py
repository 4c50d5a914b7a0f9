"""Slack users through a database cache of users.info (time zones, display names).

The network call happens outside any transaction: on SQLite a write transaction holds the
database lock, and nobody should wait on Slack for it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.exc import IntegrityError

from bot.core.errors import UserError
from storage.db import Database
from storage.models import SlackUser

CACHE_FOR = timedelta(hours=24)


def get_user(
    db: Database, client: WebClient, *, team_id: str, user_id: str, now: datetime
) -> SlackUser | None:
    """The user's cached profile, refreshed from users.info when older than a day.

    Returns None when Slack does not know the user and nothing is cached; a Slack outage
    falls back to a stale cache entry rather than failing the user's request.
    """
    with db.session() as session:
        cached = session.get(SlackUser, (team_id, user_id))
    if cached is not None and now - cached.fetched_at < CACHE_FOR:
        return cached
    try:
        info = client.users_info(user=user_id)["user"]
    except SlackApiError as error:
        if cached is not None:
            return cached
        if error.response.get("error") in ("user_not_found", "user_not_visible"):
            return None
        raise
    profile = info.get("profile") or {}
    fresh = SlackUser(
        team_id=team_id,
        user_id=user_id,
        name=info.get("name") or user_id,
        real_name=info.get("real_name") or profile.get("real_name") or None,
        tz=info.get("tz") or "UTC",
        is_bot=bool(info.get("is_bot")),
        fetched_at=now,
    )
    try:
        with db.session() as session:
            return session.merge(fresh)
    except IntegrityError:
        # Another request cached the same user between our read and our write: use theirs.
        with db.session() as session:
            return session.get(SlackUser, (team_id, user_id)) or fresh


def user_timezone(
    db: Database, client: WebClient, *, team_id: str, user_id: str, now: datetime
) -> str:
    user = get_user(db, client, team_id=team_id, user_id=user_id, now=now)
    return user.tz if user is not None else "UTC"


def require_user(
    db: Database, client: WebClient, *, team_id: str, user_id: str, now: datetime
) -> SlackUser:
    """The person a command names (a new owner), known to Slack in this workspace; else a
    UserError naming the mention, raised before anything is saved."""
    user = get_user(db, client, team_id=team_id, user_id=user_id, now=now)
    if user is None:
        raise UserError(
            f"I can't find <@{user_id}> (`{user_id}`) in this workspace, so nothing was "
            "changed. Mention someone who is in it: type @ and pick them from the list."
        )
    return user

"""Who may see which incident, for every knowledge surface (list, search, tags, the web view).

All knowledge code asks here and nowhere else, so the rule can be swapped in one place for the
workspace-wide one (`bot.core.visibility`, kept from channel membership events) when it lands:
`incident_visible_to` and `visible_incidents_filter` have its signatures.

Interim rule: a public incident is visible to everyone in its workspace; a private one only to
the members of its channel, as Slack says (`users.conversations` for the person, private
channels only, cached for `MEMBERSHIP_TTL`), and to whoever asks from inside that channel
(a slash command run there proves membership). Slack is asked by `load_memberships`, which a
flow calls before its transaction; the filters then only read the cache.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from slack_sdk import WebClient
from sqlalchemy import ColumnElement, false, or_
from sqlalchemy.orm import Session

from storage.models import Incident

MEMBERSHIP_TTL = 60.0  # seconds: someone removed from a channel stops seeing it within a minute
MAX_PAGES = 20  # 20 x 1000 private channels: beyond that the rest is simply not shown


@dataclass(frozen=True)
class Viewer:
    """The person asking, and the channel they ask from (None: not from a channel, e.g. the
    web view)."""

    team_id: str
    user_id: str
    channel_id: str | None = None


class _Memberships:
    """Private channels each person is in (per Slack), kept briefly; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_user: dict[str, tuple[float, frozenset[str]]] = {}

    def get(self, user_id: str) -> frozenset[str] | None:
        with self._lock:
            entry = self._by_user.get(user_id)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, user_id: str, channels: frozenset[str]) -> None:
        with self._lock:
            if len(self._by_user) > 10_000:
                self._by_user.clear()
            self._by_user[user_id] = (time.monotonic() + MEMBERSHIP_TTL, channels)

    def forget(self) -> None:
        with self._lock:
            self._by_user.clear()


_memberships = _Memberships()


def load_memberships(client: WebClient, viewer: Viewer) -> None:
    """Ask Slack which private channels the viewer shares with the bot (unless cached). Call
    it before opening a transaction. Slack failing leaves the viewer with public incidents
    (and their own channel's) rather than failing the request."""
    if _memberships.get(viewer.user_id) is not None:
        return
    channels: set[str] = set()
    cursor: str | None = None
    try:
        for _ in range(MAX_PAGES):
            page = client.users_conversations(
                user=viewer.user_id,
                types="private_channel",
                exclude_archived=False,  # resolved incidents' channels are often archived
                limit=1000,
                cursor=cursor,
            )
            channels.update(str(c["id"]) for c in page.get("channels") or [])
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                break
    except Exception:  # noqa: BLE001 - an outage narrows what is shown; it never widens it
        return
    _memberships.put(viewer.user_id, frozenset(channels))


def forget_memberships() -> None:
    """Drop the cache (tests, and whoever learns that memberships changed)."""
    _memberships.forget()


def _member_channels(user_id: str) -> frozenset[str]:
    # Keyed by user alone: channel ids are unique across workspaces (and Enterprise Grid).
    return _memberships.get(user_id) or frozenset()


def visible_incidents_filter(user_id: str) -> ColumnElement[bool]:
    """A WHERE clause on `Incident`: public incidents, or private ones whose channel the user
    is in (as last loaded by `load_memberships`)."""
    channels = _member_channels(user_id)
    private_seen = Incident.channel_id.in_(sorted(channels)) if channels else false()
    return or_(Incident.channel_private.is_(False), private_seen)


def incident_visible_to(session: Session, incident: Incident, user_id: str) -> bool:
    """Whether the user may see this incident (same rule as `visible_incidents_filter`)."""
    del session  # the interim rule reads the membership cache, not the database
    if not incident.channel_private:
        return True
    return incident.channel_id in _member_channels(user_id)


def viewer_filter(viewer: Viewer) -> ColumnElement[bool]:
    """What `viewer` may see: the rule above, and the incidents of the channel they ask from
    (asking there shows they are in it)."""
    seen = visible_incidents_filter(viewer.user_id)
    if viewer.channel_id:
        seen = or_(seen, Incident.channel_id == viewer.channel_id)
    return seen


def viewer_may_see(session: Session, incident: Incident, viewer: Viewer) -> bool:
    if viewer.channel_id and incident.channel_id == viewer.channel_id:
        return True
    return incident_visible_to(session, incident, viewer.user_id)

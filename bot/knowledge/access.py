"""Who may see which incident, for every knowledge surface (list, search, tags, the web view).

All knowledge code asks here and nowhere else, so the rule can be swapped in one place for the
workspace-wide one (`bot.core.visibility`, kept from channel membership events) when it lands:
`incident_visible_to` and `visible_incidents_filter` have its signatures.

The rule is `bot.core.visibility` (a public incident is visible to everyone in its workspace, a
private one to the recorded members of its channel, kept from Slack's membership events), and
whoever asks from inside that channel (a slash command run there proves membership). The web
view and the commands also ask Slack (`users.conversations` for the person, private channels only,
cached for `MEMBERSHIP_TTL`, by `load_memberships` before the transaction): when Slack answered,
a private incident is shown only if both agree, so a missed leave event hides it within a minute.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from slack_sdk import WebClient
from sqlalchemy import ColumnElement, and_, false, or_
from sqlalchemy.orm import Session

from bot.core import visibility
from bot.slack.client import InstrumentedWebClient
from storage.models import Incident

log = logging.getLogger("postmortem_bot.knowledge")

MEMBERSHIP_TTL = 60.0  # seconds: someone removed from a channel stops seeing it within a minute
MAX_PAGES = 20  # 20 x 999 private channels: beyond that the rest is simply not shown
LOOKUP_TIMEOUT = 1  # seconds, for the whole of one page: the answer is due within Slack's 3 s


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
        # Keyed by user alone: channel ids are unique across workspaces (and Enterprise Grid).
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


def load_memberships(client: WebClient, viewer: Viewer) -> bool:
    """Ask Slack which private channels the viewer shares with the bot (unless cached); False
    when Slack didn't say. Call it before opening a transaction. It answers within
    `LOOKUP_TIMEOUT` whatever Slack does (no retries: the ack can't wait), and a failure
    leaves the viewer with public incidents (and their own channel's): it narrows what is
    shown, never widens it."""
    if _memberships.get(viewer.user_id) is not None:
        return True
    quick = InstrumentedWebClient(
        token=client.token, base_url=client.base_url, timeout=LOOKUP_TIMEOUT
    )
    channels: set[str] = set()
    cursor: str | None = None
    try:
        for _ in range(MAX_PAGES):
            page = quick.users_conversations(
                user=viewer.user_id,
                types="private_channel",
                exclude_archived=False,  # resolved incidents' channels are often archived
                limit=999,
                cursor=cursor,
            )
            channels.update(str(c["id"]) for c in page.get("channels") or [])
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                break
    except Exception:  # noqa: BLE001 - whatever went wrong, show less, not more
        log.info("users.conversations failed; private incidents left out for %s", viewer.user_id)
        return False
    _memberships.put(viewer.user_id, frozenset(channels))
    return True


def forget_memberships() -> None:
    """Drop the cache (tests, and whoever learns that memberships changed)."""
    _memberships.forget()


def visible_incidents_filter(user_id: str) -> ColumnElement[bool]:
    """A WHERE clause on `Incident`: the workspace-wide rule (bot.core.visibility: public, or a
    recorded member of the private channel), narrowed by what Slack said last about the person
    (`load_memberships`) when it said anything: two sources may only agree to show less."""
    rule = visibility.visible_incidents_filter(user_id)
    confirmed = _memberships.get(user_id)
    if confirmed is None:
        return rule
    in_slack = Incident.channel_id.in_(sorted(confirmed)) if confirmed else false()
    return and_(rule, or_(Incident.channel_private.is_(False), in_slack))


def incident_visible_to(session: Session, incident: Incident, user_id: str) -> bool:
    """Whether the user may see this incident (the same rule as `visible_incidents_filter`)."""
    if not visibility.incident_visible_to(session, incident, user_id):
        return False
    confirmed = _memberships.get(user_id)
    return not incident.channel_private or confirmed is None or incident.channel_id in confirmed


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

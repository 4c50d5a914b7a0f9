"""The fake Slack workspace: users, conversations and their messages.

Every method here expects the caller to hold ``SlackState.lock`` (the HTTP layer and the
``FakeSlack`` façade take it); one re-entrant lock guards all state.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sandbox.slack.base import (
    MICRO,
    ApiError,
    Call,
    Fault,
    JsonDict,
    SlackConfig,
    check_tz,
    format_ts,
    parse_ts,
    ts_key,
    tz_facts,
)
from sandbox.slack.oauth import OAuthApp
from sandbox.slack.ratelimits import RateLimits

MAX_DM_USERS = 8
THREAD_KEYS = (
    "thread_ts", "reply_count", "reply_users_count", "latest_reply", "reply_users", "is_locked",
    "subscribed",
)  # fmt: skip


@dataclass
class Channel:
    id: str
    name: str
    is_private: bool
    created: int
    creator: str
    members: list[str]
    is_im: bool = False
    is_mpim: bool = False
    is_archived: bool = False
    topic: str = ""
    purpose: str = ""
    im_user: str | None = None
    canvas_id: str | None = None
    connected_team_ids: list[str] = field(default_factory=list)  # Slack Connect
    messages: dict[str, JsonDict] = field(default_factory=dict)
    last_ts: Decimal = Decimal(0)


def is_reply(message: JsonDict) -> bool:
    thread_ts = message.get("thread_ts")
    return thread_ts is not None and thread_ts != message["ts"]


def is_top_level(message: JsonDict) -> bool:
    return not is_reply(message) or message.get("subtype") == "thread_broadcast"


class SlackState:
    """All data of one fake workspace plus the calls made against it."""

    def __init__(self, cfg: SlackConfig) -> None:
        self.cfg = cfg
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.base_url = ""
        self.rate_limits: RateLimits | None = None  # Slack's published limits, when enforced
        self.users: dict[str, JsonDict] = {}
        self.channels: dict[str, Channel] = {}
        self.dms: dict[frozenset[str], str] = {}
        self.ephemerals: list[JsonDict] = []
        self.triggers: dict[str, float] = {}
        self.used_triggers: set[str] = set()
        self.views: dict[str, JsonDict] = {}
        self.home_views: dict[str, str] = {}
        self.canvases: dict[str, JsonDict] = {}
        self.deleted_canvases: set[str] = set()  # lookups of these answer canvas_deleted
        self.files: dict[str, JsonDict] = {}
        self.response_ids: set[str] = set()
        self.response_posts: list[tuple[str, JsonDict]] = []
        self.calls: list[Call] = []
        self.faults: dict[str, list[Fault]] = {}
        self.oauth = OAuthApp(home=cfg)  # the app's bot in each workspace it is installed in
        self._seq = itertools.count(1)
        self.add_user(cfg.bot_user_id, cfg.bot_name, real_name=cfg.bot_name, is_bot=True)

    # --- ids and bookkeeping ----------------------------------------------------------------

    def new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._seq):08X}"

    def next_number(self) -> int:
        return next(self._seq)

    def record(self, call: Call) -> None:
        self.calls.append(call)
        self.changed.notify_all()

    def take_fault(self, method: str) -> Fault | None:
        queue = self.faults.get(method)
        if not queue:
            return None
        fault = queue[0]
        fault.remaining -= 1
        if fault.remaining <= 0:
            queue.pop(0)
        return fault

    # --- users -------------------------------------------------------------------------------

    def add_user(
        self,
        user_id: str,
        name: str,
        *,
        real_name: str | None = None,
        tz: str = "UTC",
        email: str | None = None,
        is_bot: bool = False,
    ) -> JsonDict:
        check_tz(tz)
        if user_id in self.users and user_id != self.cfg.bot_user_id:
            raise ValueError(f"user {user_id} already exists")
        self.users[user_id] = {
            "id": user_id,
            "name": name,
            "real_name": real_name if real_name is not None else name,
            "tz": tz,
            "email": email,
            "is_bot": is_bot,
            "updated": int(time.time()),
        }
        return self.user_obj(user_id)

    def require_user(self, user_id: str, error: str = "user_not_found") -> JsonDict:
        if user_id not in self.users:
            raise ApiError(error)
        return self.users[user_id]

    def user_obj(self, user_id: str) -> JsonDict:
        raw = self.require_user(user_id)
        tz_label, tz_offset = tz_facts(raw["tz"])
        image = f"https://avatars.slack-edge.com/{user_id.lower()}_48.png"
        profile: JsonDict = {
            "real_name": raw["real_name"],
            "real_name_normalized": raw["real_name"],
            "display_name": raw["name"],
            "display_name_normalized": raw["name"],
            "team": self.cfg.team_id,
            "image_24": image.replace("_48", "_24"),
            "image_48": image,
            "image_72": image.replace("_48", "_72"),
        }
        if raw["email"] is not None:
            profile["email"] = raw["email"]
        if user_id == self.cfg.bot_user_id:
            profile.update(bot_id=self.cfg.bot_id, api_app_id=self.cfg.app_id)
        return {
            "id": user_id,
            "team_id": self.cfg.team_id,
            "name": raw["name"],
            "deleted": False,
            "color": "9f69e7",
            "real_name": raw["real_name"],
            "tz": raw["tz"],
            "tz_label": tz_label,
            "tz_offset": tz_offset,
            "profile": profile,
            "is_admin": False,
            "is_owner": False,
            "is_primary_owner": False,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": raw["is_bot"],
            "is_app_user": False,
            "updated": raw["updated"],
        }

    # --- conversations -------------------------------------------------------------------------

    def add_channel(
        self,
        name: str,
        *,
        private: bool = False,
        members: list[str],
        bot_is_member: bool = True,
        channel_id: str | None = None,
        archived: bool = False,
        topic: str = "",
        purpose: str = "",
    ) -> Channel:
        name = name.lstrip("#")
        cid = channel_id or self.new_id("C")
        if cid in self.channels:
            raise ValueError(f"channel id {cid} already exists")
        if self.find_channel(name) is not None:
            raise ValueError(f"channel name {name} already exists")
        member_list: list[str] = []
        for user_id in [*members, *([self.cfg.bot_user_id] if bot_is_member else [])]:
            if user_id not in self.users:
                raise ValueError(f"unknown user {user_id}: add_user() it first")
            if user_id not in member_list:
                member_list.append(user_id)
        creator = member_list[0] if member_list else self.cfg.bot_user_id
        channel = Channel(
            id=cid,
            name=name,
            is_private=private,
            created=int(time.time()),
            creator=creator,
            members=member_list,
            is_archived=archived,
            topic=topic,
            purpose=purpose,
        )
        self.channels[cid] = channel
        return channel

    def find_channel(self, ref: str) -> Channel | None:
        if ref in self.channels:
            return self.channels[ref]
        name = ref.lstrip("#")
        for channel in self.channels.values():
            if not channel.is_im and channel.name == name:
                return channel
        return None

    def existing_channel(self, ref: str) -> Channel:
        """A channel for set-up helpers (ValueError rather than an API error)."""
        channel = self.find_channel(ref)
        if channel is None:
            raise ValueError(f"unknown channel {ref}")
        return channel

    def visible_channel(self, ref: str, *, user_ids_open_dm: bool = False) -> Channel:
        """The conversation ``ref`` as the bot sees it (private ones only when a member)."""
        if not ref:
            raise ApiError("channel_not_found")
        if user_ids_open_dm and ref in self.users and ref != self.cfg.bot_user_id:
            return self.open_dm([ref])[0]
        channel = self.find_channel(ref)
        if channel is None:
            raise ApiError("channel_not_found")
        if channel.is_private and self.cfg.bot_user_id not in channel.members:
            raise ApiError("channel_not_found")
        return channel

    def readable_channel(self, ref: str) -> Channel:
        channel = self.visible_channel(ref)
        self.require_member(channel)
        return channel

    def require_member(self, channel: Channel) -> None:
        if self.cfg.bot_user_id not in channel.members:
            raise ApiError("not_in_channel")

    def open_dm(self, user_ids: list[str]) -> tuple[Channel, bool]:
        """The DM (one user) or group DM (several) with the bot; True when it existed."""
        others = sorted({u for u in user_ids if u != self.cfg.bot_user_id})
        if not others:
            raise ApiError("users_list_not_supplied")
        if len(others) > MAX_DM_USERS:
            raise ApiError("too_many_users")
        for user_id in others:
            self.require_user(user_id)
        key = frozenset(others)
        if key in self.dms:
            return self.channels[self.dms[key]], True
        members = [*others, self.cfg.bot_user_id]
        if len(others) == 1:
            channel = Channel(
                id=self.new_id("D"),
                name=others[0],
                is_private=True,
                created=int(time.time()),
                creator=self.cfg.bot_user_id,
                members=members,
                is_im=True,
                im_user=others[0],
            )
        else:
            names = "--".join(self.users[u]["name"] for u in [self.cfg.bot_user_id, *others])
            channel = Channel(
                id=self.new_id("G"),
                name=f"mpdm-{names}-1",
                is_private=True,
                created=int(time.time()),
                creator=self.cfg.bot_user_id,
                members=members,
                is_mpim=True,
            )
        self.channels[channel.id] = channel
        self.dms[key] = channel.id
        return channel, False

    def im_obj(self, channel: Channel) -> JsonDict:
        return {
            "id": channel.id,
            "created": channel.created,
            "is_im": True,
            "is_org_shared": False,
            "user": channel.im_user,
            "is_user_deleted": False,
            "priority": 0,
            "is_open": True,
            "last_read": "0000000000.000000",
            "unread_count": 0,
            "unread_count_display": 0,
        }

    def channel_obj(self, channel: Channel) -> JsonDict:
        if channel.is_im:
            return self.im_obj(channel)
        legacy_group = channel.id.startswith("G") and not channel.is_mpim
        topic_setter = channel.creator if channel.topic else ""
        obj: JsonDict = {
            "id": channel.id,
            "name": channel.name,
            "name_normalized": channel.name,
            "is_channel": not legacy_group and not channel.is_mpim,
            "is_group": legacy_group,
            "is_im": False,
            "is_mpim": channel.is_mpim,
            "is_private": channel.is_private,
            "created": channel.created,
            "is_archived": channel.is_archived,
            "is_general": channel.name == "general",
            "unlinked": 0,
            "is_shared": False,
            "is_org_shared": False,
            "is_ext_shared": bool(channel.connected_team_ids),
            "is_pending_ext_shared": False,
            "pending_shared": [],
            "context_team_id": self.cfg.team_id,
            "shared_team_ids": [self.cfg.team_id, *channel.connected_team_ids],
            "updated": channel.created * 1000,
            "parent_conversation": None,
            "creator": channel.creator,
            "is_member": self.cfg.bot_user_id in channel.members,
            "topic": {"value": channel.topic, "creator": topic_setter, "last_set": 0},
            "purpose": {"value": channel.purpose, "creator": topic_setter, "last_set": 0},
            "previous_names": [],
            "num_members": len(channel.members),
        }
        if channel.canvas_id is not None:
            canvas = self.canvases.get(channel.canvas_id, {})
            document = canvas.get("document")
            obj["properties"] = {
                "canvas": {
                    "file_id": channel.canvas_id,
                    "is_empty": not getattr(document, "sections", None),
                    "quip_thread_id": f"T{channel.canvas_id}",
                }
            }
        return obj

    # --- messages ------------------------------------------------------------------------------

    def next_ts(self, channel: Channel, explicit: str | None = None) -> str:
        if explicit is not None:
            value = parse_ts(explicit)
            if value is None:
                raise ValueError(f"malformed ts {explicit!r}")
            ts = format_ts(value)
            if ts in channel.messages:
                raise ValueError(f"ts {ts} already used in {channel.id}")
        else:
            now = Decimal(f"{time.time():.6f}")
            value = max(now, channel.last_ts + MICRO)
            ts = format_ts(value)
        channel.last_ts = max(channel.last_ts, value)
        return ts

    def store_message(
        self,
        channel: Channel,
        message: JsonDict,
        *,
        ts: str | None = None,
        thread_ts: str | None = None,
        broadcast: bool = False,
    ) -> JsonDict:
        """Store ``message`` (ts assigned); ``thread_ts`` must be a top-level message's ts."""
        message["ts"] = self.next_ts(channel, ts)
        if thread_ts is not None:
            parent = channel.messages[thread_ts]
            message["thread_ts"] = thread_ts
            message["parent_user_id"] = parent.get("user", "")
            if broadcast:
                message["subtype"] = "thread_broadcast"
        channel.messages[message["ts"]] = message
        if thread_ts is not None:
            self.refresh_thread(channel, thread_ts)
        return message

    def thread_parent_ts(self, channel: Channel, ts: str | None) -> str | None:
        """The thread root for a ``thread_ts`` argument (a reply's ts maps to its parent)."""
        if ts is None:
            return None
        message = channel.messages.get(ts)
        if message is None:
            return None
        return str(message["thread_ts"]) if is_reply(message) else ts

    def top_level(self, channel: Channel) -> list[JsonDict]:
        return sorted((m for m in channel.messages.values() if is_top_level(m)), key=ts_key)

    def thread_replies(self, channel: Channel, parent_ts: str) -> list[JsonDict]:
        return sorted(
            (m for m in channel.messages.values() if is_reply(m) and m["thread_ts"] == parent_ts),
            key=ts_key,
        )

    def refresh_thread(self, channel: Channel, parent_ts: str) -> None:
        parent = channel.messages.get(parent_ts)
        if parent is None:
            return
        replies = self.thread_replies(channel, parent_ts)
        if not replies:
            if parent.get("subtype") == "tombstone":
                del channel.messages[parent_ts]
                return
            for key in THREAD_KEYS:
                parent.pop(key, None)
            return
        users: list[str] = []
        for reply in replies:
            author = reply.get("user")
            if isinstance(author, str) and author not in users:
                users.append(author)
        parent.update(
            thread_ts=parent_ts,
            reply_count=len(replies),
            reply_users_count=len(users),
            latest_reply=replies[-1]["ts"],
            reply_users=users,
            is_locked=False,
            subscribed=False,
        )

    def refresh_threads(self, channel: Channel) -> None:
        """refresh_thread for every thread of the channel, in one pass (bulk seeding)."""
        replies: dict[str, list[JsonDict]] = {}
        for message in channel.messages.values():
            if is_reply(message):
                replies.setdefault(str(message["thread_ts"]), []).append(message)
        for parent_ts, thread in replies.items():
            parent = channel.messages.get(parent_ts)
            if parent is None:
                continue
            thread.sort(key=ts_key)
            users = list(dict.fromkeys(str(r["user"]) for r in thread if r.get("user")))
            parent.update(
                thread_ts=parent_ts,
                reply_count=len(thread),
                reply_users_count=len(users),
                latest_reply=thread[-1]["ts"],
                reply_users=users,
                is_locked=False,
                subscribed=False,
            )

    def remove_message(self, channel: Channel, ts: str) -> None:
        message = channel.messages.get(ts)
        if message is None:
            raise ValueError(f"no message {ts} in {channel.id}")
        if is_reply(message):
            del channel.messages[ts]
            self.refresh_thread(channel, str(message["thread_ts"]))
            return
        if self.thread_replies(channel, ts):
            # Slack keeps a tombstone in place of a deleted thread parent.
            channel.messages[ts] = {
                "type": "message",
                "subtype": "tombstone",
                "text": "This message was deleted.",
                "user": "USLACKBOT",
                "hidden": True,
                "ts": ts,
            }
            self.refresh_thread(channel, ts)
            return
        del channel.messages[ts]

    def bot_message(self, **fields: Any) -> JsonDict:
        message: JsonDict = {
            "type": "message",
            "user": self.cfg.bot_user_id,
            "bot_id": self.cfg.bot_id,
            "app_id": self.cfg.app_id,
            "team": self.cfg.team_id,
            "text": "",
            "bot_profile": {
                "id": self.cfg.bot_id,
                "app_id": self.cfg.app_id,
                "name": self.cfg.bot_name,
                "deleted": False,
                "team_id": self.cfg.team_id,
            },
        }
        message.update({k: v for k, v in fields.items() if v is not None})
        return message

    def message_or_error(self, channel: Channel, ts: str | None) -> JsonDict:
        message = channel.messages.get(ts or "")
        if message is None:
            raise ApiError("message_not_found")
        return message

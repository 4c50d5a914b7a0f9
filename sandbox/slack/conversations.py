"""Fake handlers for ``conversations.*`` and ``users.*``."""

from __future__ import annotations

import copy
from decimal import Decimal

from sandbox.slack.base import (
    ApiError,
    Handler,
    JsonDict,
    Params,
    decode_cursor,
    encode_cursor,
    page_limit,
    page_of_ids,
    parse_ts,
    ts_cursor,
    ts_from_cursor,
    ts_key,
)
from sandbox.slack.state import SlackState, is_reply

HISTORY_LIMIT = (100, 999)
REPLIES_LIMIT = (1000, 1000)
MEMBERS_LIMIT = (100, 1000)


class _Window:
    """Slack's ``oldest`` / ``latest`` / ``inclusive`` time window.

    Both bounds are exclusive unless ``inclusive`` is true; ``inclusive`` is ignored when
    neither bound is given. ``oldest`` defaults to 0 and ``latest`` to "now" (unbounded).
    """

    def __init__(self, p: Params) -> None:
        oldest, latest = p.opt("oldest"), p.opt("latest")
        self.oldest = parse_ts(oldest) if oldest is not None else None
        self.latest = parse_ts(latest) if latest is not None else None
        if oldest is not None and self.oldest is None:
            raise ApiError("invalid_ts_oldest")
        if latest is not None and self.latest is None:
            raise ApiError("invalid_ts_latest")
        self.inclusive = p.flag("inclusive") and (oldest is not None or latest is not None)

    def contains(self, message: JsonDict) -> bool:
        ts = ts_key(message)
        if self.oldest is not None and (
            ts < self.oldest or (ts == self.oldest and not self.inclusive)
        ):
            return False
        return not (
            self.latest is not None
            and (ts > self.latest or (ts == self.latest and not self.inclusive))
        )


def _copy(messages: list[JsonDict], p: Params | None = None) -> list[JsonDict]:
    """The messages as a reader gets them: message metadata only with include_all_metadata,
    as Slack does (chat.postMessage's `metadata` is otherwise invisible to readers)."""
    copied = copy.deepcopy(messages)
    if p is None or not p.flag("include_all_metadata"):
        for message in copied:
            message.pop("metadata", None)
    return copied


def _cursor_start(p: Params) -> Decimal | None:
    cursor = p.opt("cursor")
    return ts_from_cursor(cursor) if cursor is not None else None


def conversations_history(st: SlackState, p: Params) -> JsonDict:
    channel = st.readable_channel(p.text("channel"))
    window = _Window(p)
    limit = page_limit(p, default=HISTORY_LIMIT[0], maximum=HISTORY_LIMIT[1])
    start = _cursor_start(p)
    # Newest first; a cursor resumes at the next (older) message.
    messages = [m for m in reversed(st.top_level(channel)) if window.contains(m)]
    if start is not None:
        messages = [m for m in messages if ts_key(m) <= start]
    page, rest = messages[:limit], messages[limit:]
    return {
        "ok": True,
        "messages": _copy(page, p),
        "has_more": bool(rest),
        "pin_count": 0,
        "channel_actions_ts": None,
        "channel_actions_count": 0,
        "response_metadata": {"next_cursor": ts_cursor(rest[0]["ts"]) if rest else ""},
    }


def conversations_replies(st: SlackState, p: Params) -> JsonDict:
    channel = st.readable_channel(p.text("channel"))
    ts = p.required("ts", "thread_not_found")
    message = channel.messages.get(ts)
    if message is None:
        raise ApiError("thread_not_found")
    done: JsonDict = {"ok": True, "has_more": False, "response_metadata": {"next_cursor": ""}}
    if is_reply(message) or "reply_count" not in message:
        # A reply's ts (or an unthreaded message) yields just that message, as Slack does.
        return {**done, "messages": _copy([message], p)}
    window = _Window(p)
    limit = page_limit(p, default=REPLIES_LIMIT[0], maximum=REPLIES_LIMIT[1])
    start = _cursor_start(p)
    thread = [message, *st.thread_replies(channel, ts)]
    thread = [m for m in thread if m is message or window.contains(m)]
    if start is not None:
        thread = [m for m in thread if ts_key(m) >= start]
    page, rest = thread[:limit], thread[limit:]
    if page[:1] != [message]:
        # Slack repeats the thread parent at the top of every page.
        page = [message, *page]
    return {
        **done,
        "messages": _copy(page, p),
        "has_more": bool(rest),
        "response_metadata": {"next_cursor": ts_cursor(rest[0]["ts"]) if rest else ""},
    }


def conversations_info(st: SlackState, p: Params) -> JsonDict:
    channel = st.visible_channel(p.text("channel"))
    return {"ok": True, "channel": st.channel_obj(channel)}


def conversations_members(st: SlackState, p: Params) -> JsonDict:
    channel = st.visible_channel(p.text("channel"))
    limit = page_limit(p, default=MEMBERS_LIMIT[0], maximum=MEMBERS_LIMIT[1])
    page, next_cursor = page_of_ids(list(channel.members), p, limit=limit)
    return {"ok": True, "members": page, "response_metadata": {"next_cursor": next_cursor}}


def conversations_open(st: SlackState, p: Params) -> JsonDict:
    ref = p.opt("channel")
    users = p.ids("users")
    if ref is not None and not users:
        channel = st.find_channel(ref)
        if channel is None or not (channel.is_im or channel.is_mpim):
            raise ApiError("channel_not_found")
        existed = True
    else:
        if not users:
            raise ApiError("users_list_not_supplied")
        channel, existed = st.open_dm(users)
    body: JsonDict = {"ok": True}
    if existed:
        body.update(no_op=True, already_open=True)
    if p.flag("return_im") and channel.is_im:
        body["channel"] = st.im_obj(channel)
    else:
        body["channel"] = {"id": channel.id}
    return body


def conversations_join(st: SlackState, p: Params) -> JsonDict:
    channel = st.find_channel(p.text("channel")) if p.opt("channel") else None
    if channel is None or (channel.is_private and st.cfg.bot_user_id not in channel.members):
        raise ApiError("channel_not_found")
    if channel.is_private:
        raise ApiError("method_not_supported_for_channel_type")
    if channel.is_archived:
        raise ApiError("is_archived")
    bot = st.cfg.bot_user_id
    if bot in channel.members:
        return {
            "ok": True,
            "channel": st.channel_obj(channel),
            "warning": "already_in_channel",
            "response_metadata": {"warnings": ["already_in_channel"]},
        }
    channel.members.append(bot)
    join = {"type": "message", "subtype": "channel_join", "user": bot}
    join["text"] = f"<@{bot}> has joined the channel"
    st.store_message(channel, join)
    return {"ok": True, "channel": st.channel_obj(channel)}


def conversations_list(st: SlackState, p: Params, *, member: str | None = None) -> JsonDict:
    types = set(p.ids("types") or ["public_channel"])
    limit = page_limit(p, default=100, maximum=1000)
    found = []
    for channel in st.channels.values():
        if member is not None and member not in channel.members:
            continue
        kind = (
            "im"
            if channel.is_im
            else "mpim"
            if channel.is_mpim
            else "private_channel"
            if channel.is_private
            else "public_channel"
        )
        if kind not in types or (p.flag("exclude_archived") and channel.is_archived):
            continue
        if channel.is_private and st.cfg.bot_user_id not in channel.members:
            continue
        found.append(st.channel_obj(channel))
    cursor = p.opt("cursor")
    if cursor is not None:
        after = decode_cursor(cursor, "channel")
        ids = [c["id"] for c in found]
        if after not in ids:
            raise ApiError("invalid_cursor")
        found = found[ids.index(after) :]
    page, rest = found[:limit], found[limit:]
    next_cursor = encode_cursor("channel", rest[0]["id"]) if rest else ""
    return {"ok": True, "channels": page, "response_metadata": {"next_cursor": next_cursor}}


def users_conversations(st: SlackState, p: Params) -> JsonDict:
    """The conversations `user` (default: the caller) is in; with a bot token, private ones
    only where the bot is a member too ("Non-public channels are restricted to those where the
    calling user shares membership"). Same paging as conversations.list."""
    user = p.opt("user") or st.cfg.bot_user_id
    st.require_user(user)
    return conversations_list(st, p, member=user)


# --- users ----------------------------------------------------------------------------------


def users_info(st: SlackState, p: Params) -> JsonDict:
    return {"ok": True, "user": st.user_obj(p.required("user", "user_not_found"))}


def users_lookup_by_email(st: SlackState, p: Params) -> JsonDict:
    email = p.required("email", "invalid_email").lower()
    for user_id, raw in st.users.items():
        if isinstance(raw["email"], str) and raw["email"].lower() == email:
            return {"ok": True, "user": st.user_obj(user_id)}
    raise ApiError("users_not_found")


def users_list(st: SlackState, p: Params) -> JsonDict:
    limit = page_limit(p, default=100, maximum=1000)
    page, next_cursor = page_of_ids(list(st.users), p, limit=limit)
    return {
        "ok": True,
        "members": [st.user_obj(u) for u in page],
        "cache_ts": 0,
        "response_metadata": {"next_cursor": next_cursor},
    }


HANDLERS: dict[str, Handler] = {
    "conversations.history": conversations_history,
    "conversations.replies": conversations_replies,
    "conversations.info": conversations_info,
    "conversations.members": conversations_members,
    "conversations.open": conversations_open,
    "conversations.join": conversations_join,
    "conversations.list": conversations_list,
    "users.info": users_info,
    "users.lookupByEmail": users_lookup_by_email,
    "users.list": users_list,
    "users.conversations": users_conversations,
}

"""Fake handlers for ``auth.*``, ``chat.*`` and ``reactions.*``."""

from __future__ import annotations

import copy
import time

from sandbox.slack.base import ApiError, Handler, JsonDict, Params
from sandbox.slack.state import Channel, SlackState, is_reply

MAX_TEXT = 40_000
MAX_BLOCKS = 50


def auth_test(st: SlackState, p: Params) -> JsonDict:
    cfg = st.cfg
    body: JsonDict = {
        "ok": True,
        "url": f"https://{cfg.team_domain}.slack.com/",
        "team": cfg.team_name,
        "user": cfg.bot_name,
        "team_id": cfg.team_id,
        "user_id": cfg.bot_user_id,
        "bot_id": cfg.bot_id,
        "is_enterprise_install": False,
    }
    if cfg.enterprise_id is not None:
        body["enterprise_id"] = cfg.enterprise_id
    return body


def api_test(st: SlackState, p: Params) -> JsonDict:
    args = {k: v for k, v in p.data.items() if k != "token"}
    if "error" in args:
        raise ApiError(str(args["error"]), args=args)
    return {"ok": True, "args": args} if args else {"ok": True}


def _content(p: Params, *, required: bool) -> JsonDict:
    """text / blocks / attachments / metadata of a chat.* call, validated like Slack does."""
    text = p.opt("text")
    blocks = p.obj("blocks")
    attachments = p.obj("attachments")
    if blocks is not None and (not isinstance(blocks, list) or len(blocks) > MAX_BLOCKS):
        raise ApiError("invalid_blocks")
    if blocks is not None and not all(isinstance(b, dict) and "type" in b for b in blocks):
        raise ApiError("invalid_blocks")
    if attachments is not None and not isinstance(attachments, list):
        raise ApiError("invalid_attachments")
    if required and not text and not blocks and not attachments:
        raise ApiError("no_text")
    if text is not None and len(text) > MAX_TEXT:
        raise ApiError("msg_too_long")
    content: JsonDict = {}
    if text is not None or required:
        content["text"] = text or ""
    for key, value in (("blocks", blocks), ("attachments", attachments)):
        if value is not None:
            content[key] = value
    metadata = p.obj("metadata")
    if isinstance(metadata, dict):
        content["metadata"] = metadata
    return content


def _postable(st: SlackState, ref: str) -> Channel:
    channel = st.visible_channel(ref, user_ids_open_dm=True)
    if channel.is_archived:
        raise ApiError("is_archived")
    st.require_member(channel)
    return channel


def _public(message: JsonDict) -> JsonDict:
    return copy.deepcopy(message)


def chat_post_message(st: SlackState, p: Params) -> JsonDict:
    channel = _postable(st, p.text("channel"))
    content = _content(p, required=True)
    parent_ts = st.thread_parent_ts(channel, p.opt("thread_ts"))
    broadcast = parent_ts is not None and p.flag("reply_broadcast")
    message = st.bot_message(**content)
    st.store_message(channel, message, thread_ts=parent_ts, broadcast=broadcast)
    return {"ok": True, "channel": channel.id, "ts": message["ts"], "message": _public(message)}


def chat_post_ephemeral(st: SlackState, p: Params) -> JsonDict:
    channel = _postable(st, p.text("channel"))
    user = p.required("user", "user_not_found")
    st.require_user(user)
    if user not in channel.members:
        raise ApiError("user_not_in_channel")
    content = _content(p, required=True)
    ts = st.next_ts(channel)
    st.ephemerals.append(
        {
            **st.bot_message(**content),
            "ts": ts,
            "channel": channel.id,
            "recipient": user,
            "thread_ts": p.opt("thread_ts"),
        }
    )
    return {"ok": True, "message_ts": ts}


def _own_message(st: SlackState, p: Params, ts_param: str, error: str) -> tuple[Channel, JsonDict]:
    channel = st.visible_channel(p.text("channel"))
    message = st.message_or_error(channel, p.opt(ts_param))
    if message.get("bot_id") != st.cfg.bot_id:
        raise ApiError(error)
    return channel, message


def chat_update(st: SlackState, p: Params) -> JsonDict:
    channel, message = _own_message(st, p, "ts", "cant_update_message")
    if channel.is_archived:
        raise ApiError("is_archived")
    content = _content(p, required=False)
    if not content:
        raise ApiError("no_text")
    for key, value in content.items():
        if key in ("blocks", "attachments") and value == []:
            message.pop(key, None)
        else:
            message[key] = value
    message["edited"] = {"user": st.cfg.bot_user_id, "ts": f"{time.time():.6f}"}
    return {
        "ok": True,
        "channel": channel.id,
        "ts": message["ts"],
        "text": message.get("text", ""),
        "message": _public(message),
    }


def chat_delete(st: SlackState, p: Params) -> JsonDict:
    channel, message = _own_message(st, p, "ts", "cant_delete_message")
    st.remove_message(channel, str(message["ts"]))
    return {"ok": True, "channel": channel.id, "ts": message["ts"]}


def chat_get_permalink(st: SlackState, p: Params) -> JsonDict:
    channel = st.visible_channel(p.text("channel"))
    message = st.message_or_error(channel, p.opt("message_ts"))
    return {"ok": True, "channel": channel.id, "permalink": permalink(st, channel, message)}


def permalink(st: SlackState, channel: Channel, message: JsonDict) -> str:
    """``https://<domain>.slack.com/archives/<C>/p<ts>`` (+ thread_ts & cid for replies)."""
    ts = str(message["ts"])
    link = f"https://{st.cfg.team_domain}.slack.com/archives/{channel.id}/p{ts.replace('.', '')}"
    if is_reply(message):
        link += f"?thread_ts={message['thread_ts']}&cid={channel.id}"
    return link


# --- reactions ------------------------------------------------------------------------------


def react(
    st: SlackState, channel: Channel, message: JsonDict, name: str, user: str, add: bool
) -> None:
    """Add or remove one user's reaction, raising Slack's errors on no-ops."""
    name = name.strip(":")
    if not name:
        raise ApiError("invalid_name")
    reactions: list[JsonDict] = message.setdefault("reactions", [])
    entry = next((r for r in reactions if r["name"] == name), None)
    if add:
        if entry is None:
            entry = {"name": name, "users": [], "count": 0}
            reactions.append(entry)
        if user in entry["users"]:
            raise ApiError("already_reacted")
        entry["users"].append(user)
    else:
        if entry is None or user not in entry["users"]:
            raise ApiError("no_reaction")
        entry["users"].remove(user)
        if not entry["users"]:
            reactions.remove(entry)
    if entry in reactions:
        entry["count"] = len(entry["users"])
    if not reactions:
        del message["reactions"]


def _reaction_target(st: SlackState, p: Params) -> tuple[Channel, JsonDict]:
    channel = st.visible_channel(p.text("channel"))
    if channel.is_archived:
        raise ApiError("is_archived")
    return channel, st.message_or_error(channel, p.opt("timestamp"))


def reactions_add(st: SlackState, p: Params) -> JsonDict:
    channel, message = _reaction_target(st, p)
    react(st, channel, message, p.required("name", "invalid_name"), st.cfg.bot_user_id, True)
    return {"ok": True}


def reactions_remove(st: SlackState, p: Params) -> JsonDict:
    channel, message = _reaction_target(st, p)
    react(st, channel, message, p.required("name", "invalid_name"), st.cfg.bot_user_id, False)
    return {"ok": True}


def reactions_get(st: SlackState, p: Params) -> JsonDict:
    channel, message = _reaction_target(st, p)
    return {"ok": True, "type": "message", "channel": channel.id, "message": _public(message)}


HANDLERS: dict[str, Handler] = {
    "auth.test": auth_test,
    "chat.postMessage": chat_post_message,
    "chat.postEphemeral": chat_post_ephemeral,
    "chat.update": chat_update,
    "chat.delete": chat_delete,
    "chat.getPermalink": chat_get_permalink,
    "reactions.add": reactions_add,
    "reactions.remove": reactions_remove,
    "reactions.get": reactions_get,
}

# Methods Slack answers without a token.
UNAUTHENTICATED: dict[str, Handler] = {"api.test": api_test}

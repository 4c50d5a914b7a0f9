"""Fake handlers for ``views.*`` (modals, App Home) and the canvas methods."""

from __future__ import annotations

import copy
import secrets
import time

from sandbox.slack.base import ApiError, Handler, JsonDict, Params
from sandbox.slack.state import SlackState

CANVAS_OPERATIONS = frozenset(
    {"insert_after", "insert_before", "insert_at_start", "insert_at_end", "replace", "delete"}
)
ACCESS_LEVELS = frozenset({"read", "write", "owner"})

# --- views ----------------------------------------------------------------------------------


def _new_hash() -> str:
    return f"{int(time.time())}.{secrets.token_hex(4)}"


def _view_arg(p: Params, *types: str) -> JsonDict:
    view = p.obj("view")
    if not isinstance(view, dict) or view.get("type") not in types:
        raise ApiError("invalid_arguments", detail=f"view.type must be one of {types}")
    if view["type"] == "modal" and not isinstance(view.get("title"), dict):
        raise ApiError("invalid_arguments", detail="a modal needs a title")
    if not isinstance(view.get("blocks", []), list):
        raise ApiError("invalid_arguments", detail="view.blocks must be a list")
    return view


def _use_trigger(st: SlackState, p: Params) -> None:
    trigger_id = p.required("trigger_id", "invalid_trigger_id")
    if trigger_id in st.used_triggers:
        raise ApiError("exchanged_trigger_id")
    expiry = st.triggers.get(trigger_id)
    if expiry is None:
        raise ApiError("invalid_trigger_id")
    if time.monotonic() > expiry:
        raise ApiError("expired_trigger_id")
    st.used_triggers.add(trigger_id)


def _external_id_taken(st: SlackState, external_id: str, view_id: str | None = None) -> bool:
    return any(v["external_id"] == external_id and vid != view_id for vid, v in st.views.items())


def _build_view(
    st: SlackState,
    view: JsonDict,
    *,
    view_id: str,
    root_view_id: str,
    previous_view_id: str | None,
) -> JsonDict:
    external_id = str(view.get("external_id") or "")
    if external_id and _external_id_taken(st, external_id, view_id):
        raise ApiError("duplicate_external_id")
    built: JsonDict = {
        "id": view_id,
        "team_id": st.cfg.team_id,
        "type": view["type"],
        "blocks": copy.deepcopy(view.get("blocks", [])),
        "private_metadata": view.get("private_metadata", ""),
        "callback_id": view.get("callback_id", ""),
        "state": {"values": {}},
        "hash": _new_hash(),
        "title": copy.deepcopy(view.get("title")),
        "clear_on_close": bool(view.get("clear_on_close", False)),
        "notify_on_close": bool(view.get("notify_on_close", False)),
        "close": copy.deepcopy(view.get("close")),
        "submit": copy.deepcopy(view.get("submit")),
        "previous_view_id": previous_view_id,
        "root_view_id": root_view_id,
        "app_id": st.cfg.app_id,
        "app_installed_team_id": st.cfg.team_id,
        "external_id": external_id,
        "bot_id": st.cfg.bot_id,
    }
    st.views[view_id] = built
    return built


def _view_response(view: JsonDict) -> JsonDict:
    return {"ok": True, "view": copy.deepcopy(view)}


def views_open(st: SlackState, p: Params) -> JsonDict:
    _use_trigger(st, p)
    view = _view_arg(p, "modal")
    view_id = st.new_id("V")
    return _view_response(
        _build_view(st, view, view_id=view_id, root_view_id=view_id, previous_view_id=None)
    )


def views_push(st: SlackState, p: Params) -> JsonDict:
    _use_trigger(st, p)
    view = _view_arg(p, "modal")
    view_id = st.new_id("V")
    return _view_response(
        _build_view(st, view, view_id=view_id, root_view_id=view_id, previous_view_id=None)
    )


def views_update(st: SlackState, p: Params) -> JsonDict:
    view_id, external_id = p.opt("view_id"), p.opt("external_id")
    if view_id is None and external_id is None:
        raise ApiError("invalid_arguments", detail="view_id or external_id is required")
    if view_id is None:
        view_id = next((k for k, v in st.views.items() if v["external_id"] == external_id), None)
    current = st.views.get(view_id or "")
    if view_id is None or current is None:
        raise ApiError("not_found")
    expected = p.opt("hash")
    if expected is not None and expected != current["hash"]:
        raise ApiError("hash_conflict")
    view = _view_arg(p, current["type"])
    if not view.get("external_id") and current["external_id"]:
        view = {**view, "external_id": current["external_id"]}
    return _view_response(
        _build_view(
            st,
            view,
            view_id=view_id,
            root_view_id=current["root_view_id"],
            previous_view_id=current["previous_view_id"],
        )
    )


def views_publish(st: SlackState, p: Params) -> JsonDict:
    user_id = p.required("user_id", "invalid_arguments")
    st.require_user(user_id)
    view = _view_arg(p, "home")
    current_id = st.home_views.get(user_id)
    expected = p.opt("hash")
    if current_id is not None and expected is not None:
        if expected != st.views[current_id]["hash"]:
            raise ApiError("hash_conflict")
    view_id = current_id or st.new_id("V")
    st.home_views[user_id] = view_id
    return _view_response(
        _build_view(st, view, view_id=view_id, root_view_id=view_id, previous_view_id=None)
    )


# --- canvases -------------------------------------------------------------------------------


def _markdown(p: Params, *, required: bool) -> str:
    content = p.obj("document_content")
    if content is None and not required:
        return ""
    if not isinstance(content, dict) or content.get("type") != "markdown":
        raise ApiError("invalid_arguments", detail="document_content.type must be markdown")
    return str(content.get("markdown", ""))


def _new_canvas(st: SlackState, title: str, markdown: str, channel_id: str | None) -> str:
    canvas_id = st.new_id("F")
    st.canvases[canvas_id] = {
        "id": canvas_id,
        "title": title,
        "markdown": markdown,
        "channel_id": channel_id,
        "is_channel_canvas": False,
        "created": int(time.time()),
        "owner": st.cfg.bot_user_id,
        "access": {"channels": {}, "users": {}},
        "edits": [],
    }
    if channel_id is not None:
        st.canvases[canvas_id]["access"]["channels"][channel_id] = "write"
    return canvas_id


def canvases_create(st: SlackState, p: Params) -> JsonDict:
    markdown = _markdown(p, required=False)
    channel_id = p.opt("channel_id")
    if channel_id is not None:
        channel_id = st.visible_channel(channel_id).id
    canvas_id = _new_canvas(st, p.text("title"), markdown, channel_id)
    return {"ok": True, "canvas_id": canvas_id}


def conversations_canvases_create(st: SlackState, p: Params) -> JsonDict:
    channel = st.visible_channel(p.required("channel_id", "channel_not_found"))
    if channel.canvas_id is not None:
        raise ApiError("channel_canvas_already_exists")
    canvas_id = _new_canvas(st, p.text("title"), _markdown(p, required=False), channel.id)
    st.canvases[canvas_id]["is_channel_canvas"] = True
    channel.canvas_id = canvas_id
    return {"ok": True, "canvas_id": canvas_id}


def _canvas(st: SlackState, p: Params) -> JsonDict:
    canvas = st.canvases.get(p.text("canvas_id"))
    if canvas is None:
        raise ApiError("canvas_not_found")
    return canvas


def canvases_edit(st: SlackState, p: Params) -> JsonDict:
    canvas = _canvas(st, p)
    changes = p.obj("changes")
    if not isinstance(changes, list) or len(changes) != 1 or not isinstance(changes[0], dict):
        # Slack currently supports exactly one operation per call.
        raise ApiError("invalid_arguments", detail="changes must hold exactly one operation")
    change = changes[0]
    operation = change.get("operation")
    if operation == "rename":
        title = change.get("title_content")
        if not isinstance(title, dict) or title.get("type") != "markdown":
            raise ApiError("invalid_arguments", detail="rename needs title_content")
        canvas["title"] = str(title.get("markdown", ""))
    elif operation not in CANVAS_OPERATIONS:
        raise ApiError("invalid_arguments", detail=f"unknown operation {operation!r}")
    elif change.get("section_id") is not None or operation in (
        "insert_after",
        "insert_before",
        "delete",
    ):
        # The fake does not model sections, so no section id can ever be valid.
        raise ApiError("canvas_editing_failed", detail="unknown section_id")
    else:
        new = _markdown(Params({"document_content": change.get("document_content")}), required=True)
        old = str(canvas["markdown"])
        if operation == "replace":
            canvas["markdown"] = new
        elif operation == "insert_at_end":
            canvas["markdown"] = f"{old}\n{new}" if old and not old.endswith("\n") else old + new
        else:
            canvas["markdown"] = f"{new}\n{old}" if old and not new.endswith("\n") else new + old
    canvas["edits"].append(copy.deepcopy(change))
    return {"ok": True}


def canvases_delete(st: SlackState, p: Params) -> JsonDict:
    canvas = _canvas(st, p)
    del st.canvases[canvas["id"]]
    for channel in st.channels.values():
        if channel.canvas_id == canvas["id"]:
            channel.canvas_id = None
    return {"ok": True}


def canvases_access_set(st: SlackState, p: Params) -> JsonDict:
    canvas = _canvas(st, p)
    level = p.required("access_level")
    if level not in ACCESS_LEVELS:
        raise ApiError("invalid_arguments", detail="access_level must be read, write or owner")
    channel_ids, user_ids = p.ids("channel_ids"), p.ids("user_ids")
    if bool(channel_ids) == bool(user_ids):
        raise ApiError("invalid_parameters")
    if channel_ids and level == "owner":
        raise ApiError("invalid_arguments", detail="only users can be owners")
    for channel_id in channel_ids:
        canvas["access"]["channels"][st.visible_channel(channel_id).id] = level
    for user_id in user_ids:
        st.require_user(user_id)
        canvas["access"]["users"][user_id] = level
        if level == "owner":
            canvas["owner"] = user_id
    return {"ok": True}


HANDLERS: dict[str, Handler] = {
    "views.open": views_open,
    "views.push": views_push,
    "views.update": views_update,
    "views.publish": views_publish,
    "canvases.create": canvases_create,
    "canvases.edit": canvases_edit,
    "canvases.delete": canvases_delete,
    "canvases.access.set": canvases_access_set,
    "conversations.canvases.create": conversations_canvases_create,
}

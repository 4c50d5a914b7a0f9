"""Fake handlers for ``views.*`` (modals, App Home) and the canvas methods (sections, the
edits Slack documents and their errors: ``sandbox.slack.canvas``)."""

from __future__ import annotations

import copy
import secrets
import time

from sandbox.slack.base import ApiError, Handler, JsonDict, Params
from sandbox.slack.canvas import SECTION_TYPE_CRITERIA, CanvasDocument, to_html
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


# --- canvases (the section model is in sandbox.slack.canvas) -----------------------------------


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
        "document": CanvasDocument(markdown),
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


def _canvas(st: SlackState, p: Params, gone: str = "canvas_not_found") -> JsonDict:
    canvas_id = p.text("canvas_id")
    canvas = st.canvases.get(canvas_id)
    if canvas is None:
        raise ApiError(gone if canvas_id in st.deleted_canvases else "canvas_not_found")
    return canvas


def document_of(canvas: JsonDict) -> CanvasDocument:
    document = canvas["document"]
    assert isinstance(document, CanvasDocument)
    return document


def _schema_error(message: str) -> ApiError:
    """Slack's answer to a request that breaks a method's documented argument schema."""
    return ApiError("invalid_arguments", response_metadata={"messages": [f"[ERROR] {message}"]})


def _change_markdown(change: JsonDict) -> str:
    content = change.get("document_content")
    if not isinstance(content, dict) or content.get("type") != "markdown":
        raise _schema_error("document_content must be {type: markdown, markdown: ...}")
    markdown = content.get("markdown", "")
    if not isinstance(markdown, str):
        raise _schema_error("document_content.markdown must be a string")
    return markdown


# Which fields each documented operation needs (docs.slack.dev, canvases.edit "changes").
_NEEDS_SECTION = frozenset({"insert_after", "insert_before", "delete"})
_NEEDS_CONTENT = frozenset({"insert_after", "insert_before", "insert_at_start", "insert_at_end"})
_NO_SECTION = frozenset({"insert_at_start", "insert_at_end"})


def canvases_edit(st: SlackState, p: Params) -> JsonDict:
    canvas = _canvas(st, p)
    changes = p.obj("changes")
    if not isinstance(changes, list) or len(changes) != 1 or not isinstance(changes[0], dict):
        # "Only one operation per API call is currently supported" (minItems 1, maxItems 1).
        raise _schema_error("changes must hold exactly one operation")
    change = changes[0]
    operation = change.get("operation")
    if operation == "rename":
        title = change.get("title_content")
        if not isinstance(title, dict) or title.get("type") != "markdown":
            raise _schema_error("rename needs title_content {type: markdown, markdown: ...}")
        canvas["title"] = str(title.get("markdown", ""))
        canvas["edits"].append(copy.deepcopy(change))
        return {"ok": True}
    if operation not in CANVAS_OPERATIONS:
        raise _schema_error(f"unknown operation {operation!r}")
    section_id = change.get("section_id")
    if section_id is not None and not isinstance(section_id, str):
        raise _schema_error("section_id must be a string")
    if operation in _NEEDS_SECTION and not section_id:
        raise _schema_error(f"{operation} needs section_id")
    if operation in _NO_SECTION and section_id is not None:
        raise _schema_error(f"{operation} takes no section_id")
    markdown: str | None = None
    if operation in _NEEDS_CONTENT or operation == "replace":
        markdown = _change_markdown(change)
    document_of(canvas).apply(operation, section_id or None, markdown)
    canvas["edits"].append(copy.deepcopy(change))
    return {"ok": True}


def canvases_sections_lookup(st: SlackState, p: Params) -> JsonDict:
    canvas = _canvas(st, p, gone="canvas_deleted")
    criteria = p.obj("criteria")
    if not isinstance(criteria, dict):
        raise _schema_error("criteria must be an object")
    types, text = criteria.get("section_types"), criteria.get("contains_text")
    if types is None and text is None:
        raise _schema_error("criteria needs section_types and/or contains_text")
    if types is not None and (
        not isinstance(types, list)
        or not 1 <= len(types) <= 3
        or any(t not in SECTION_TYPE_CRITERIA for t in types)
    ):
        raise _schema_error("section_types: 1 to 3 of h1, h2, h3, any_header")
    if text is not None and (not isinstance(text, str) or not text):
        raise _schema_error("contains_text must be a non-empty string")
    ids = document_of(canvas).lookup(types, text)
    return {"ok": True, "sections": [{"id": section_id} for section_id in ids]}


def canvases_get_content(st: SlackState, p: Params) -> JsonDict:
    canvas = _canvas(st, p)
    content_type = p.opt("content_type") or "markdown"
    if content_type not in ("markdown", "html"):
        raise _schema_error("content_type must be markdown or html")
    document = document_of(canvas)
    content = document.markdown if content_type == "markdown" else to_html(document.sections)
    return {"ok": True, "content": content}


def canvases_delete(st: SlackState, p: Params) -> JsonDict:
    canvas = _canvas(st, p)
    del st.canvases[canvas["id"]]
    st.deleted_canvases.add(canvas["id"])
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
    "canvases.sections.lookup": canvases_sections_lookup,
    "canvases.getContent": canvases_get_content,
    "canvases.delete": canvases_delete,
    "canvases.access.set": canvases_access_set,
    "conversations.canvases.create": conversations_canvases_create,
}

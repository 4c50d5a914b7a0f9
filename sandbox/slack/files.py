"""Fake handlers for the external file upload flow (``files_upload_v2``) and ``files.*``.

The flow as slack_sdk performs it: ``files.getUploadURLExternal`` (filename, length) →
a raw POST of the bytes to ``upload_url`` (no auth header) → ``files.completeUploadExternal``
(files=[{id, title}], channel_id / channels, initial_comment, thread_ts).
"""

from __future__ import annotations

import copy
import mimetypes
import time

from sandbox.slack.base import ApiError, Handler, JsonDict, Params
from sandbox.slack.state import Channel, SlackState


def _file_obj(st: SlackState, record: JsonDict) -> JsonDict:
    """The file object Slack returns (content and bookkeeping fields left out)."""
    keep = {k: v for k, v in record.items() if k not in ("content", "uploaded", "completed")}
    return copy.deepcopy(keep)


def files_get_upload_url_external(st: SlackState, p: Params) -> JsonDict:
    filename = p.required("filename")
    length = p.number("length", -1)
    if length < 0:
        raise ApiError("invalid_arguments", detail="length is required")
    file_id = st.new_id("F")
    name = filename.rsplit("/", 1)[-1]
    mimetype = mimetypes.guess_type(name)[0] or "text/plain"
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else "text"
    now = int(time.time())
    base = f"https://{st.cfg.team_domain}.slack.com/files/{st.cfg.bot_user_id}/{file_id}/{name}"
    st.files[file_id] = {
        "id": file_id,
        "created": now,
        "timestamp": now,
        "name": name,
        "title": name,
        "mimetype": mimetype,
        "filetype": extension,
        "pretty_type": extension.upper(),
        "user": st.cfg.bot_user_id,
        "user_team": st.cfg.team_id,
        "editable": False,
        "size": length,
        "mode": "hosted",
        "is_external": False,
        "external_type": "",
        "is_public": False,
        "public_url_shared": False,
        "display_as_bot": False,
        "username": "",
        "url_private": f"{st.base_url}/files-pri/{st.cfg.team_id}-{file_id}/{name}",
        "url_private_download": (
            f"{st.base_url}/files-pri/{st.cfg.team_id}-{file_id}/download/{name}"
        ),
        "permalink": base,
        "permalink_public": f"https://slack-files.com/{st.cfg.team_id}-{file_id}-public",
        "comments_count": 0,
        "is_starred": False,
        "shares": {},
        "channels": [],
        "groups": [],
        "ims": [],
        "has_rich_preview": False,
        "file_access": "visible",
        "alt_txt": p.opt("alt_txt"),
        "content": b"",
        "uploaded": False,
        "completed": False,
    }
    upload_url = f"{st.base_url}/upload/{file_id}"
    return {"ok": True, "upload_url": upload_url, "file_id": file_id}


def receive_upload(st: SlackState, file_id: str, data: bytes) -> bool:
    """Store the bytes POSTed to an upload URL; False for an unknown or finished upload."""
    record = st.files.get(file_id)
    if record is None or record["completed"]:
        return False
    record.update(content=data, size=len(data), uploaded=True)
    return True


def _share_targets(st: SlackState, p: Params) -> list[Channel]:
    refs = [*filter(None, [p.opt("channel_id")]), *p.ids("channels")]
    targets: list[Channel] = []
    for ref in refs:
        channel = st.visible_channel(ref, user_ids_open_dm=True)
        if channel.is_archived:
            raise ApiError("is_archived")
        st.require_member(channel)
        if channel not in targets:
            targets.append(channel)
    if p.opt("thread_ts") is not None and len(targets) != 1:
        raise ApiError("invalid_arguments", detail="thread_ts needs exactly one channel")
    return targets


def files_complete_upload_external(st: SlackState, p: Params) -> JsonDict:
    entries = p.obj("files")
    if not isinstance(entries, list) or not entries:
        raise ApiError("invalid_arguments", detail="files must be a non-empty list")
    records: list[JsonDict] = []
    for entry in entries:
        record = st.files.get(str(entry.get("id", ""))) if isinstance(entry, dict) else None
        if record is None or record["completed"]:
            raise ApiError("file_not_found")
        records.append(record)
    targets = _share_targets(st, p)
    for entry, record in zip(entries, records, strict=True):
        if entry.get("title"):
            record["title"] = str(entry["title"])
        record["completed"] = True
    for channel in targets:
        parent_ts = st.thread_parent_ts(channel, p.opt("thread_ts"))
        message = st.bot_message(
            text=p.text("initial_comment"),
            files=[_file_obj(st, r) for r in records],
            upload=True,
            display_as_bot=False,
        )
        st.store_message(channel, message, thread_ts=parent_ts)
        for record in records:
            _add_share(st, record, channel, message)
        message["files"] = [_file_obj(st, r) for r in records]
    return {"ok": True, "files": [_file_obj(st, r) for r in records]}


def _add_share(st: SlackState, record: JsonDict, channel: Channel, message: JsonDict) -> None:
    scope = "private" if channel.is_private else "public"
    share: JsonDict = {
        "reply_users": [],
        "reply_users_count": 0,
        "reply_count": 0,
        "ts": message["ts"],
        "channel_name": channel.name,
        "team_id": st.cfg.team_id,
        "share_user_id": st.cfg.bot_user_id,
        "source": "UNKNOWN",
    }
    if "thread_ts" in message:
        share["thread_ts"] = message["thread_ts"]
    record["shares"].setdefault(scope, {}).setdefault(channel.id, []).append(share)
    bucket = "ims" if channel.is_im else "groups" if channel.is_private else "channels"
    if channel.id not in record[bucket]:
        record[bucket].append(channel.id)
    record["is_public"] = record["is_public"] or not channel.is_private


def files_info(st: SlackState, p: Params) -> JsonDict:
    record = st.files.get(p.text("file"))
    if record is None or not record["completed"]:
        raise ApiError("file_not_found")
    return {
        "ok": True,
        "file": _file_obj(st, record),
        "comments": [],
        "response_metadata": {"next_cursor": ""},
    }


def files_delete(st: SlackState, p: Params) -> JsonDict:
    record = st.files.get(p.text("file"))
    if record is None:
        raise ApiError("file_not_found")
    if record["user"] != st.cfg.bot_user_id:
        raise ApiError("cant_delete_file")
    del st.files[record["id"]]
    return {"ok": True}


HANDLERS: dict[str, Handler] = {
    "files.getUploadURLExternal": files_get_upload_url_external,
    "files.completeUploadExternal": files_complete_upload_external,
    "files.info": files_info,
    "files.delete": files_delete,
}

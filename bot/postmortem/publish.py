"""Publishing a rendered postmortem to the incident channel: a canvas, or a Markdown file.

The canvas is shared with the incident channel only (write access, so the team can fill in
the prompts); for a private incident nobody outside that channel can open it. Where canvases
are refused (free plans, admin policy), the Markdown is uploaded as a file to the same channel.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

log = logging.getLogger("postmortem_bot.publish")

GONE = {"canvas_not_found", "canvas_deleted", "file_not_found", "file_deleted"}


@dataclass(frozen=True)
class Published:
    kind: str  # "canvas" or "file"
    id: str
    url: str | None
    fallback_reason: str | None = None  # why a file was used instead of a canvas


def _document(markdown: str) -> dict[str, str]:
    return {"type": "markdown", "markdown": markdown}


def _canvas_url(client: WebClient, team_id: str, canvas_id: str) -> str | None:
    try:
        base = client.auth_test().get("url")
    except SlackApiError:
        return None
    return f"{base}docs/{team_id}/{canvas_id}" if isinstance(base, str) else None


def _create_canvas(client: WebClient, *, title: str, channel_id: str, markdown: str) -> str:
    canvas_id = str(
        client.canvases_create(title=title, document_content=_document(markdown))["canvas_id"]
    )
    client.canvases_access_set(canvas_id=canvas_id, access_level="write", channel_ids=[channel_id])
    return canvas_id


def _upload_file(
    client: WebClient, *, title: str, filename: str, channel_id: str, markdown: str, reason: str
) -> Published:
    response = client.files_upload_v2(
        channel=channel_id, content=markdown, filename=filename, title=title
    )
    uploaded = response.get("file") or (response.get("files") or [{}])[0]
    return Published("file", str(uploaded.get("id", "")), uploaded.get("permalink"), reason)


def publish(
    client: WebClient,
    *,
    team_id: str,
    channel_id: str,
    title: str,
    filename: str,
    markdown: str,
    canvas_id: str | None,
) -> Published:
    """Edit the existing canvas in place, or create one; fall back to a file upload."""
    if canvas_id:
        try:
            client.canvases_edit(
                canvas_id=canvas_id,
                changes=[{"operation": "replace", "document_content": _document(markdown)}],
            )
            return Published("canvas", canvas_id, _canvas_url(client, team_id, canvas_id))
        except SlackApiError as error:
            if error.response.get("error") not in GONE:
                raise
            log.info("canvas %s is gone; creating a new one", canvas_id)
    try:
        new_id = _create_canvas(client, title=title, channel_id=channel_id, markdown=markdown)
        return Published("canvas", new_id, _canvas_url(client, team_id, new_id))
    except SlackApiError as error:
        reason = str(error.response.get("error", "unknown_error"))
        log.info("canvases unavailable (%s); uploading a Markdown file instead", reason)
    return _upload_file(
        client,
        title=title,
        filename=filename,
        channel_id=channel_id,
        markdown=markdown,
        reason=reason,
    )

"""Publishing a rendered postmortem to the incident channel: a canvas, or a Markdown file.

The canvas is shared with the incident channel only (write access, so the team can fill in
the prompts); for a private incident nobody outside that channel can open it. Only where Slack
refuses canvases for good (free plans, admin policy, a token or scope that can't) is the
Markdown uploaded as a file to the same channel instead. A passing failure (5xx, 429, an edit
lock) is raised, and the generation job retries it with backoff: the outcome does not change
because Slack had a bad minute. A canvas that could not be shared is deleted, never left behind.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

log = logging.getLogger("postmortem_bot.publish")

GONE = {"canvas_not_found", "canvas_deleted", "file_not_found", "file_deleted"}
# Slack's answers that mean canvases can't be used here, however often we ask.
CANVASES_REFUSED = frozenset(
    {
        "access_denied",
        "canvas_creation_failed",
        "canvas_disabled_user_team",
        "ekm_access_denied",
        "enterprise_is_restricted",
        "free_teams_cannot_create_non_tabbed_canvases",
        "free_teams_cannot_create_standalone_canvases",
        "free_teams_cannot_edit_standalone_canvases",
        "missing_scope",
        "no_permission",
        "not_allowed",
        "not_allowed_token_type",
        "restricted_action",
        "team_tier_cannot_create_canvases",
    }
)


def refused_for_good(error: SlackApiError) -> bool:
    """A refusal of canvases themselves (fall back to a file), not a passing failure."""
    status = getattr(error.response, "status_code", 200)
    if status == 429 or status >= 500:
        return False
    return str(error.response.get("error", "")) in CANVASES_REFUSED


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
    """Create the canvas and share it with the channel; if sharing fails, delete it again (an
    unshared canvas would be an orphan nobody can find) and raise what sharing raised."""
    canvas_id = str(
        client.canvases_create(title=title, document_content=_document(markdown))["canvas_id"]
    )
    try:
        client.canvases_access_set(
            canvas_id=canvas_id, access_level="write", channel_ids=[channel_id]
        )
    except SlackApiError:
        try:
            client.canvases_delete(canvas_id=canvas_id)
        except SlackApiError as error:
            log.warning(
                "could not delete unshared canvas %s: %s", canvas_id, error.response.get("error")
            )
        raise
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
        if not refused_for_good(error):
            raise  # a passing failure: the generation job tries again later
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
